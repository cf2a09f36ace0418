"""Power limits fitted to the charge point (issue 16; docs/datapoints.md): the TxProfile of the
running transaction with the TxDefaultProfile, ChargePointMaxProfile, stack levels within the
charge point's maximum, a pause below the minimum current, schedules with gaps and within the
maximum number of periods, a remote start within the limit, the read-back, W refused -> A, and
``limit_obeyed``. Pure: plans, the runner over a scripted command client, the limit watch."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.messages import Call, _validate_payload

from common.bus import ErrorCode, Event, Reply
from common.command_client import CommandClient
from processes.bridge.actuators.facts import charger_facts, phases_of_rotation
from processes.bridge.actuators.plan import Context, Facts, OcppCall
from processes.bridge.actuators.runner import ActuatorRunner, Write
from processes.bridge.actuators.table import SPECS, ActuatorKey, plan_calls
from processes.bridge.actuators.v16 import (
    EFFECTIVE_LIMIT,
    LIMIT_PROFILE_BASE,
    TX_PROFILE_BASE,
    effective_limit,
    stack_levels,
)
from processes.bridge.limits import LimitWatch

NOW = 1_790_000_000_000
MINUTE = 60_000


def key(kind: str, connector: int | None = 1) -> ActuatorKey:
    if SPECS[kind].level.value == "charge point":
        return ActuatorKey("CP_1", None, kind, f"CP_1__{kind}")
    return ActuatorKey("CP_1", connector, kind, f"CP_1__{connector}__{kind}")


def context(**facts: Any) -> Context:
    unit = facts.pop("rate_unit", "W")
    phases = facts.pop("phases", 3)
    return Context(now_ms=NOW, rate_unit=unit, phases=phases, cp="CP_1", facts=Facts(**facts))


def plan(kind: str, value: Any, connector: int | None = 1, ctx: Context | None = None) -> list[OcppCall]:
    calls = plan_calls(key(kind, connector), value, ctx or context())
    for call in calls:
        _validate_payload(Call(unique_id="1", action=call.action, payload=call.payload), "1.6")
    return calls


def profile(call: OcppCall) -> dict[str, Any]:
    result: dict[str, Any] = call.payload["csChargingProfiles"]
    return result


def limit_of(call: OcppCall) -> float:
    return float(profile(call)["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"])


# -- at once ------------------------------------------------------------------------------


def test_a_limit_during_a_transaction_is_also_its_tx_profile() -> None:
    default, tx = plan("execute_send_charging_profile", 11000, 2, context(transactions=((2, 77), (1, 5))))
    assert profile(default)["chargingProfilePurpose"] == "TxDefaultProfile"
    assert profile(default)["chargingProfileId"] == LIMIT_PROFILE_BASE + 2
    assert tx.payload["connectorId"] == 2
    assert profile(tx) | {"chargingSchedule": None} == {
        "chargingProfileId": TX_PROFILE_BASE + 2,
        "stackLevel": profile(default)["stackLevel"],
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "transactionId": 77,
        "chargingSchedule": None,
    }
    assert limit_of(tx) == limit_of(default) == 11000


def test_a_limit_on_connector_0_binds_every_running_transaction() -> None:
    calls = plan("execute_send_charging_profile", 7000, 0, context(transactions=((1, 5), (2, 77))))
    assert [(call.payload["connectorId"], profile(call).get("transactionId")) for call in calls] == [
        (0, None),
        (1, 5),
        (2, 77),
    ]


def test_removing_a_limit_clears_the_tx_profiles_too() -> None:
    calls = plan("execute_send_charging_profile", None, 1, context(transactions=((1, 5),)))
    assert [call.payload for call in calls] == [{"id": LIMIT_PROFILE_BASE + 1}, {"id": TX_PROFILE_BASE + 1}]


def test_charge_point_max_power_is_a_charge_point_max_profile_on_connector_0() -> None:
    [call] = plan("execute_charge_point_max_power", 22000, None)
    assert call.payload["connectorId"] == 0
    assert profile(call)["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert limit_of(call) == 22000
    assert plan("execute_charge_point_max_power", "", None)[0].action == "ClearChargingProfile"


def test_a_remote_start_carries_the_limit_in_force() -> None:
    [call] = plan("execute_remote_start_transaction", "TAG", 1, context(limits=((0, 7360.0),), rate_unit="A", phases=1))
    charging = call.payload["chargingProfile"]
    assert charging["chargingProfilePurpose"] == "TxProfile" and "transactionId" not in charging
    assert charging["chargingSchedule"]["chargingRateUnit"] == "A"
    assert charging["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 32
    [plain] = plan("execute_remote_start_transaction", "TAG", 1)
    assert "chargingProfile" not in plain.payload


# -- fitted -------------------------------------------------------------------------------


@pytest.mark.parametrize("highest", [0, 1, 2, 3, 8, None])
@pytest.mark.parametrize("connector", [0, 1, 2, 3])
def test_stack_levels_stay_within_the_chargers_maximum(highest: int | None, connector: int) -> None:
    schedule, limit = stack_levels(connector, context(max_stack_level=highest))
    assert 0 <= schedule <= limit
    if highest is not None:
        assert limit <= highest
        assert schedule >= min(1, highest)  # level 0 stays free for a failsafe where there are two
    else:
        assert (schedule, limit) == (2 * connector + 1, 2 * connector + 2)


def test_a_single_phase_amperes_only_charger_gets_32_a_for_7400_w() -> None:
    [call] = plan("execute_send_charging_profile", 7400, 1, context(rate_unit="A", phases=1, max_stack_level=0))
    schedule = profile(call)["chargingSchedule"]
    assert profile(call)["stackLevel"] == 0
    assert schedule["chargingRateUnit"] == "A"
    assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 32.1, "numberPhases": 1}]


def test_below_the_minimum_current_is_a_pause_and_never_more_than_written() -> None:
    [paused] = plan("execute_send_charging_profile", 3000, 1, context(min_current=6))  # 4.3 A per phase
    assert limit_of(paused) == 0
    [amps] = plan("execute_send_charging_profile", 4200, 1, context(min_current=6, rate_unit="A"))
    assert limit_of(amps) == 6 and 6 * 230 * 3 <= 4200 * 1.0 + 0.1 * 230 * 3  # 6.08 A rounds down to 6.0


@given(st.floats(0, 200_000), st.sampled_from(["W", "A"]), st.integers(1, 3), st.floats(0, 16))
def test_a_fitted_limit_never_exceeds_what_was_written(watts: float, unit: str, phases: int, minimum: float) -> None:
    [call] = plan(
        "execute_send_charging_profile", watts, 1, context(rate_unit=unit, phases=phases, min_current=minimum)
    )
    period = profile(call)["chargingSchedule"]["chargingSchedulePeriod"][0]
    sent = period["limit"] * (230 * phases if unit == "A" else 1)
    assert sent <= watts + 1e-6


def test_relative_profiles_for_chargers_that_need_them() -> None:
    [call] = plan("execute_send_charging_profile", 11000, 1, context(profile_kind="Relative"))
    assert profile(call)["chargingProfileKind"] == "Relative"
    assert "startSchedule" not in profile(call)["chargingSchedule"]


# -- schedules ------------------------------------------------------------------------------


def test_a_gap_in_a_schedule_is_a_period_without_limit_and_the_profile_ends_with_the_last_entry() -> None:
    entries = [
        {"from_timestamp": NOW, "to_timestamp": NOW + 10 * MINUTE, "value": 7000},
        {"from_timestamp": NOW + 20 * MINUTE, "to_timestamp": NOW + 30 * MINUTE, "value": 3000},
    ]
    [call] = plan("execute_send_charging_schedule", entries, 1, context(max_current=16))
    schedule = profile(call)["chargingSchedule"]
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 7000},
        {"startPeriod": 600, "limit": 16 * 230 * 3},
        {"startPeriod": 1200, "limit": 3000},
    ]
    assert schedule["duration"] == 1800


def test_a_schedule_longer_than_the_charger_takes_is_cut_and_says_so() -> None:
    entries = [{"from_timestamp": NOW + i * MINUTE, "to_timestamp": None, "value": 1000 * (i + 1)} for i in range(6)]
    [call] = plan("execute_send_charging_schedule", entries, 1, context(max_periods=4))
    schedule = profile(call)["chargingSchedule"]
    assert len(schedule["chargingSchedulePeriod"]) == 4
    assert schedule["duration"] == 240
    assert "cut to its 4 periods" in call.note


def test_equal_neighbouring_periods_are_merged() -> None:
    entries = [{"from_timestamp": NOW + i * MINUTE, "to_timestamp": None, "value": 5000} for i in range(3)]
    [call] = plan("execute_send_charging_schedule", entries, 1)
    assert profile(call)["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 5000}]


# -- read-back -----------------------------------------------------------------------------


def composite(status: str = "Accepted", **schedule: Any) -> Reply:
    payload: dict[str, Any] = {"status": status, "connectorId": 1}
    if schedule:
        payload["chargingSchedule"] = schedule
    return Reply("1", True, {"status": status, "payload": payload})


def test_the_limit_in_force_is_read_from_the_composite_schedule() -> None:
    ctx = context(phases=1)
    start = "2026-09-21T14:10:00Z"  # 200 s before NOW
    periods = [{"startPeriod": 0, "limit": 10}, {"startPeriod": 100, "limit": 32, "numberPhases": 1}]
    reply = composite(startSchedule=start, chargingRateUnit="A", chargingSchedulePeriod=periods)
    assert effective_limit(reply, ctx) == {EFFECTIVE_LIMIT: 7360.0}
    assert effective_limit(composite(), ctx) == {EFFECTIVE_LIMIT: None}  # no schedule: no limit
    ended = composite(startSchedule=start, duration=60, chargingRateUnit="W", chargingSchedulePeriod=periods)
    assert effective_limit(ended, ctx) == {EFFECTIVE_LIMIT: None}
    assert effective_limit(composite("Rejected"), ctx) == {}
    assert effective_limit(Reply.failure("1", ErrorCode.CALL_ERROR, "NotSupported: no"), ctx) == {}


# -- the runner ------------------------------------------------------------------------------


class Gateway:
    """Answers the runner's commands: its facts, then each call from a script."""

    def __init__(self, facts: dict[str, Any], **answers: list[Reply]) -> None:
        self.facts = facts
        self.answers = answers
        self.calls: list[OcppCall] = []

    async def request(self, command: str, args: dict[str, Any] | None = None, *_: Any, **__: Any) -> Reply:
        args = args or {}
        if command == "charge_point":
            return Reply("f", True, self.facts)
        self.calls.append(OcppCall(args["action"], args["payload"]))
        return self.answers[args["action"]].pop(0)


def accepted() -> Reply:
    return Reply("1", True, {"status": "Accepted", "payload": {"status": "Accepted"}})


def rejected() -> Reply:
    return Reply("1", True, {"status": "Rejected", "payload": {"status": "Rejected"}})


class Observer:
    def __init__(self) -> None:
        self.accepted: list[tuple[int, float | None]] = []
        self.read: list[dict[str, Any]] = []
        self.read_back = asyncio.Event()

    def limit_accepted(self, cp: str, connector: int, watts: float | None) -> None:
        self.accepted.append((connector, watts))

    def limit_read_back(self, cp: str, connector: int, values: dict[str, Any]) -> None:
        self.read.append(values)
        self.read_back.set()


def runner_with(gateway: Gateway, observer: Observer | None = None) -> ActuatorRunner:
    return ActuatorRunner(cast(CommandClient, gateway), 5.0, 230.0, 3, lambda *_: None, observer=observer)


def test_watts_refused_by_a_charger_of_unknown_unit_go_once_more_in_amperes_remembered() -> None:
    gateway = Gateway(
        {"capabilities": {}, "profile": {}, "transactions": []},
        GetConfiguration=[Reply.failure("1", ErrorCode.CALL_ERROR, "NotSupported: no")],
        SetChargingProfile=[rejected(), accepted(), accepted()],
    )
    runner = runner_with(gateway)

    async def scenario() -> list[str]:
        first = await runner.carry_out(
            Write(key("execute_send_charging_profile"), 11000, asyncio.get_running_loop().time())
        )
        second = await runner.carry_out(
            Write(key("execute_send_charging_profile"), 9000, asyncio.get_running_loop().time())
        )
        return [first.outcome, second.outcome]

    assert asyncio.run(scenario()) == ["Accepted", "Accepted"]
    units = [
        profile(c)["chargingSchedule"]["chargingRateUnit"] for c in gateway.calls if c.action == "SetChargingProfile"
    ]
    assert units == ["W", "A", "A"]
    assert runner.rate_units == {"CP_1": "A"}


def test_the_charger_profile_and_capabilities_fit_the_limit_and_it_is_read_back() -> None:
    facts = {
        "capabilities": {"rate_units": ["A"], "max_stack_level": 0},
        "profile": {"phases": 1, "voltage": 230},
        "transactions": [[1, 42]],
    }
    schedule = {"startSchedule": "2026-01-01T00:00:00Z", "chargingRateUnit": "A"}
    schedule["chargingSchedulePeriod"] = [{"startPeriod": 0, "limit": 32, "numberPhases": 1}]  # type: ignore[assignment]
    gateway = Gateway(facts, SetChargingProfile=[accepted(), accepted()], GetCompositeSchedule=[composite(**schedule)])
    observer = Observer()
    runner = runner_with(gateway, observer)

    async def scenario() -> None:
        runner.submit(key("execute_send_charging_profile"), 7400)
        await asyncio.wait_for(observer.read_back.wait(), 5)
        await runner.close()

    asyncio.run(scenario())
    default, tx, read = gateway.calls
    assert [profile(c)["stackLevel"] for c in (default, tx)] == [0, 0]
    assert profile(tx)["transactionId"] == 42 and limit_of(tx) == 32.1
    assert read == OcppCall("GetCompositeSchedule", {"connectorId": 1, "duration": 60})
    assert observer.accepted == [(1, 7400.0)]
    assert observer.read == [{EFFECTIVE_LIMIT: 7360.0}]


def test_charger_facts_take_the_profile_over_the_report_and_ignore_garbage() -> None:
    facts = charger_facts(
        {"max_stack_level": 2, "min_current": "6", "max_current": 16, "profile_kind": "Sideways"},
        {"max_stack_level": 1, "max_periods": 24},
        [[1, 5], ["x", 2], [2]],
        {0: 7000.0},
    )
    assert facts == replace(
        Facts(), max_stack_level=1, max_current=16.0, max_periods=24, transactions=((1, 5),), limits=((0, 7000.0),)
    )


# -- limit_obeyed ----------------------------------------------------------------------------


def meter(watts: float, at: str, connector: int = 1) -> Event:
    sampled = [{"value": str(watts), "measurand": "Power.Active.Import", "unit": "W"}]
    payload = {"connector_id": connector, "meter_value": [{"timestamp": at, "sampled_value": sampled}]}
    return Event("r", 1, "CP_1", "MeterValues", NOW, payload, {"connector_id": connector})


def test_limit_obeyed_is_judged_after_the_grace_period_within_the_tolerance() -> None:
    watch = LimitWatch(grace_seconds=60)
    watch.accepted("CP_1", 0, 7000.0, NOW)
    early = meter(9000, "2026-09-21T14:13:50Z")  # 30 s after: still ramping down
    assert watch.judge(early, 1) == []
    obeyed = watch.judge(meter(7000 * 1.05 + 100, "2026-09-21T14:14:30Z"), 1)
    assert [(v.key, v.value) for v in obeyed] == [("CP_1__1__limit_obeyed", True)]
    exceeded = watch.judge(meter(7500, "2026-09-21T14:14:40Z"), 1)
    assert [v.value for v in exceeded] == [False]
    watch.accepted("CP_1", 0, None, NOW)
    assert not watch.watching("CP_1")
    assert watch.judge(meter(50_000, "2026-09-21T14:20:00Z"), 1) == []


def test_a_charger_that_says_its_phase_rotation_is_not_applicable_is_single_phase() -> None:

    assert phases_of_rotation(["0.NotApplicable", "1.NotApplicable"]) == 1
    assert phases_of_rotation(["0.RST", "1.NotApplicable"]) is None
    assert phases_of_rotation([]) is None and phases_of_rotation("RST") is None
    facts = {"capabilities": {"rate_units": ["A"], "phase_rotation": ["1.NotApplicable"]}, "profile": {}}
    gateway = Gateway(facts | {"transactions": []}, SetChargingProfile=[accepted()])
    runner = runner_with(gateway)

    async def scenario() -> None:
        write = Write(key("execute_send_charging_profile"), 7360, asyncio.get_running_loop().time())
        await runner.carry_out(write)

    asyncio.run(scenario())
    period = profile(gateway.calls[0])["chargingSchedule"]["chargingSchedulePeriod"][0]
    assert period == {"startPeriod": 0, "limit": 32, "numberPhases": 1}


def test_connector_0_leaves_the_running_session_of_a_connector_with_its_own_limit_alone() -> None:
    ctx = context(transactions=((1, 5), (2, 77)), limits=((2, 3000.0),))
    calls = plan("execute_send_charging_profile", 7000, 0, ctx)
    assert [(call.payload["connectorId"], profile(call).get("transactionId")) for call in calls] == [(0, None), (1, 5)]
    removal = plan("execute_send_charging_profile", None, 0, ctx)
    assert [call.payload["id"] for call in removal] == [LIMIT_PROFILE_BASE, TX_PROFILE_BASE + 1]
