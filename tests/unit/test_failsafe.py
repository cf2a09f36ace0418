"""The failsafe (processes/gateway/failsafe.py) on a real OCPP 1.6 session over a scripted charger,
without sockets: the permanent failsafe profile after a boot where there are two stack levels, the
failsafe put in force when BEMCom is out of reach (BEMCom's profiles cleared, the running session
limited at once) and lifted when it is back; and the bridge's side (leases, last limits kept)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

from common.bus import Reply
from common.command_client import CommandClient
from common.settings import FailsafeSettings
from processes.bridge.actuators.facts import LastLimits
from processes.bridge.actuators.runner import ActuatorRunner, Write
from processes.bridge.actuators.table import parse_actuator_key
from processes.gateway import failsafe as failsafe_module
from processes.gateway.failsafe import FAILSAFE_EVENT, FAILSAFE_PROFILE, Failsafe
from processes.gateway.store import Store
from tests.support.onboarding_site import FACTORY, ScriptedCharger, Site, run


class Registry:
    def __init__(self, site: Site) -> None:
        self.sessions = {"CP_1": site.session}


def with_failsafe(site: Site, store: Store, after: float = 0.3) -> Failsafe:
    guard = Failsafe(FailsafeSettings(power=4140.0, after=after), Registry(site), store, site.onboarding)
    site.onboarding.follow_ups.append(guard.after_onboarding)
    return guard


def profiles(charger: ScriptedCharger) -> list[dict[str, Any]]:
    return [payload for action, payload in charger.calls if action == "SetChargingProfile"]


def failsafe_events(site: Site) -> list[bool]:
    return [payload["active"] for kind, payload, _ in site.bus.events if kind == FAILSAFE_EVENT]


async def until(predicate: Any, seconds: float = 5) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - the scripted charger signals nothing else
            await asyncio.sleep(0.01)


def test_a_charger_with_stack_levels_gets_a_permanent_failsafe_profile_after_its_boot() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY)  # ChargeProfileMaxStackLevel 8, amperes only
        async with Site(store, charger) as site:
            with_failsafe(site, store, after=60)
            site.boot()
            await site.outcome()
            await until(lambda: failsafe_events(site))
        [permanent] = profiles(charger)
        profile = permanent["csChargingProfiles"]
        assert permanent["connectorId"] == 0
        assert (profile["chargingProfileId"], profile["stackLevel"]) == (FAILSAFE_PROFILE, 0)
        assert profile["chargingProfilePurpose"] == "TxDefaultProfile" and "validTo" not in profile
        period = profile["chargingSchedule"]["chargingSchedulePeriod"][0]
        assert profile["chargingSchedule"]["chargingRateUnit"] == "A"
        assert period == {"startPeriod": 0, "limit": 6.0, "numberPhases": 3}  # 4140 W / 690 V
        assert failsafe_events(site) == [False]

    run(scenario)


def test_a_single_stack_level_gets_no_permanent_profile() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger({**FACTORY, "ChargeProfileMaxStackLevel": "0"})
        async with Site(store, charger) as site:
            with_failsafe(site, store, after=60)
            site.boot()
            await site.outcome()
            await until(lambda: failsafe_events(site))
        assert profiles(charger) == []

    run(scenario)


def test_out_of_reach_puts_the_failsafe_in_force_and_back_lifts_it(monkeypatch: Any) -> None:
    monkeypatch.setattr(failsafe_module, "CHECK_INTERVAL", 0.05)

    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY)
        transaction = store.start_transaction("CP_1", 2, "TAG", 0, "2026-01-01T00:00:00Z")
        async with Site(store, charger) as site:
            guard = with_failsafe(site, store, after=0.3)
            watching = asyncio.create_task(guard.watch())
            site.boot()
            await site.outcome()
            await until(lambda: True in failsafe_events(site))
            await until(lambda: any(p["csChargingProfiles"].get("transactionId") for p in profiles(charger)))
            guard.alive()
            assert failsafe_events(site)[-1] is False and not guard.active
            watching.cancel()
        cleared = {payload["id"] for action, payload in charger.calls if action == "ClearChargingProfile"}
        assert {1000, 1001, 1002, 2000, 2001, 2002} <= cleared  # BEMCom's limits and schedules
        tx = next(p for p in profiles(charger) if p["csChargingProfiles"].get("transactionId"))
        assert tx["connectorId"] == 2 and tx["csChargingProfiles"]["transactionId"] == transaction
        assert tx["csChargingProfiles"]["chargingProfilePurpose"] == "TxProfile"

    run(scenario)


# -- the bridge's side -----------------------------------------------------------------------


class Gateway:
    def __init__(self, capabilities: dict[str, Any]) -> None:
        self.capabilities = capabilities
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def request(self, command: str, args: dict[str, Any] | None = None, *_: Any, **__: Any) -> Reply:
        args = args or {}
        if command == "charge_point":
            return Reply("f", True, {"capabilities": self.capabilities, "profile": {}, "transactions": []})
        self.calls.append((args["action"], args["payload"]))
        return Reply("1", True, {"status": "Accepted", "payload": {"status": "Accepted"}})


def limit_write(value: Any) -> Write:
    actuator = parse_actuator_key("CP_1__1__execute_send_charging_profile")
    assert actuator is not None
    return Write(actuator, value, 0.0)


def test_limits_are_leases_where_a_failsafe_can_hold_and_plain_where_it_cannot(tmp_path: Path) -> None:
    async def valid_to(capabilities: dict[str, Any]) -> Any:
        gateway = Gateway(capabilities | {"rate_units": ["W"]})
        runner = ActuatorRunner(cast(CommandClient, gateway), 5, 230, 3, lambda *_: None, lease_seconds=300)
        write = limit_write(11000)
        write.queued_at = asyncio.get_running_loop().time()
        await runner.carry_out(write)
        return gateway.calls[0][1]["csChargingProfiles"].get("validTo")

    assert asyncio.run(valid_to({"max_stack_level": 8})) is not None
    assert asyncio.run(valid_to({"max_stack_level": 0})) is None


def test_the_last_limits_are_kept_across_a_restart_and_a_removal_forgets_them(tmp_path: Path) -> None:
    path = tmp_path / "bridge-limits.json"
    kept = LastLimits(path)
    kept.written(limit_write(11000).actuator, 11000)
    again = LastLimits(path)
    assert [(actuator.key, value) for actuator, value in again.of("CP_1")] == [
        ("CP_1__1__execute_send_charging_profile", 11000)
    ]
    again.written(limit_write(None).actuator, None)
    assert LastLimits(path).of("CP_1") == []
    assert json.loads(path.read_text()) == {"CP_1": {}}
