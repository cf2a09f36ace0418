"""Onboarding (processes/gateway/onboarding.py and v16/onboarding.py) on a real OCPP 1.6 session
over a scripted charger without sockets: what is asked and changed after a boot, what is left
alone, what a refusing charger ends with, and that it never gets in the way of other calls."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from common.bus import ONBOARDED
from processes.gateway.store import Store
from processes.gateway.v16.onboarding import capabilities
from tests.support.onboarding_site import BASE, FACTORY, WANTED, ScriptedCharger, Site, run


def test_a_factory_charger_gets_the_wanted_measurands_and_interval_after_its_boot_answer() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY)
        async with Site(store, charger) as site:
            site.boot()
            [outcome] = await site.outcome()
        assert outcome["status"] == "done"
        assert charger.answers[0][0] == 3  # the BootNotification was answered before any call
        assert [action for action, _ in charger.calls] == [
            "GetConfiguration",
            "ChangeConfiguration",
            "ChangeConfiguration",
        ]
        assert charger.changes() == [("MeterValuesSampledData", ",".join(WANTED)), ("MeterValueSampleInterval", "15")]
        learnt = outcome["capabilities"]
        assert learnt["connectors"] == 2 and learnt["rate_units"] == ["A"] and learnt["max_stack_level"] == 8
        [(_, configuration, _)] = [event for event in site.bus.events if event[0] == "GetConfiguration"]
        assert {entry["key"] for entry in configuration["configuration_key"]} == set(FACTORY)
        [(_, _, ctx)] = [event for event in site.bus.events if event[0] == ONBOARDED]
        assert ctx["connectors"] == [1, 2]

    run(scenario)


def test_a_reboot_sends_nothing_for_keys_already_right() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY)
        async with Site(store, charger) as site:
            site.boot()
            await site.outcome()
            changes = len(charger.changes())
            site.boot()
            second = await site.outcome(2)
        assert second[1]["status"] == "done"
        assert len(charger.changes()) == changes == 2
        assert [action for action, _ in charger.calls].count("GetConfiguration") == 2

    run(scenario)


def test_refused_measurands_end_in_the_largest_accepted_part_and_are_not_asked_again() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY, supported=set(WANTED) - {"SoC", "Voltage"})
        async with Site(store, charger) as site:
            site.boot()
            [first] = await site.outcome()
            assert charger.configuration["MeterValuesSampledData"] == (
                "Energy.Active.Import.Register,Power.Active.Import,Current.Import"
            )
            sent = len(charger.changes())
            site.boot()
            second = await site.outcome(2)
        assert first["status"].startswith("partial: MeterValuesSampledData without Voltage, SoC")
        assert len(charger.changes()) == sent  # the reboot asked nothing again
        assert "refused before" in second[1]["status"]

    run(scenario)


def test_the_list_is_cut_to_the_chargers_maximum_length() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger({**FACTORY, "MeterValuesSampledDataMaxLength": "2"})
        async with Site(store, charger) as site:
            site.boot()
            [outcome] = await site.outcome()
        assert ("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import") in charger.changes()
        assert "takes at most 2" in outcome["status"]

    run(scenario)


def test_reboot_required_is_reported_never_acted_on(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY)
        charger.reboot_required = {"MeterValueSampleInterval"}
        async with Site(store, charger) as site:
            site.boot()
            [outcome] = await site.outcome()
        assert outcome["status"] == "done"
        assert "Reset" not in [action for action, _ in charger.calls]

    run(scenario)
    assert any("RebootRequired" in record.getMessage() for record in caplog.records)


def test_a_refused_interval_is_partial() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY)
        charger.refuse = {"MeterValueSampleInterval"}
        async with Site(store, charger) as site:
            site.boot()
            [outcome] = await site.outcome()
        assert outcome["status"] == "partial: MeterValueSampleInterval 15 Rejected"

    run(scenario)


def test_a_charger_that_never_boots_is_asked_to_then_onboarded_anyway() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY)
        async with Site(store, charger) as site:
            [outcome] = await site.outcome()
        assert [action for action, _ in charger.calls][:2] == ["TriggerMessage", "GetConfiguration"]
        assert charger.calls[0][1] == {"requestedMessage": "BootNotification"}
        assert outcome["status"] == "done"

    run(scenario)


def test_a_charger_that_boots_when_asked_is_onboarded_once() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY)
        charger.boot_on_trigger = True
        async with Site(store, charger) as site:
            await site.outcome()
            await asyncio.sleep(0.5)  # past a second boot wait: nothing more may happen
            assert len(site.outcomes()) == 1
        assert [action for action, _ in charger.calls].count("GetConfiguration") == 1

    run(scenario)


def test_off_in_the_profile_sends_nothing() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY)
        async with Site(store, charger) as site:
            site.profiles.profile = replace(BASE, onboarding=False)
            site.boot()
            [outcome] = await site.outcome()
        assert outcome["status"] == "off"
        assert charger.calls == []

    run(scenario)


def test_an_unanswered_get_configuration_fails_the_pass() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY)
        charger.silent = {"GetConfiguration"}
        async with Site(store, charger) as site:
            site.boot()
            [outcome] = await site.outcome()
        assert outcome["status"].startswith("failed: ") and "GetConfiguration" in outcome["status"]

    run(scenario)


def test_a_command_written_during_onboarding_goes_before_its_next_call() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY, supported={"Energy.Active.Import.Register"})  # a long pass
        async with Site(store, charger) as site:
            site.boot()
            await charger.changing.wait()
            result = await site.session.send_call("ClearCache", {}, timeout=1)
            assert result == {"status": "Accepted"}
            actions = [action for action, _ in charger.calls]
            await site.outcome()
        # sent right after the one onboarding call under way, not after the rest of the pass
        assert actions[-1] == "ClearCache" and actions.count("ChangeConfiguration") <= 2

    run(scenario)


def test_profile_changes_onboard_again() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY)
        async with Site(store, charger) as site:
            site.boot()
            await site.outcome()
            site.profiles.profile = replace(BASE, meter_interval=30)
            site.onboarding.profiles_changed()
            await site.outcome(2)
        assert charger.changes()[-1] == ("MeterValueSampleInterval", "30")

    run(scenario)


def test_capabilities_read_what_the_charger_reports_and_skip_what_it_garbles() -> None:
    learnt = capabilities(
        {
            "NumberOfConnectors": "x",
            "ChargingScheduleAllowedChargingRateUnit": "Current, Power",
            "SupportedFeatureProfiles": "Core,,SmartCharging",
            "ChargeProfileMaxStackLevel": "0",
            "LocalAuthListEnabled": "TRUE",
        }
    )
    assert learnt == {
        "max_stack_level": 0,
        "rate_units": ["A", "W"],
        "feature_profiles": ["Core", "SmartCharging"],
        "local_list_enabled": True,
    }


def test_a_background_call_lets_every_command_waiting_go_first() -> None:
    async def scenario(store: Store) -> None:
        charger = ScriptedCharger(FACTORY)
        charger.silent = {"ClearCache"}
        async with Site(store, charger) as site:
            session = site.session
            first = asyncio.create_task(session.send_call("ClearCache", {}, timeout=0.2))
            await asyncio.sleep(0)
            background = asyncio.create_task(session.send_call("GetConfiguration", {}, 1, background=True))
            await asyncio.sleep(0.05)
            command = asyncio.create_task(session.send_call("Reset", {"type": "Soft"}, timeout=1))
            await asyncio.gather(first, background, command, return_exceptions=True)
        ours = [action for action, _ in charger.calls if action in ("ClearCache", "Reset", "GetConfiguration")]
        assert ours[:3] == ["ClearCache", "Reset", "GetConfiguration"]

    run(scenario)


def test_within_the_maximum_length_a_refused_measurand_makes_room_for_the_next_one() -> None:
    async def scenario(store: Store) -> None:
        configuration = {**FACTORY, "MeterValuesSampledDataMaxLength": "3"}
        charger = ScriptedCharger(configuration, supported=set(WANTED) - {"Current.Import"})
        async with Site(store, charger) as site:
            site.boot()
            [outcome] = await site.outcome()
        assert (
            charger.configuration["MeterValuesSampledData"]
            == "Energy.Active.Import.Register,Power.Active.Import,Voltage"
        )
        assert outcome["status"].startswith("partial: MeterValuesSampledData")

    run(scenario)
