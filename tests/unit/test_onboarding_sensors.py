"""The second round's sensors (DATAPOINTS.md "Added in the second round") from gateway events:
``{cp}__protocol``, ``{cp}__onboarding``, every key of onboarding's GetConfiguration, and the
security extension's messages. Pure: processes/bridge/sensors.py."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from common.bus import CONNECTED, DISCONNECTED, ONBOARDED, Event
from processes.bridge.sensors import sensor_values

TS = 1_790_000_000_000


def values(kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    event = Event(run="r", seq=1, cp="CP.1", kind=kind, ts=TS, payload=payload, ctx=ctx or {})
    found = sensor_values(event)
    assert all(value.timestamp == TS for value in found)
    return {value.key: value.value for value in found}


def test_the_protocol_of_the_connection_is_published_on_connect() -> None:
    assert values(CONNECTED, {"protocol": "ocpp1.6"}) == {"CP.1__connected": True, "CP.1__protocol": "ocpp1.6"}
    assert values(CONNECTED, {}) == {"CP.1__connected": True}
    assert values(DISCONNECTED, {"protocol": "ocpp1.6"}) == {"CP.1__connected": False}


def test_every_configuration_key_of_onboarding_is_a_sensor() -> None:
    payload = {
        "configuration_key": [
            {"key": "MeterValueSampleInterval", "readonly": False, "value": "15"},
            {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core,SmartCharging"},
            {"key": "AuthorizationKey", "readonly": False},  # a charge point may hold a value back
            {"readonly": True, "value": "no key"},
            "garbage",
        ],
        "unknown_key": [],
    }
    assert values("GetConfiguration", payload) == {
        "CP.1__configuration__MeterValueSampleInterval": "15",
        "CP.1__configuration__SupportedFeatureProfiles": "Core,SmartCharging",
        "CP.1__configuration__AuthorizationKey": "",
    }


def test_the_onboarding_outcome_is_a_sensor() -> None:
    assert values(ONBOARDED, {"status": "partial: MeterValuesSampledData without SoC (refused)"}) == {
        "CP.1__onboarding": "partial: MeterValuesSampledData without SoC (refused)"
    }


def test_security_extension_messages_are_sensors() -> None:
    event = {"type": "TamperDetectionActivated", "timestamp": "2026-01-01T00:00:00Z", "tech_info": "lid open"}
    assert values("SecurityEventNotification", event) == {
        "CP.1__SecurityEventNotification__type": "TamperDetectionActivated",
        "CP.1__SecurityEventNotification__timestamp": "2026-01-01T00:00:00Z",
        "CP.1__SecurityEventNotification__tech_info": "lid open",
    }
    assert values("SignedFirmwareStatusNotification", {"status": "Installed", "request_id": 1}) == {
        "CP.1__SignedFirmwareStatusNotification__status": "Installed"
    }
    assert values("LogStatusNotification", {"status": "Uploading"}) == {
        "CP.1__LogStatusNotification__status": "Uploading"
    }


@given(st.dictionaries(st.text(max_size=20), st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers()))))
def test_garbage_in_the_new_events_never_raises(payload: dict[str, Any]) -> None:
    for kind in ("GetConfiguration", ONBOARDED, "SecurityEventNotification", CONNECTED):
        for value in values(kind, payload).values():
            assert isinstance(value, str | bool)


def test_the_failsafe_state_is_a_sensor() -> None:
    assert values("Failsafe", {"active": True}) == {"CP.1__failsafe": True}
    assert values("Failsafe", {"active": False}) == {"CP.1__failsafe": False}
    assert values("Failsafe", {"active": "yes"}) == {}
