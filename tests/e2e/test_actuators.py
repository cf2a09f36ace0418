"""End to end, actuator side: a value written on a BEMCom actuator topic becomes the right
OCPP call on the right charge point, and its outcome comes back in ``__result``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.harness import Broker, Connector, Observer, wait_until
from tests.support.bemcom import Bemcom
from tests.support.chargepoint import NO_ANSWER, AnswerSpec, SimulatedChargePoint

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Connector]]:
    directory: Path = tmp_path_factory.mktemp("site")
    broker = Broker(directory)
    broker.start()
    connector = Connector(directory, broker.port, OCPP_CALL_TIMEOUT="1.5", CHARGING_VOLTAGE="230", CHARGING_PHASES="3")
    connector.start()
    yield broker, connector
    connector.stop()
    broker.stop()


@pytest.fixture
def bemcom(site: tuple[Broker, Connector]) -> Iterator[Bemcom]:
    broker, connector = site
    observer = Observer(broker.port, connector.name)
    yield Bemcom(observer)
    observer.close()


@pytest.fixture
def url(site: tuple[Broker, Connector]) -> str:
    return site[1].url


async def in_thread(function: Any, *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


def test_power_limit_becomes_a_charging_profile_and_reports_accepted(bemcom: Bemcom, url: str) -> None:
    async def scenario() -> None:
        async with SimulatedChargePoint(url, "CP_LIMIT") as cp:
            await cp.boot()
            await cp.status(1)
            await in_thread(
                bemcom.observer.wait_for,
                "available_datapoints",
                lambda p: "CP_LIMIT__1__execute_send_charging_profile" in p["actuator"],
            )
            key = "CP_LIMIT__1__execute_send_charging_profile"
            bemcom.map(key)
            started = time.monotonic()
            assert await in_thread(bemcom.write, key, 11000) == "Accepted"
            assert time.monotonic() - started < 1.0
            [profile] = await cp.wait_for_call("SetChargingProfile")
            assert profile["connectorId"] == 1
            cs = profile["csChargingProfiles"]
            assert cs["chargingProfilePurpose"] == "TxDefaultProfile" and cs["chargingProfileKind"] == "Absolute"
            assert cs["chargingSchedule"]["chargingRateUnit"] == "W"
            assert cs["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 11000}]
            # A second limit replaces the first: same profile id and stack level.
            assert await in_thread(bemcom.write, key, "7400.25") == "Accepted"
            _, second = await cp.wait_for_call("SetChargingProfile", count=2)
            assert second["csChargingProfiles"]["chargingProfileId"] == cs["chargingProfileId"]
            assert second["csChargingProfiles"]["stackLevel"] == cs["stackLevel"]
            assert second["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 7400.2
            # null removes the limit.
            assert await in_thread(bemcom.write, key, None) == "Accepted"
            [clear] = await cp.wait_for_call("ClearChargingProfile")
            assert clear == {"id": cs["chargingProfileId"]}

    asyncio.run(scenario())


def test_watts_become_amperes_where_the_charge_point_takes_only_current(bemcom: Bemcom, url: str) -> None:
    answers: dict[str, AnswerSpec] = {
        "GetConfiguration": {
            "configurationKey": [
                {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": "Current"}
            ]
        }
    }

    async def scenario() -> None:
        async with SimulatedChargePoint(url, "CP_AMPS", answers=answers) as cp:
            await cp.boot()
            key = "CP_AMPS__0__execute_send_charging_profile"
            await in_thread(bemcom.observer.wait_for, "available_datapoints", lambda p: key in p["actuator"])
            bemcom.map(key)
            assert await in_thread(bemcom.write, key, 11000) == "Accepted"
            [profile] = await cp.wait_for_call("SetChargingProfile")
            schedule = profile["csChargingProfiles"]["chargingSchedule"]
            assert profile["connectorId"] == 0
            assert schedule["chargingRateUnit"] == "A"
            assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 15.9, "numberPhases": 3}]

    asyncio.run(scenario())


def test_a_schedule_with_several_periods_becomes_an_absolute_profile(bemcom: Bemcom, url: str) -> None:
    async def scenario() -> None:
        async with SimulatedChargePoint(url, "CP_PLAN") as cp:
            await cp.boot()
            await cp.status(2)
            key = "CP_PLAN__2__execute_send_charging_schedule"
            await in_thread(bemcom.observer.wait_for, "available_datapoints", lambda p: key in p["actuator"])
            bemcom.map(key)
            start = 1893456000000  # 2030-01-01T00:00:00Z
            plan = [
                {"from_timestamp": start + 3600_000, "to_timestamp": start + 7200_000, "value": 4000},
                {"from_timestamp": start, "to_timestamp": start + 3600_000, "value": 11000},
                {"from_timestamp": start + 7200_000, "to_timestamp": start + 9000_000, "value": 0},
            ]
            assert await in_thread(bemcom.write, key, plan) == "Accepted"
            [profile] = await cp.wait_for_call("SetChargingProfile")
            schedule = profile["csChargingProfiles"]["chargingSchedule"]
            assert profile["connectorId"] == 2
            assert schedule["startSchedule"] == "2030-01-01T00:00:00Z"
            assert schedule["duration"] == 9000
            assert schedule["chargingSchedulePeriod"] == [
                {"startPeriod": 0, "limit": 11000},
                {"startPeriod": 3600, "limit": 4000},
                {"startPeriod": 7200, "limit": 0},
            ]
            assert (await in_thread(bemcom.write, key, [{"value": "x"}])).startswith("InvalidValue: ")

    asyncio.run(scenario())


def test_trigger_message_accepts_numbers_numeric_strings_and_names(bemcom: Bemcom, url: str) -> None:
    async def scenario() -> None:
        async with SimulatedChargePoint(url, "CP_TRIG") as cp:
            await cp.boot()
            await cp.status(1)
            k0, k1 = "CP_TRIG__0__execute_trigger_message", "CP_TRIG__1__execute_trigger_message"
            await in_thread(bemcom.observer.wait_for, "available_datapoints", lambda p: k1 in p["actuator"])
            bemcom.map(k0, k1)
            assert await in_thread(bemcom.write, k1, "4") == "Accepted"
            assert await in_thread(bemcom.write, k0, 3) == "Accepted"
            assert await in_thread(bemcom.write, k0, "StatusNotification") == "Accepted"
            calls = await cp.wait_for_call("TriggerMessage", count=3)
            assert calls == [
                {"requestedMessage": "MeterValues", "connectorId": 1},
                {"requestedMessage": "Heartbeat"},
                {"requestedMessage": "StatusNotification"},
            ]
            outcome = await in_thread(bemcom.write, k0, 9)
            assert outcome.startswith("InvalidValue: unknown message to trigger 9")
            error_log = await in_thread(
                bemcom.observer.wait_for, "logs", lambda p: "unknown message to trigger 9" in p["msg"]
            )
            assert error_log["level"] == 40  # DATAPOINTS.md: an InvalidValue is an error on the log topic

    asyncio.run(scenario())


def test_outcomes_rejected_timeout_and_not_connected(bemcom: Bemcom, url: str) -> None:
    answers: dict[str, AnswerSpec] = {"Reset": {"status": "Rejected"}, "UnlockConnector": NO_ANSWER}

    async def scenario() -> None:
        async with SimulatedChargePoint(url, "CP_OUT", answers=answers) as cp:
            await cp.boot()
            await cp.status(1)
            reset, unlock = "CP_OUT__execute_reset", "CP_OUT__1__execute_unlock_connector"
            await in_thread(bemcom.observer.wait_for, "available_datapoints", lambda p: unlock in p["actuator"])
            bemcom.map(reset, unlock)
            assert await in_thread(bemcom.write, reset, "Hard") == "Rejected"
            assert await in_thread(bemcom.write, unlock, True) == "Timeout"
            assert (
                await in_thread(bemcom.write, reset, "Sideways")
                == 'InvalidValue: reset must be Soft or Hard, got "Sideways"'
            )
        assert await in_thread(bemcom.write, reset, "Soft") == "NotConnected"

    asyncio.run(scenario())


def test_malformed_actuator_messages_never_stop_the_connector(bemcom: Bemcom, url: str) -> None:
    async def scenario() -> None:
        async with SimulatedChargePoint(url, "CP_BAD") as cp:
            await cp.boot()
            key = "CP_BAD__execute_reset"
            await in_thread(bemcom.observer.wait_for, "available_datapoints", lambda p: key in p["actuator"])
            bemcom.map(key)
            assert (await in_thread(bemcom.write, key, None, 10, b"\xff not json")).startswith(
                "InvalidValue: the value for CP_BAD__execute_reset is not JSON"
            )
            assert (
                await in_thread(bemcom.write, key, None, 10, '{"timestamp": 1}')
                == 'InvalidValue: the message for CP_BAD__execute_reset has no "value"'
            )
            assert (await in_thread(bemcom.write, key, None, 10, "[1, 2]")).startswith("InvalidValue: ")
            assert (await in_thread(bemcom.write, key, {"deep": [1, {"x": None}]})).startswith("InvalidValue: ")
            for text in ("is not JSON", 'has no "value"', "reset must be Soft or Hard"):
                found = await in_thread(bemcom.observer.wait_for, "logs", lambda p, t=text: t in p["msg"])
                assert found["level"] == 40, found
            bemcom.observer.publish("datapoint_map", "garbage", qos=2)
            await in_thread(bemcom.observer.wait_for, "logs", lambda p: "datapoint_map is not JSON" in p["msg"])
            # Still working, and the previous map still holds.
            assert await in_thread(bemcom.write, key, "soft") == "Accepted"
            assert (await cp.wait_for_call("Reset")) == [{"type": "Soft"}]

    asyncio.run(scenario())


def test_two_charge_points_at_once_and_a_burst_arrives_in_order(bemcom: Bemcom, url: str) -> None:
    slow: dict[str, AnswerSpec] = {"ChangeConfiguration": NO_ANSWER}

    async def scenario() -> None:
        async with (
            SimulatedChargePoint(url, "CP_SLOW", answers=slow) as stuck,
            SimulatedChargePoint(url, "CP_FAST") as fast,
        ):
            await stuck.boot()
            await fast.boot()
            await fast.status(1)
            blocked, limit = "CP_SLOW__execute_change_configuration", "CP_FAST__1__execute_send_charging_profile"
            await in_thread(bemcom.observer.wait_for, "available_datapoints", lambda p: limit in p["actuator"])
            bemcom.map(blocked, limit)
            # CP_SLOW's command hangs until its timeout; CP_FAST's commands do not wait for it.
            bemcom.send(blocked, "HeartbeatInterval=60")
            await stuck.wait_for_call("ChangeConfiguration")
            for watts in range(1000, 21000, 1000):
                bemcom.send(limit, watts)
            profiles = await fast.wait_for_call("SetChargingProfile", count=20, timeout=1.4)
            limits = [
                p["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] for p in profiles
            ]
            assert limits == list(range(1000, 21000, 1000))
            assert await in_thread(
                wait_until, lambda: len(bemcom.observer.on(bemcom.result_topic(blocked))) == 1, 5, "timeout"
            )
            assert bemcom.observer.on(bemcom.result_topic(blocked))[0].payload["value"] == "Timeout"

    asyncio.run(scenario())


def test_remote_start_stop_configuration_and_generic_calls(bemcom: Bemcom, url: str) -> None:
    async def scenario() -> None:
        async with SimulatedChargePoint(url, "CP_MISC") as cp:
            await cp.boot()
            tx = await cp.start_transaction(1, "TAG", meter_start=0)
            keys = [
                "CP_MISC__1__execute_remote_start_transaction",
                "CP_MISC__1__execute_remote_stop_transaction",
                "CP_MISC__execute_get_configuration",
                "CP_MISC__execute_change_configuration",
                "CP_MISC__execute_ocpp_call",
                "CP_MISC__execute_data_transfer",
                "CP_MISC__1__execute_change_availability",
            ]
            await in_thread(bemcom.observer.wait_for, "available_datapoints", lambda p: set(keys) <= set(p["actuator"]))
            bemcom.map(*keys)
            start, stop, get, change, generic, transfer, availability = keys
            assert await in_thread(bemcom.write, start, "TAG_2") == "Accepted"
            assert await cp.wait_for_call("RemoteStartTransaction") == [{"idTag": "TAG_2", "connectorId": 1}]
            assert await in_thread(bemcom.write, stop, True) == "Accepted"
            assert await cp.wait_for_call("RemoteStopTransaction") == [{"transactionId": tx}]
            assert await in_thread(bemcom.write, get, ["HeartbeatInterval"]) == "Accepted"
            config = await in_thread(
                bemcom.observer.wait_for,
                "available_datapoints",
                lambda p: "CP_MISC__configuration__HeartbeatInterval" in p["sensor"],
            )
            assert config["sensor"]["CP_MISC__configuration__HeartbeatInterval"] == "300"
            assert await in_thread(bemcom.write, change, {"key": "HeartbeatInterval", "value": 60}) == "Accepted"
            changes = [payload for action, payload in cp.received_calls if action == "ChangeConfiguration"]
            assert {"key": "HeartbeatInterval", "value": "60"} in changes  # besides onboarding's own
            assert await in_thread(bemcom.write, availability, 0) == "Accepted"
            assert await cp.wait_for_call("ChangeAvailability") == [{"connectorId": 1, "type": "Inoperative"}]
            assert (
                await in_thread(bemcom.write, transfer, {"vendor_id": "ACME", "message_id": "hello", "data": {"x": 1}})
                == "Accepted"
            )
            assert await cp.wait_for_call("DataTransfer") == [
                {"vendorId": "ACME", "messageId": "hello", "data": '{"x": 1}'}
            ]
            result = await in_thread(bemcom.write, generic, {"action": "GetLocalListVersion", "payload": {}})
            assert json.loads(result) == {"listVersion": 0}
            invalid = await in_thread(bemcom.write, generic, {"action": "Reset", "payload": {"type": "Sideways"}})
            assert invalid.startswith("InvalidValue: Reset payload fails the OCPP 1.6 schema")
            assert len([call for call in cp.received_calls if call[0] == "Reset"]) == 0

    asyncio.run(scenario())
