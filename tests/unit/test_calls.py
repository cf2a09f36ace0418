"""Calls the gateway sends to charge points: the actions a central system may send, building the
ocpp dataclass from a command's camelCase payload after the OCPP 1.6 schema check, and turning a
charge point's answer back into a camelCase payload."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.v16 import call, call_result
from ocpp.v16.enums import ConfigurationStatus

from common.bus import ErrorCode
from common.schemas import CENTRAL_SYSTEM_ACTIONS, V16
from processes.gateway.command_server import CommandError
from processes.gateway.session import result_payload
from processes.gateway.v16.calls import build_call


def test_central_system_actions_are_the_ocpp16_ones_and_the_security_extensions() -> None:
    assert len(CENTRAL_SYSTEM_ACTIONS[V16]) == 19 + 7
    assert {"ExtendedTriggerMessage", "GetLog", "InstallCertificate", "SignedUpdateFirmware"} <= CENTRAL_SYSTEM_ACTIONS[
        V16
    ]
    for action in CENTRAL_SYSTEM_ACTIONS[V16]:
        assert hasattr(call, action)
    assert "BootNotification" not in CENTRAL_SYSTEM_ACTIONS[V16]


def test_security_extension_calls_are_built_after_the_schema_check() -> None:
    built = build_call("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    assert isinstance(built, call.ExtendedTriggerMessage)
    with pytest.raises(CommandError) as caught:
        build_call("GetLog", {"logType": "DiagnosticsLog", "requestId": 1, "log": {}})
    assert caught.value.code == ErrorCode.INVALID_VALUE and "remoteLocation" in caught.value.reason


@pytest.mark.parametrize("action", ["BootNotification", "Heartbeat", "reset", "Teleport", "SignCertificate", ""])
def test_build_call_rejects_unknown_actions(action: str) -> None:
    with pytest.raises(CommandError) as caught:
        build_call(action, {})
    assert caught.value.code == ErrorCode.INVALID_VALUE
    assert caught.value.reason


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("Reset", {}),
        ("Reset", {"type": "Reboot"}),
        ("Reset", {"type": "Soft", "extra": 1}),
        ("ChangeAvailability", {"connectorId": "1", "type": "Operative"}),
        ("RemoteStartTransaction", {"idTag": "x" * 21}),
        ("UnlockConnector", {}),
        ("GetConfiguration", {"key": "HeartbeatInterval"}),
        ("TriggerMessage", {"requestedMessage": "Authorize"}),
        (
            "SetChargingProfile",
            {
                "connectorId": 1,
                "csChargingProfiles": {
                    "chargingProfileId": 1,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "chargingProfileKind": "Absolute",
                    "chargingSchedule": {
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.05}],
                    },
                },
            },
        ),
    ],
)
def test_build_call_rejects_schema_invalid_payloads(action: str, payload: dict[str, Any]) -> None:
    with pytest.raises(CommandError) as caught:
        build_call(action, payload)
    assert caught.value.code == ErrorCode.INVALID_VALUE
    assert action in caught.value.reason
    assert str(caught.value).startswith("InvalidValue: ")


def test_build_call_gives_the_ocpp_dataclass() -> None:
    assert build_call("Reset", {"type": "Hard"}) == call.Reset(type="Hard")
    assert build_call("ClearCache", {}) == call.ClearCache()
    assert build_call("GetConfiguration", {}) == call.GetConfiguration()
    assert build_call("GetConfiguration", {"key": ["A", "B"]}) == call.GetConfiguration(key=["A", "B"])
    assert build_call("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 2}) == call.TriggerMessage(
        requested_message="MeterValues", connector_id=2
    )
    assert build_call("DataTransfer", {"vendorId": "v", "messageId": "m", "data": "d"}) == call.DataTransfer(
        vendor_id="v", message_id="m", data="d"
    )


def test_build_call_converts_nested_keys_to_snake_case() -> None:
    payload = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1001,
            "stackLevel": 2,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": "2026-01-01T00:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 15.9, "numberPhases": 3}],
            },
        },
    }
    built = build_call("SetChargingProfile", payload)
    assert isinstance(built, call.SetChargingProfile)
    assert built.connector_id == 1
    profile = built.cs_charging_profiles
    assert profile["charging_profile_id"] == 1001
    assert profile["charging_schedule"]["charging_schedule_period"] == [
        {"start_period": 0, "limit": 15.9, "number_phases": 3}
    ]


def test_result_payload() -> None:
    assert result_payload(call_result.ChangeConfiguration(status=ConfigurationStatus.accepted)) == {
        "status": "Accepted"
    }
    assert result_payload(
        call_result.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}], unknown_key=None
        )
    ) == {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
    assert result_payload(call_result.GetConfiguration(unknown_key=["Nope"])) == {"unknownKey": ["Nope"]}
    assert result_payload(call_result.ClearCache(status="Rejected")) == {"status": "Rejected"}


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
