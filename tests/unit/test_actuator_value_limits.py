from __future__ import annotations

import sqlite3
from typing import Any, cast

import pytest
from ocpp.messages import Call, _validate_payload

from common.bus import EVENT_STREAM, ErrorCode
from common.command_client import CommandClient
from processes.bridge.actuators import ActuatorKey, Context, InvalidValue
from processes.bridge.executor import ActuatorExecutor
from processes.gateway.calls import build_call
from processes.gateway.commands import CommandError
from processes.gateway.journal import Journal

NOW = 1_790_000_000_000


def _ignore(*_: Any) -> None:
    pass


EXECUTOR = ActuatorExecutor(cast(CommandClient, None), 30.0, 230.0, 3, _ignore)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("execute_send_charging_profile", 10**400),  # a 401-digit JSON number
        ("execute_send_charging_profile", 1e308),
        ("execute_trigger_message", 10**400),
        ("execute_send_charging_schedule", [{"from_timestamp": 1e20, "to_timestamp": None, "value": 1000}]),
        ("execute_send_charging_schedule", [{"from_timestamp": -1e15, "to_timestamp": None, "value": 1000}]),
        ("execute_send_charging_schedule", [{"from_timestamp": None, "to_timestamp": 1e300, "value": 1000}]),
    ],
)
def test_out_of_range_numbers_are_invalid_values(kind: str, value: Any) -> None:
    with pytest.raises(InvalidValue):
        calls = EXECUTOR.plan(ActuatorKey("CP_1", 1, kind, f"CP_1__1__{kind}"), value, Context(now_ms=NOW))
        for call in calls:  # a plan that is returned must at least be sendable over the bus
            assert abs(call.payload["csChargingProfiles"]["chargingSchedule"].get("duration", 0)) < 2**31


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("execute_remote_start_transaction", "x" * 21),  # idTag: CiString20
        ("execute_remote_start_transaction", 1.2345678901234567e-300),
        ("execute_change_configuration", {"key": "k" * 51, "value": "1"}),  # CiString50
        ("execute_change_configuration", {"key": "K", "value": "v" * 501}),  # CiString500
        ("execute_get_configuration", "k" * 51),
        ("execute_data_transfer", {"vendor_id": "v" * 256}),  # CiString255
        ("execute_data_transfer", {"vendor_id": "v", "message_id": "m" * 51}),  # CiString50
    ],
)
def test_plan_never_returns_schema_invalid_calls(kind: str, value: Any) -> None:
    connector = (
        None if kind in {"execute_change_configuration", "execute_get_configuration", "execute_data_transfer"} else 1
    )
    try:
        calls = EXECUTOR.plan(ActuatorKey("CP_1", connector, kind, "k"), value, Context(now_ms=NOW))
    except InvalidValue:
        return
    for call in calls:
        _validate_payload(Call(unique_id="1", action=call.action, payload=call.payload), "1.6")


@pytest.mark.parametrize("limit", [float("nan"), float("inf")])
def test_build_call_rejects_non_finite_limits_with_invalid_value(limit: float) -> None:
    payload = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            },
        },
    }
    with pytest.raises(CommandError) as caught:
        build_call("SetChargingProfile", payload)
    assert caught.value.code == ErrorCode.INVALID_VALUE


def test_consumer_whose_last_message_was_just_trimmed_has_lost_nothing() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        journal = Journal(db, "run-1", max_per_stream=5)
        for _ in range(12):
            seq = journal.next_seq(EVENT_STREAM)
            journal.append(EVENT_STREAM, seq, {"run": "run-1", "seq": seq})
        journal.trim()  # keeps 8..12
        replay = journal.read(EVENT_STREAM, "bridge", "run-1", 7, 100)  # the consumer has 1..7
        assert [m["seq"] for m in replay.messages] == [8, 9, 10, 11, 12]
        assert replay.lost is False  # nothing it needed was deleted
    finally:
        db.close()
