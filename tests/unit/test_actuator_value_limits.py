"""Actuator values at and past the limits of OCPP 1.6: numbers out of every range and strings one
character too long are InvalidValue, never a call; values at the limits are planned, and the
calls pass the ``ocpp`` library's own schema validation."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.messages import Call, _validate_payload

from processes.bridge.actuators.plan import Context
from processes.bridge.actuators.table import ActuatorKey, plan_calls
from processes.bridge.actuators.values import InvalidValue

NOW = 1_790_000_000_000


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
        calls = plan_calls(ActuatorKey("CP_1", 1, kind, f"CP_1__1__{kind}"), value, Context(now_ms=NOW))
        for call in calls:  # a plan that is returned must at least be sendable over the bus
            assert abs(call.payload["csChargingProfiles"]["chargingSchedule"].get("duration", 0)) < 2**31


CHARGE_POINT_LEVEL = {"execute_change_configuration", "execute_get_configuration", "execute_data_transfer"}


def _actuator(kind: str) -> ActuatorKey:
    return ActuatorKey("CP_1", None if kind in CHARGE_POINT_LEVEL else 1, kind, "k")


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
    """Past a schema limit the plan is refused by the schema check, with the reason: no call."""
    with pytest.raises(InvalidValue, match=r"payload fails the OCPP 1\.6 schema: .* is too long"):
        plan_calls(_actuator(kind), value, Context(now_ms=NOW))


@pytest.mark.parametrize(
    ("kind", "value", "action"),
    [
        ("execute_remote_start_transaction", "x" * 20, "RemoteStartTransaction"),
        ("execute_remote_start_transaction", 1.25e-300, "RemoteStartTransaction"),  # "1.25e-300": 9 characters
        ("execute_change_configuration", {"key": "k" * 50, "value": "1"}, "ChangeConfiguration"),
        ("execute_change_configuration", {"key": "K", "value": "v" * 500}, "ChangeConfiguration"),
        ("execute_get_configuration", "k" * 50, "GetConfiguration"),
        ("execute_data_transfer", {"vendor_id": "v" * 255}, "DataTransfer"),
        ("execute_data_transfer", {"vendor_id": "v", "message_id": "m" * 50}, "DataTransfer"),
    ],
)
def test_values_at_the_schema_limits_are_planned_as_schema_valid_calls(kind: str, value: Any, action: str) -> None:
    """The other side of the limit: the value is sent, in a call the library itself accepts."""
    calls = plan_calls(_actuator(kind), value, Context(now_ms=NOW))
    assert [planned.action for planned in calls] == [action]
    for planned in calls:
        _validate_payload(Call(unique_id="1", action=planned.action, payload=planned.payload), "1.6")
