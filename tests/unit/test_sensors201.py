"""Unit tests of processes.bridge.sensors201 (through sensors.sensor_values): the events of an
OCPP 2.0.1 charge point -> BEMCom sensor values; the dispatch on ``ctx["ocpp"]``; limit_obeyed
for 2.0.1. Payloads are snake_case as the ``ocpp`` library's ``camel_to_snake_case`` makes them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common import schemas
from common.bus import Event
from processes.bridge import sensors201
from processes.bridge.limits import LimitWatch
from processes.bridge.meter_values import SensorValue, meter_values_201, sampled_value_201
from processes.bridge.sensors import sensor_values
from tests.support.depth import examples

TS = 1_790_000_000_000  # receive time of every test event (2026-09-21T14:13:20Z)
T0 = "2026-11-24T10:00:00Z"
T0_MS = 1_795_514_400_000
T1 = "2026-11-24T10:05:00.250+01:00"
T1_MS = T0_MS + 5 * 60_000 + 250 - 3_600_000
V201 = {"ocpp": "2.0.1"}


def event(kind: str, payload: dict[str, Any] | None = None, ctx: dict[str, Any] | None = None) -> Event:
    return Event(run="r", seq=1, cp="CP_1", kind=kind, ts=TS, payload=payload or {}, ctx={**V201, **(ctx or {})})


def values_of(kind: str, payload: dict[str, Any] | None = None, ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    return {v.key: v.value for v in sensor_values(event(kind, payload, ctx))}


def meter(*sampled: dict[str, Any], timestamp: str = T0) -> list[dict[str, Any]]:
    return [{"timestamp": timestamp, "sampled_value": list(sampled)}]


def one_sample(**sampled: Any) -> SensorValue:
    values = sensor_values(event("MeterValues", {"evse_id": 1, "meter_value": meter(sampled)}, {"evse_id": 1}))
    assert len(values) == 1
    return values[0]


def test_the_version_value_is_the_one_of_common_schemas() -> None:
    assert sensors201.V201 == schemas.V201


# --------------------------------------------------------------------------- version-neutral kinds


def test_connected_disconnected_onboarding_failsafe_local_list_as_for_1_6() -> None:
    assert values_of("Connected", {"protocol": "ocpp2.0.1"}) == {"CP_1__connected": True, "CP_1__protocol": "ocpp2.0.1"}
    assert values_of("Disconnected") == {"CP_1__connected": False}
    onboarding = {"status": "done", "capabilities": {}, "profile": {}}
    assert values_of("Onboarding", onboarding, {"connectors": [1, 2]}) == {"CP_1__onboarding": "done"}
    assert values_of("Failsafe", {"active": True}) == {"CP_1__failsafe": True}
    assert values_of("LocalList", {"status": "in sync"}) == {"CP_1__local_list": "in sync"}


def test_heartbeat_security_event_data_transfer_as_for_1_6() -> None:
    assert values_of("Heartbeat") == {"CP_1__Heartbeat": "alive"}
    security = {"type": "SettingSystemTime", "timestamp": T0, "tech_info": "NTP"}
    assert values_of("SecurityEventNotification", security) == {
        "CP_1__SecurityEventNotification__type": "SettingSystemTime",
        "CP_1__SecurityEventNotification__timestamp": T0,
        "CP_1__SecurityEventNotification__tech_info": "NTP",
    }
    transfer = {"vendor_id": "com.example", "message_id": "Tariff", "data": {"ct": 31}}
    assert values_of("DataTransfer", transfer) == {"CP_1__DataTransfer__com.example__Tariff": '{"ct":31}'}
    assert values_of("DataTransfer", {"vendor_id": "com.example"}) == {"CP_1__DataTransfer__com.example": ""}


@pytest.mark.parametrize(
    "kind", ["FirmwareStatusNotification", "LogStatusNotification", "PublishFirmwareStatusNotification"]
)
def test_status_messages(kind: str) -> None:
    assert values_of(kind, {"status": "Downloading", "request_id": 7}) == {f"CP_1__{kind}__status": "Downloading"}


def test_reservation_status_update() -> None:
    payload = {"reservation_id": 4, "reservation_update_status": "Expired"}
    assert values_of("ReservationStatusUpdate", payload) == {"CP_1__ReservationStatusUpdate__status": "Expired"}


# --------------------------------------------------------------------------- BootNotification, StatusNotification


def test_boot_notification_uses_the_1_6_field_names_where_2_0_1_has_the_fact() -> None:
    payload = {
        "reason": "PowerUp",
        "charging_station": {
            "vendor_name": "Acme",
            "model": "Wallbox 22",
            "serial_number": "SN-1",
            "firmware_version": "2.3.1",
            "modem": {"iccid": "8949", "imsi": "2620"},
        },
    }
    assert values_of("BootNotification", payload) == {
        "CP_1__BootNotification__charge_point_vendor": "Acme",
        "CP_1__BootNotification__charge_point_model": "Wallbox 22",
        "CP_1__BootNotification__charge_point_serial_number": "SN-1",
        "CP_1__BootNotification__firmware_version": "2.3.1",
        "CP_1__BootNotification__iccid": "8949",
        "CP_1__BootNotification__imsi": "2620",
        "CP_1__BootNotification__reason": "PowerUp",
    }


def test_boot_notification_skips_absent_and_ill_typed_fields() -> None:
    payload = {"reason": 3, "charging_station": {"vendor_name": "Acme", "model": None, "modem": "x"}}
    assert values_of("BootNotification", payload) == {"CP_1__BootNotification__charge_point_vendor": "Acme"}
    assert values_of("BootNotification", {"reason": "Watchdog", "charging_station": []}) == {
        "CP_1__BootNotification__reason": "Watchdog"
    }


def test_status_notification_keys_the_evse() -> None:
    payload = {"timestamp": T0, "connector_status": "Occupied", "evse_id": 2, "connector_id": 1}
    values = sensor_values(event("StatusNotification", payload, {"evse_id": 2, "connector_id": 1}))
    assert [(v.key, v.value, v.timestamp) for v in values] == [
        ("CP_1__2__StatusNotification__connector_status", "Occupied", TS)  # receive time, as 1.6
    ]


def test_status_notification_of_a_second_connector_of_the_evse_gets_its_own_key() -> None:
    payload = {"timestamp": T0, "connector_status": "Unavailable", "evse_id": 1, "connector_id": 2}
    assert values_of("StatusNotification", payload, {"evse_id": 1, "connector_id": 2}) == {
        "CP_1__1__StatusNotification__connector_status__2": "Unavailable"
    }


def test_status_notification_falls_back_to_the_payload_and_needs_an_evse() -> None:
    payload = {"connector_status": "Faulted", "evse_id": 3, "connector_id": 1}
    assert values_of("StatusNotification", payload) == {"CP_1__3__StatusNotification__connector_status": "Faulted"}
    assert values_of("StatusNotification", {"connector_status": "Faulted", "connector_id": 1}) == {}
    assert values_of("StatusNotification", {"connector_status": 5, "evse_id": 1, "connector_id": 1}) == {}


# --------------------------------------------------------------------------- meter values


def test_meter_values_default_measurand_and_unit_and_own_timestamp() -> None:
    value = one_sample(value=1234)
    assert (value.key, value.value, value.timestamp) == ("CP_1__1__Energy.Active.Import.Register__Wh", 1234, T0_MS)


def test_meter_values_key_parts_and_units() -> None:
    samples = meter(
        {"value": 7.4, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "kW"}},
        {"value": 16.02, "measurand": "Current.Import", "phase": "L2", "unit_of_measure": {"unit": "A"}},
        {"value": 231, "measurand": "Voltage", "phase": "L1-N", "location": "Inlet"},
        {"value": 45, "measurand": "SoC", "location": "EV", "context": "Sample.Periodic"},
        {"value": 21.5, "measurand": "Temperature", "location": "Body", "unit_of_measure": {"unit": "Celsius"}},
        {"value": 3, "measurand": "Power.Reactive.Import", "unit_of_measure": {"unit": "kvar"}},
        {"value": 12, "location": "Outlet"},
        timestamp=T1,
    )
    values = sensor_values(event("MeterValues", {"evse_id": 2, "meter_value": samples}, {"evse_id": 2}))
    assert [(v.key, v.value) for v in values] == [
        ("CP_1__2__Power.Active.Import__W", 7400),
        ("CP_1__2__Current.Import__L2__A", 16.02),
        ("CP_1__2__Voltage__L1-N__Inlet__V", 231),
        ("CP_1__2__SoC__EV__Percent", 45),
        ("CP_1__2__Temperature__Body__Celsius", 21.5),
        ("CP_1__2__Power.Reactive.Import__var", 3000),
        ("CP_1__2__Energy.Active.Import.Register__Wh", 12),
    ]
    assert {v.timestamp for v in values} == {T1_MS}


@pytest.mark.parametrize(
    ("unit_of_measure", "value", "expected"),
    [
        ({"unit": "Wh", "multiplier": 3}, 12, 12_000),
        ({"unit": "kWh", "multiplier": 0}, 12.3456, 12_345.6),
        ({"unit": "kWh", "multiplier": -3}, 12_345_678, 12_345_678),
        ({"multiplier": 1}, 1.5, 15),
        ({"unit": "Wh", "multiplier": -1}, 123, 12.3),
        ({"unit": "kWh", "multiplier": 1.0}, 2, 20_000),
        ({}, 0.0, 0),
    ],
)
def test_meter_values_apply_the_multiplier_and_normalise_the_unit_exactly(
    unit_of_measure: dict[str, Any], value: float, expected: float
) -> None:
    sample = one_sample(value=value, unit_of_measure=unit_of_measure)
    assert sample.key == "CP_1__1__Energy.Active.Import.Register__Wh"
    assert sample.value == expected and type(sample.value) is type(expected)


@pytest.mark.parametrize(
    "sampled",
    [
        {"value": 1, "unit_of_measure": {"multiplier": "3"}},
        {"value": 1, "unit_of_measure": {"multiplier": True}},
        {"value": 1, "unit_of_measure": {"multiplier": 10**6}},
        {"value": 1, "unit_of_measure": {"unit": ["Wh"]}},
        {"value": 1, "unit_of_measure": "kWh"},
        {"value": 1, "measurand": 5},
        {"value": None},
        {"value": [1]},
        {"measurand": "Voltage"},
    ],
)
def test_an_ill_typed_sampled_value_is_skipped_alone(sampled: dict[str, Any]) -> None:
    samples = meter(sampled, {"value": 2})
    values = sensor_values(event("MeterValues", {"evse_id": 1, "meter_value": samples}, {"evse_id": 1}))
    assert [(v.key, v.value) for v in values] == [("CP_1__1__Energy.Active.Import.Register__Wh", 2)]


def test_a_value_that_is_not_a_number_is_published_as_the_string_received() -> None:
    assert one_sample(value="n/a").value == "n/a"
    assert one_sample(value="12.5").value == 12.5


def test_signed_meter_values_publish_the_value_beside_the_signature() -> None:
    signed = {"signed_meter_data": "AbC=", "signing_method": "ECDSA", "encoding_method": "OCMF", "public_key": "k"}
    assert one_sample(value=4711, signed_meter_value=signed).value == 4711


def test_meter_values_use_the_gateway_evse_then_the_payload_and_evse_0_is_the_main_meter() -> None:
    payload = {"evse_id": 0, "meter_value": meter({"value": 99})}
    assert values_of("MeterValues", payload, {"evse_id": 0}) == {"CP_1__0__Energy.Active.Import.Register__Wh": 99}
    assert values_of("MeterValues", payload) == {"CP_1__0__Energy.Active.Import.Register__Wh": 99}
    assert values_of("MeterValues", payload, {"evse_id": 3}) == {"CP_1__3__Energy.Active.Import.Register__Wh": 99}
    assert values_of("MeterValues", {"evse_id": -1, "meter_value": meter({"value": 99})}) == {}


def test_the_unparseable_timestamp_of_an_element_falls_back_to_receive_time() -> None:
    values = meter_values_201("CP_1", 1, [{"timestamp": "yesterday", "sampled_value": [{"value": 1}]}], TS)
    assert [v.timestamp for v in values] == [TS]


def test_the_2_0_1_and_1_6_paths_give_the_same_key_for_the_same_sample() -> None:
    located = sampled_value_201("CP", 1, {"value": 5, "measurand": "Power.Offered", "phase": "L1"}, 0)
    assert located == SensorValue("CP__1__Power.Offered__L1__W", 5, 0)


# --------------------------------------------------------------------------- TransactionEvent


def transaction_event(event_type: str, seq_no: int = 0, **info: Any) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "timestamp": T0,
        "trigger_reason": "Authorized",
        "seq_no": seq_no,
        "transaction_info": {"transaction_id": "c5f2-11", **info},
    }


def test_transaction_started() -> None:
    payload = transaction_event("Started", charging_state="EVConnected") | {
        "evse": {"id": 1, "connector_id": 1},
        "id_token": {"id_token": "04A2B3", "type": "ISO14443"},
        "meter_value": meter({"value": 10_000, "context": "Transaction.Begin"}),
    }
    ctx = {"evse_id": 1, "transaction_id": "c5f2-11", "meter_start": 10_000.0, "id_token": "04A2B3"}
    values = sensor_values(event("TransactionEvent", payload, ctx | {"id_token_status": "Accepted"}))
    assert [(v.key, v.value, v.timestamp) for v in values] == [
        ("CP_1__1__transaction__id", "c5f2-11", TS),
        ("CP_1__1__transaction__charging_state", "EVConnected", TS),
        ("CP_1__1__transaction__id_token", "04A2B3", TS),
        ("CP_1__1__transaction__id_token_status", "Accepted", TS),
        ("CP_1__1__transaction__active", True, TS),
        ("CP_1__1__Energy.Active.Import.Register__Wh", 10_000, T0_MS),
    ]


def test_transaction_updated_carries_its_meter_values_and_the_id_token_from_ctx() -> None:
    payload = transaction_event("Updated", 3, charging_state="Charging") | {
        "trigger_reason": "MeterValuePeriodic",
        "meter_value": meter(
            {"value": 11.2, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "kW"}},
            {"value": 10.5, "unit_of_measure": {"unit": "kWh"}},
            timestamp=T1,
        ),
    }
    ctx = {"evse_id": 2, "transaction_id": "c5f2-11", "meter_start": 10_000.0, "id_token": "04A2B3"}
    # What Started said (id, active, token) is not repeated: only what the Updated adds.
    assert values_of("TransactionEvent", payload, ctx) == {
        "CP_1__2__transaction__charging_state": "Charging",
        "CP_1__2__Power.Active.Import__W": 11_200,
        "CP_1__2__Energy.Active.Import.Register__Wh": 10_500,
    }
    # The first event that names the transaction's EVSE (its Started named none: EVSE 0 had it).
    assert values_of("TransactionEvent", payload, ctx | {"evse_learnt": True}) == {
        "CP_1__2__transaction__id": "c5f2-11",
        "CP_1__0__transaction__active": False,
        "CP_1__2__transaction__charging_state": "Charging",
        "CP_1__2__transaction__id_token": "04A2B3",
        "CP_1__2__transaction__active": True,
        "CP_1__2__Power.Active.Import__W": 11_200,
        "CP_1__2__Energy.Active.Import.Register__Wh": 10_500,
    }


def test_transaction_ended_energy_from_the_transaction_end_register() -> None:
    payload = transaction_event("Ended", 9, stopped_reason="EVDisconnected", charging_state="Idle") | {
        "trigger_reason": "EVDeparted",
        "meter_value": meter(
            {"value": 17_250.4, "context": "Transaction.End"},
            {"value": 17_300, "context": "Sample.Periodic"},  # later in the list, but not the end reading
            {"value": 17_400, "context": "Transaction.End", "phase": "L1"},  # a phase register: not the total
        ),
    }
    ctx = {"evse_id": 1, "transaction_id": "c5f2-11", "meter_start": 10_000.1, "id_token": "04A2B3"}
    values = values_of("TransactionEvent", payload, ctx)
    assert values["CP_1__1__transaction__energy"] == 7_250.3  # exact, not 7250.299999999999
    assert values["CP_1__1__transaction__stopped_reason"] == "EVDisconnected"
    assert values["CP_1__1__transaction__charging_state"] == "Idle"
    assert values["CP_1__1__transaction__active"] is False
    assert values["CP_1__1__transaction__id"] == "c5f2-11"
    assert values["CP_1__1__Energy.Active.Import.Register__L1__Wh"] == 17_400


def test_transaction_ended_energy_from_the_last_register_without_an_end_context_in_kwh() -> None:
    payload = transaction_event("Ended") | {
        "meter_value": [
            {"timestamp": T0, "sampled_value": [{"value": 12.0, "unit_of_measure": {"unit": "kWh"}}]},
            {"timestamp": T1, "sampled_value": [{"value": 12.5, "unit_of_measure": {"unit": "kWh"}}]},
        ]
    }
    values = values_of("TransactionEvent", payload, {"evse_id": 1, "meter_start": 10_000})
    assert values["CP_1__1__transaction__energy"] == 2_500
    assert values["CP_1__1__transaction__stopped_reason"] == "Local"  # 2.0.1's default when absent


def test_transaction_energy_is_rounded_to_the_mwh_against_float_noise_of_the_start_register() -> None:
    payload = transaction_event("Ended") | {"meter_value": meter({"value": 17_250.4, "context": "Transaction.End"})}
    start = 12.3456 * 1000  # 12345.599999999999: how the gateway scales a kWh start register
    values = values_of("TransactionEvent", payload, {"evse_id": 1, "meter_start": start})
    assert values["CP_1__1__transaction__energy"] == 4_904.8
    values = values_of("TransactionEvent", payload, {"evse_id": 1, "meter_start": 250.4})
    assert values["CP_1__1__transaction__energy"] == 17_000 and type(values["CP_1__1__transaction__energy"]) is int
    huge = transaction_event("Ended") | {"meter_value": meter({"value": 1e300})}
    assert (
        values_of("TransactionEvent", huge, {"evse_id": 1, "meter_start": 0})["CP_1__1__transaction__energy"] == 1e300
    )


def test_transaction_ended_without_meter_start_or_register_has_no_energy() -> None:
    with_register = transaction_event("Ended") | {"meter_value": meter({"value": 5})}
    assert "CP_1__1__transaction__energy" not in values_of("TransactionEvent", with_register, {"evse_id": 1})
    without = values_of("TransactionEvent", transaction_event("Ended"), {"evse_id": 1, "meter_start": 5.0})
    assert "CP_1__1__transaction__energy" not in without
    assert without["CP_1__1__transaction__active"] is False
    ill_typed = values_of("TransactionEvent", with_register, {"evse_id": 1, "meter_start": "5"})
    assert "CP_1__1__transaction__energy" not in ill_typed


def test_stopped_reason_and_energy_only_on_ended() -> None:
    payload = transaction_event("Updated", stopped_reason="Remote") | {"meter_value": meter({"value": 20})}
    values = values_of("TransactionEvent", payload, {"evse_id": 1, "meter_start": 10.0})
    assert "CP_1__1__transaction__stopped_reason" not in values
    assert "CP_1__1__transaction__energy" not in values


def test_transaction_event_evse_from_the_payload_else_the_station() -> None:
    payload = transaction_event("Started") | {"evse": {"id": 2, "connector_id": 1}}
    assert values_of("TransactionEvent", payload, {"evse_id": None})["CP_1__2__transaction__active"] is True
    no_evse = values_of("TransactionEvent", transaction_event("Started"), {"evse_id": None})
    assert no_evse["CP_1__0__transaction__id"] == "c5f2-11"
    assert values_of("TransactionEvent", payload | {"evse": {"id": "2"}}) == {}


def test_a_superseded_transaction_event_gives_only_its_meter_samples() -> None:
    payload = transaction_event("Ended", stopped_reason="Remote") | {
        "meter_value": meter({"value": 30_000, "context": "Transaction.End"})
    }
    ctx = {"evse_id": 1, "transaction_id": "c5f2-11", "meter_start": 10_000.0, "superseded": True}
    assert values_of("TransactionEvent", payload, ctx) == {"CP_1__1__Energy.Active.Import.Register__Wh": 30_000}


def test_an_unknown_event_type_publishes_no_active_value() -> None:
    values = values_of("TransactionEvent", transaction_event("Paused"), {"evse_id": 1})
    assert values == {"CP_1__1__transaction__id": "c5f2-11"}


def test_transaction_id_from_ctx_when_the_payload_has_none() -> None:
    payload = {"event_type": "Started", "transaction_info": {"transaction_id": 5}}
    assert values_of("TransactionEvent", payload, {"evse_id": 1, "transaction_id": "T-9"}) == {
        "CP_1__1__transaction__id": "T-9",
        "CP_1__1__transaction__active": True,
    }


# --------------------------------------------------------------------------- Authorize, device model, the rest


def test_authorize() -> None:
    payload = {"id_token": {"id_token": "04A2B3", "type": "ISO14443"}}
    assert values_of("Authorize", payload, {"status": "Accepted"}) == {
        "CP_1__Authorize__id_tag": "04A2B3",
        "CP_1__Authorize__status": "Accepted",
    }
    assert values_of("Authorize", {"id_token": "04A2B3"}, {"status": "Invalid"}) == {
        "CP_1__Authorize__status": "Invalid"
    }


def report(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"request_id": 1, "generated_at": T0, "seq_no": 0, "tbc": False, "report_data": list(entries)}


MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import"


def test_notify_report_publishes_the_actual_value_of_each_variable() -> None:
    payload = report(
        {
            "component": {"name": "SampledDataCtrlr"},
            "variable": {"name": "TxUpdatedMeasurands"},
            "variable_attribute": [{"type": "Actual", "value": MEASURANDS}],
            "variable_characteristics": {"data_type": "MemberList", "supports_monitoring": False},
        },
        {
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "Power"},
            "variable_attribute": [{"type": "MaxSet", "value": "22000"}, {"value": "11000"}],
        },
        {
            "component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
            "variable": {"name": "ConnectorType"},
            "variable_attribute": [{"type": "Actual", "value": "cType2", "mutability": "ReadOnly"}],
        },
        {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "MessageTimeout", "instance": "Default"},
            "variable_attribute": [{"type": "Actual", "value": "30"}],
        },
        {
            "component": {"name": "SecurityCtrlr"},
            "variable": {"name": "BasicAuthPassword"},
            "variable_attribute": [{"type": "Actual", "mutability": "WriteOnly"}],
        },
        {
            "component": {"name": "SmartChargingCtrlr"},
            "variable": {"name": "LimitChangeSignificance"},
            "variable_attribute": [{"type": "Target", "value": "0.1"}],  # no Actual: no value to publish
        },
    )
    assert values_of("NotifyReport", payload) == {
        "CP_1__configuration__SampledDataCtrlr.TxUpdatedMeasurands": MEASURANDS,
        "CP_1__configuration__EVSE.1.Power": "11000",
        "CP_1__configuration__Connector.1.1.ConnectorType": "cType2",
        "CP_1__configuration__OCPPCommCtrlr.MessageTimeout[Default]": "30",
        "CP_1__configuration__SecurityCtrlr.BasicAuthPassword": "",
    }


def test_notify_report_skips_entries_without_names_alone() -> None:
    payload = report(
        {"component": {}, "variable": {"name": "X"}, "variable_attribute": [{"value": "1"}]},
        {"component": "AuthCtrlr", "variable": {"name": "Enabled"}, "variable_attribute": [{"value": "1"}]},
        {"component": {"name": "AuthCtrlr"}, "variable": {"name": "Enabled"}, "variable_attribute": {"value": "1"}},
        {"component": {"name": "AuthCtrlr"}, "variable": {"name": "Enabled"}, "variable_attribute": [{"value": 1}]},
    )
    assert values_of("NotifyReport", payload) == {"CP_1__configuration__AuthCtrlr.Enabled": "1"}
    assert values_of("NotifyReport", {"report_data": None}) == {}


def test_notify_event_publishes_the_actual_value_by_variable_key() -> None:
    payload = {
        "generated_at": T0,
        "seq_no": 0,
        "event_data": [
            {
                "event_id": 1,
                "timestamp": T0,
                "trigger": "Delta",
                "actual_value": "Unavailable",
                "event_notification_type": "HardWiredNotification",
                "component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
                "variable": {"name": "AvailabilityState"},
            },
            {
                "event_id": 2,
                "timestamp": T0,
                "trigger": "Alerting",
                "actual_value": "true",
                "tech_code": "E12",
                "event_notification_type": "HardWiredMonitor",
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Problem"},
            },
            {"event_id": 3, "actual_value": 4, "component": {"name": "X"}, "variable": {"name": "Y"}},
        ],
    }
    assert values_of("NotifyEvent", payload) == {
        "CP_1__NotifyEvent__Connector.1.1.AvailabilityState": "Unavailable",
        "CP_1__NotifyEvent__EVSE.1.Problem": "true",
    }


def test_charging_limit_source() -> None:
    notify = {"charging_limit": {"charging_limit_source": "EMS", "is_grid_critical": False}, "evse_id": 1}
    assert values_of("NotifyChargingLimit", notify) == {"CP_1__1__charging_limit_source": "EMS"}
    station = {"charging_limit": {"charging_limit_source": "SO"}}
    assert values_of("NotifyChargingLimit", station) == {"CP_1__0__charging_limit_source": "SO"}
    assert values_of("ClearedChargingLimit", {"charging_limit_source": "EMS", "evse_id": 1}) == {
        "CP_1__1__charging_limit_source": ""
    }
    assert values_of("ClearedChargingLimit", {"charging_limit_source": "SO"}) == {"CP_1__0__charging_limit_source": ""}
    assert values_of("NotifyChargingLimit", notify | {"evse_id": "1"}) == {}


@pytest.mark.parametrize(
    "kind",
    [
        "ReportChargingProfiles",
        "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule",
        "SignCertificate",
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
        "NotifyMonitoringReport",
        "StartTransaction",
        "StopTransaction",
        "DiagnosticsStatusNotification",
        "SignedFirmwareStatusNotification",
    ],
)
def test_other_kinds_give_no_sensor_values(kind: str) -> None:
    assert values_of(kind, {"status": "Accepted", "connector_id": 1, "transaction_id": 1, "meter_start": 0}) == {}


# --------------------------------------------------------------------------- dispatch: 1.6 unchanged


def test_events_without_ocpp_in_ctx_are_mapped_as_1_6() -> None:
    def legacy(kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> dict[str, Any]:
        values = sensor_values(Event(run="r", seq=1, cp="CP_1", kind=kind, ts=TS, payload=payload, ctx=ctx or {}))
        return {v.key: v.value for v in values}

    boot = {"charge_point_vendor": "Acme", "charging_station": {"vendor_name": "Other"}}
    assert legacy("BootNotification", boot) == {"CP_1__BootNotification__charge_point_vendor": "Acme"}
    assert legacy("BootNotification", boot, {"ocpp": "1.6"}) == {"CP_1__BootNotification__charge_point_vendor": "Acme"}
    assert values_of("BootNotification", boot) == {"CP_1__BootNotification__charge_point_vendor": "Other"}
    status = {"connector_id": 1, "status": "Charging", "error_code": "NoError"}
    assert legacy("StatusNotification", status) == {
        "CP_1__1__StatusNotification__status": "Charging",
        "CP_1__1__StatusNotification__error_code": "NoError",
    }
    assert legacy("TransactionEvent", transaction_event("Started"), {"evse_id": 1}) == {}
    meter16 = {"connector_id": 1, "meter_value": [{"timestamp": T0, "sampled_value": [{"value": "5", "unit": "kWh"}]}]}
    assert legacy("MeterValues", meter16) == {"CP_1__1__Energy.Active.Import.Register__Wh": 5000}
    assert values_of("MeterValues", meter16) == {}  # no evse_id: nothing (a 1.6 payload is not 2.0.1's)


# --------------------------------------------------------------------------- limit_obeyed


def power(kind: str, watts: float, timestamp: str, ctx: dict[str, Any]) -> Event:
    sample = {"value": watts, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W"}}
    payload: dict[str, Any] = {"meter_value": meter(sample, timestamp=timestamp)}
    if kind == "TransactionEvent":
        payload |= transaction_event("Updated")
    else:
        payload["evse_id"] = ctx.get("evse_id")
    return Event(run="r", seq=1, cp="CP_1", kind=kind, ts=TS, payload=payload, ctx={**V201, **ctx})


@pytest.mark.parametrize("kind", ["MeterValues", "TransactionEvent"])
def test_limit_obeyed_is_judged_on_2_0_1_meter_values_by_evse(kind: str) -> None:
    watch = LimitWatch(grace_seconds=60)
    watch.accepted("CP_1", 2, 7000.0, TS)
    assert watch.judge(power(kind, 9000, "2026-09-21T14:13:50Z", {"evse_id": 2}), None) == []  # in the grace
    obeyed = watch.judge(power(kind, 7000 * 1.05 + 100, "2026-09-21T14:14:30Z", {"evse_id": 2}), None)
    assert [(v.key, v.value) for v in obeyed] == [("CP_1__2__limit_obeyed", True)]
    exceeded = watch.judge(power(kind, 7.5e3, "2026-09-21T14:14:40Z", {"evse_id": 2}), 1)  # connector is ignored
    assert [(v.key, v.value) for v in exceeded] == [("CP_1__2__limit_obeyed", False)]
    assert watch.judge(power(kind, 9000, "2026-09-21T14:14:40Z", {"evse_id": 1}), None) == []  # no limit there


def test_limit_obeyed_is_not_judged_on_1_6_transaction_events() -> None:
    watch = LimitWatch(grace_seconds=0)
    watch.accepted("CP_1", 0, 1000.0, 0)
    late = power("TransactionEvent", 9000, T0, {"evse_id": 1})
    assert [v.value for v in watch.judge(late, None)] == [False]
    legacy = Event(run="r", seq=1, cp="CP_1", kind=late.kind, ts=TS, payload=late.payload, ctx={"evse_id": 1})
    assert watch.judge(legacy, 1) == []


# --------------------------------------------------------------------------- property: never raises

KINDS = [*sensors201.HANDLERS, "Connected", "Heartbeat", "DataTransfer", "SecurityEventNotification", "Unknown"]
FIELDS = [
    "evse_id",
    "connector_id",
    "evse",
    "id",
    "meter_value",
    "sampled_value",
    "timestamp",
    "value",
    "unit_of_measure",
    "unit",
    "multiplier",
    "measurand",
    "phase",
    "location",
    "context",
    "signed_meter_value",
    "connector_status",
    "event_type",
    "transaction_info",
    "transaction_id",
    "charging_state",
    "stopped_reason",
    "id_token",
    "id_token_status",
    "meter_start",
    "superseded",
    "charging_station",
    "vendor_name",
    "modem",
    "reason",
    "report_data",
    "event_data",
    "component",
    "variable",
    "variable_attribute",
    "name",
    "instance",
    "type",
    "actual_value",
    "charging_limit",
    "charging_limit_source",
    "reservation_update_status",
    "status",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["Ended", "Started", "Updated", "Actual", "kWh", "kW", "Transaction.End", T0, T1, "1e999"]),
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), children, max_size=6)
    ),
    max_leaves=30,
)


def often(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] = SCALARS) -> st.SearchStrategy[Any]:
    """A well-typed value half the time (to reach the paths behind it), else anything (mapped, so
    that hypothesis does not flatten the alternatives into one choice among many)."""
    return st.one_of(good.map(lambda value: value), bad.map(lambda value: value))


EVSE_ID = often(st.integers(0, 3))
TEXT = often(st.sampled_from(["Actual", "Charging", "EMS", "Accepted", "Remote", "x"]))
UNIT_OF_MEASURE = often(
    st.fixed_dictionaries(
        {},
        optional={
            "unit": often(st.sampled_from(["kWh", "Wh", "kW", "W", "A", "V"])),
            "multiplier": often(st.integers(-4, 4)),
        },
    )
)
SAMPLED = st.fixed_dictionaries(
    {"value": often(st.integers() | st.floats(allow_nan=False))},
    optional={
        "unit_of_measure": UNIT_OF_MEASURE,
        "measurand": often(st.sampled_from(["Energy.Active.Import.Register", "Power.Active.Import", "SoC"])),
        "phase": often(st.sampled_from(["L1", "L2-N"])),
        "location": often(st.sampled_from(["Outlet", "Inlet", "EV"])),
        "context": often(st.sampled_from(["Transaction.End", "Sample.Periodic"])),
        "signed_meter_value": JSON,
    },
)
ELEMENT = st.fixed_dictionaries(
    {"timestamp": often(st.just(T0)), "sampled_value": often(st.lists(SAMPLED, min_size=1, max_size=4), JSON)}
)
METER = often(st.lists(often(ELEMENT, JSON), min_size=1, max_size=3), JSON)
NAMED = often(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["EVSE", "SampledDataCtrlr", "Connector", ""])},
        optional={
            "instance": TEXT,
            "evse": often(st.fixed_dictionaries({"id": EVSE_ID}, optional={"connector_id": EVSE_ID})),
        },
    ),
    JSON,
)
ENTRY = st.fixed_dictionaries(
    {
        "component": NAMED,
        "variable": NAMED,
        "variable_attribute": often(
            st.lists(st.fixed_dictionaries({}, optional={"type": TEXT, "value": TEXT}), min_size=1, max_size=3), JSON
        ),
    },
    optional={"actual_value": TEXT},
)
# Well-formed enough to reach each kind's paths, ill-typed anywhere inside.
TRANSACTION_PAYLOAD = st.fixed_dictionaries(
    {},
    optional={
        "evse_id": EVSE_ID,
        "evse": often(st.fixed_dictionaries({"id": EVSE_ID})),
        "meter_value": METER,
        "event_type": often(st.sampled_from(["Started", "Updated", "Ended"])),
        "transaction_info": often(
            st.fixed_dictionaries({"transaction_id": TEXT}, optional={"charging_state": TEXT, "stopped_reason": TEXT})
        ),
        "id_token": often(st.fixed_dictionaries({"id_token": TEXT})),
    },
)
REPORT_PAYLOAD = st.fixed_dictionaries(
    {},
    optional={
        "report_data": often(st.lists(often(ENTRY, JSON), min_size=1, max_size=3), JSON),
        "event_data": often(st.lists(often(ENTRY, JSON), min_size=1, max_size=3), JSON),
    },
)
OTHER_PAYLOAD = st.fixed_dictionaries(
    {},
    optional={
        "evse_id": EVSE_ID,
        "connector_id": EVSE_ID,
        "charging_station": often(
            st.fixed_dictionaries({"vendor_name": TEXT}, optional={"model": TEXT, "modem": JSON})
        ),
        "charging_limit": often(st.fixed_dictionaries({"charging_limit_source": TEXT})),
        "charging_limit_source": TEXT,
        "connector_status": TEXT,
        "reservation_update_status": TEXT,
        "reason": TEXT,
        "id_token": often(st.fixed_dictionaries({"id_token": TEXT})),
    },
)
CTX = st.fixed_dictionaries(
    {},
    optional={
        "evse_id": EVSE_ID,
        "connector_id": EVSE_ID,
        "transaction_id": TEXT,
        "meter_start": often(st.floats(allow_nan=False) | st.integers()),
        "id_token": TEXT,
        "id_token_status": TEXT,
        "superseded": often(st.booleans()),
        "status": TEXT,
    },
)
PAYLOADS = st.one_of(
    TRANSACTION_PAYLOAD,
    REPORT_PAYLOAD,
    OTHER_PAYLOAD,
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), JSON, max_size=8),
)


def check_values(values: list[SensorValue]) -> None:
    for v in values:
        assert isinstance(v, SensorValue)
        assert isinstance(v.key, str) and v.key.startswith("CP_1__")
        assert isinstance(v.timestamp, int) and not isinstance(v.timestamp, bool)
        json.dumps({"value": v.value, "timestamp": v.timestamp}, allow_nan=False)


def event201(kind: str, payload: dict[str, Any], ctx: dict[str, Any], ts: int = TS) -> Event:
    return Event(run="r", seq=1, cp="CP_1", kind=kind, ts=ts, payload=payload, ctx={**ctx, **V201})


@settings(max_examples=examples(400), deadline=None)
@given(
    kind=st.sampled_from(KINDS) | st.text(max_size=10), payload=PAYLOADS, ctx=CTX | PAYLOADS, ts=st.integers(0, 2**42)
)
def test_sensor_values_of_2_0_1_events_never_raise_and_are_json(
    kind: str, payload: dict[str, Any], ctx: dict[str, Any], ts: int
) -> None:
    check_values(sensor_values(event201(kind, payload, ctx, ts)))


@settings(max_examples=examples(400), deadline=None)
@given(kind=st.sampled_from(["MeterValues", "TransactionEvent"]), payload=TRANSACTION_PAYLOAD, ctx=CTX)
def test_meter_and_transaction_paths_never_raise_and_are_json(
    kind: str, payload: dict[str, Any], ctx: dict[str, Any]
) -> None:
    check_values(sensor_values(event201(kind, payload, ctx)))
    watch = LimitWatch(grace_seconds=0)
    watch.accepted("CP_1", 0, 1000.0, 0)
    check_values(watch.judge(event201(kind, payload, ctx), 0))


@settings(max_examples=examples(300), deadline=None)
@given(kind=st.sampled_from(["NotifyReport", "NotifyEvent"]), payload=REPORT_PAYLOAD)
def test_device_model_paths_never_raise_and_are_json(kind: str, payload: dict[str, Any]) -> None:
    check_values(sensor_values(event201(kind, payload, {})))
