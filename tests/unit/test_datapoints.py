"""Unit tests of processes.bridge.sensors: gateway events -> BEMCom sensor values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.bus import Event
from processes.bridge.sensors import (
    SensorValue,
    join_key,
    meter_key,
    parse_ocpp_timestamp,
    sensor_values,
)
from tests.support.depth import examples

TS = 1_790_000_000_000  # receive time of every test event
T0 = "2026-11-24T10:00:00Z"
T0_MS = 1_795_514_400_000
T1 = "2026-11-24T10:05:00.250+01:00"
T1_MS = T0_MS + 5 * 60_000 + 250 - 3_600_000


def event(kind: str, payload: dict[str, Any] | None = None, ctx: dict[str, Any] | None = None) -> Event:
    return Event(run="r", seq=1, cp="CP_1", kind=kind, ts=TS, payload=payload or {}, ctx=ctx or {})


def as_dict(values: list[SensorValue]) -> dict[str, Any]:
    return {v.key: v.value for v in values}


def meter_payload(*sampled: dict[str, Any], timestamp: str = T0, connector_id: int = 1) -> dict[str, Any]:
    return {"connector_id": connector_id, "meter_value": [{"timestamp": timestamp, "sampled_value": list(sampled)}]}


def one_meter_value(**sampled: Any) -> SensorValue:
    values = sensor_values(event("MeterValues", meter_payload(sampled)))
    assert len(values) == 1
    return values[0]


# --------------------------------------------------------------------------- helpers


def test_join_key_joins_parts_verbatim() -> None:
    assert join_key("CP.1 a", 0, "transaction", "id") == "CP.1 a__0__transaction__id"
    assert join_key() == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (T0, T0_MS),
        ("2026-11-24T10:00:00.123Z", T0_MS + 123),
        ("2026-11-24T10:00:00.123456789Z", T0_MS + 123),
        ("2026-11-24T11:00:00+01:00", T0_MS),
        ("2026-11-24T10:00:00", T0_MS),  # no offset: UTC
        ("2026-11-24t10:00:00z", T0_MS),
        (" 2026-11-24T10:00:00Z ", T0_MS),
        ("1969-12-31T23:59:59Z", -1000),
    ],
)
def test_parse_ocpp_timestamp(text: str, expected: int) -> None:
    assert parse_ocpp_timestamp(text, default=7) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-24T23:59:60Z", None, 5])
def test_parse_ocpp_timestamp_falls_back_to_default(text: Any) -> None:
    assert parse_ocpp_timestamp(text, default=7) == 7


# --------------------------------------------------------------------------- connection, boot, heartbeat


def test_connected_and_disconnected() -> None:
    assert sensor_values(event("Connected")) == [SensorValue("CP_1__connected", True, TS)]
    assert sensor_values(event("Disconnected")) == [SensorValue("CP_1__connected", False, TS)]


def test_boot_notification_publishes_each_present_field() -> None:
    payload = {
        "charge_point_vendor": "V",
        "charge_point_model": "M",
        "charge_point_serial_number": "S1",
        "firmware_version": "1.2.3",
        "iccid": "I",
        "imsi": "IM",
        "meter_type": "MT",
        "meter_serial_number": "MS",
        "charge_box_serial_number": "CB",
    }
    values = sensor_values(event("BootNotification", payload))
    assert as_dict(values) == {f"CP_1__BootNotification__{k}": v for k, v in payload.items()}
    assert all(v.timestamp == TS for v in values)


def test_boot_notification_skips_absent_and_ill_typed_fields() -> None:
    values = sensor_values(event("BootNotification", {"charge_point_vendor": "V", "charge_point_model": 5}))
    assert values == [SensorValue("CP_1__BootNotification__charge_point_vendor", "V", TS)]


def test_heartbeat() -> None:
    assert sensor_values(event("Heartbeat")) == [SensorValue("CP_1__Heartbeat", "alive", TS)]


def test_charge_point_id_is_used_verbatim() -> None:
    ev = Event(run="r", seq=1, cp="site A.cp 7", kind="Heartbeat", ts=TS)
    assert sensor_values(ev)[0].key == "site A.cp 7__Heartbeat"


# --------------------------------------------------------------------------- status notification


def test_status_notification_minimal() -> None:
    values = sensor_values(
        event("StatusNotification", {"connector_id": 1, "error_code": "NoError", "status": "Available"})
    )
    assert as_dict(values) == {
        "CP_1__1__StatusNotification__status": "Available",
        "CP_1__1__StatusNotification__error_code": "NoError",
    }


def test_status_notification_all_fields_use_receive_time() -> None:
    payload = {
        "connector_id": 0,
        "error_code": "OtherError",
        "status": "Faulted",
        "info": "hot",
        "timestamp": T0,
        "vendor_id": "ACME",
        "vendor_error_code": "E42",
    }
    values = sensor_values(event("StatusNotification", payload))
    assert as_dict(values) == {
        "CP_1__0__StatusNotification__status": "Faulted",
        "CP_1__0__StatusNotification__error_code": "OtherError",
        "CP_1__0__StatusNotification__info": "hot",
        "CP_1__0__StatusNotification__vendor_id": "ACME",
        "CP_1__0__StatusNotification__vendor_error_code": "E42",
    }
    assert {v.timestamp for v in values} == {TS}


def test_status_notification_without_connector_gives_nothing() -> None:
    assert sensor_values(event("StatusNotification", {"status": "Available", "error_code": "NoError"})) == []
    assert sensor_values(event("StatusNotification", {"connector_id": "x", "status": "Available"})) == []


# --------------------------------------------------------------------------- meter values


def test_meter_value_defaults() -> None:
    assert one_meter_value(value="123") == SensorValue("CP_1__1__Energy.Active.Import.Register__Wh", 123, T0_MS)


def test_meter_value_uses_its_own_timestamp() -> None:
    values = sensor_values(event("MeterValues", meter_payload({"value": "1"}, timestamp=T1)))
    assert values[0].timestamp == T1_MS


def test_meter_value_unparseable_timestamp_falls_back_to_receive_time() -> None:
    values = sensor_values(event("MeterValues", meter_payload({"value": "1"}, timestamp="garbage")))
    assert values[0].timestamp == TS


def test_meter_value_number_types() -> None:
    assert one_meter_value(value="12").value == 12
    assert type(one_meter_value(value="12").value) is int
    assert one_meter_value(value="123.4").value == 123.4
    assert type(one_meter_value(value="123.4").value) is float
    assert one_meter_value(value="-0.5").value == -0.5
    assert one_meter_value(value="1e3").value == 1000


@pytest.mark.parametrize(
    ("unit", "value", "key_unit", "expected"),
    [
        ("kW", "1.2345", "W", 1234.5),
        ("kWh", "1.2345", "Wh", 1234.5),
        ("kWh", "12", "Wh", 12000),
        ("kWh", "0.001", "Wh", 1),
        ("kvar", "2.5", "var", 2500),
        ("kvarh", "0.1", "varh", 100),
        ("kVA", "11", "VA", 11000),
        ("W", "1.2345", "W", 1.2345),
        ("Wh", "7", "Wh", 7),
        ("varh", "7", "varh", 7),
        ("var", "7", "var", 7),
        ("VA", "7", "VA", 7),
        ("V", "230.1", "V", 230.1),
        ("A", "16", "A", 16),
        ("Celsius", "21.5", "Celsius", 21.5),
        ("Fahrenheit", "70", "Fahrenheit", 70),
        ("K", "300", "K", 300),
        ("Percent", "80", "Percent", 80),
    ],
)
def test_meter_value_unit_normalisation(unit: str, value: str, key_unit: str, expected: float) -> None:
    sv = one_meter_value(value=value, measurand="Power.Active.Import", unit=unit)
    assert sv.key == f"CP_1__1__Power.Active.Import__{key_unit}"
    assert sv.value == expected
    assert type(sv.value) is type(expected)


def test_kwh_scaling_is_exact() -> None:
    sv = one_meter_value(value="1.2345", unit="kWh")
    assert sv.key == "CP_1__1__Energy.Active.Import.Register__Wh"
    assert sv.value == 1234.5
    assert repr(sv.value) == "1234.5"
    assert one_meter_value(value="0.1", unit="kWh").value == 100
    assert type(one_meter_value(value="0.1", unit="kWh").value) is int
    assert repr(one_meter_value(value="1.1", unit="kW").value) == "1100"


def test_meter_value_phase_and_location_parts() -> None:
    sv = one_meter_value(value="230", measurand="Voltage", phase="L1-N", location="Outlet", unit="V")
    assert sv.key == "CP_1__1__Voltage__L1-N__V"
    sv = one_meter_value(value="16", measurand="Current.Import", phase="L2", location="Inlet", unit="A")
    assert sv.key == "CP_1__1__Current.Import__L2__Inlet__A"
    sv = one_meter_value(value="25", measurand="Temperature", location="Body", unit="Celsius")
    assert sv.key == "CP_1__1__Temperature__Body__Celsius"
    sv = one_meter_value(value="5", location="EV", measurand="SoC", unit="Percent")
    assert sv.key == "CP_1__1__SoC__EV__Percent"


def test_meter_value_context_does_not_change_the_key() -> None:
    sv = one_meter_value(value="5", context="Transaction.Begin", format="Raw")
    assert sv == SensorValue("CP_1__1__Energy.Active.Import.Register__Wh", 5, T0_MS)


def test_signed_data_is_published_as_received_string() -> None:
    sv = one_meter_value(value="0123456789", format="SignedData", unit="kWh")
    assert sv == SensorValue("CP_1__1__Energy.Active.Import.Register__Wh", "0123456789", T0_MS)


@pytest.mark.parametrize("text", ["abc", "", "NaN", "nan", "inf", "-Infinity", "1e999", "1_000", "12 kWh"])
def test_non_numbers_are_published_as_strings(text: str) -> None:
    sv = one_meter_value(value=text, unit="kWh")
    assert sv.value == text
    json.dumps(sv.value, allow_nan=False)


def test_every_sampled_value_of_every_element_in_order() -> None:
    payload = {
        "connector_id": 2,
        "transaction_id": 5,
        "meter_value": [
            {
                "timestamp": T0,
                "sampled_value": [
                    {"value": "1000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "11", "measurand": "Power.Active.Import", "unit": "kW"},
                ],
            },
            {"timestamp": T1, "sampled_value": [{"value": "1001"}]},
        ],
    }
    values = sensor_values(event("MeterValues", payload))
    assert values == [
        SensorValue("CP_1__2__Energy.Active.Import.Register__Wh", 1000, T0_MS),
        SensorValue("CP_1__2__Power.Active.Import__W", 11000, T0_MS),
        SensorValue("CP_1__2__Energy.Active.Import.Register__Wh", 1001, T1_MS),
    ]


def test_meter_values_use_the_connector_resolved_by_the_gateway() -> None:
    payload = meter_payload({"value": "1"}, connector_id=0) | {"transaction_id": 5}
    assert sensor_values(event("MeterValues", payload, {"connector_id": 3}))[0].key.startswith("CP_1__3__")
    assert sensor_values(event("MeterValues", payload, {"connector_id": None}))[0].key.startswith("CP_1__0__")
    assert sensor_values(event("MeterValues", payload))[0].key.startswith("CP_1__0__")


def test_ill_typed_sampled_values_are_skipped_alone() -> None:
    payload = meter_payload(
        {"value": "1", "unit": 5},
        {"value": None},
        {"unit": "Wh"},
        {"value": "2", "phase": ["L1"]},
        {"value": "3", "measurand": "Voltage", "unit": "V"},
    )
    payload["meter_value"].append("not a dict")
    payload["meter_value"].append({"timestamp": T0, "sampled_value": "nope"})
    assert sensor_values(event("MeterValues", payload)) == [SensorValue("CP_1__1__Voltage__V", 3, T0_MS)]


# --------------------------------------------------------------------------- transactions


def test_start_transaction() -> None:
    payload = {"connector_id": 1, "id_tag": "TAG", "meter_start": 1000, "timestamp": T0, "reservation_id": 3}
    values = sensor_values(event("StartTransaction", payload, {"transaction_id": 17}))
    assert as_dict(values) == {
        "CP_1__1__transaction__id": 17,
        "CP_1__1__transaction__id_tag": "TAG",
        "CP_1__1__transaction__meter_start": 1000,
        "CP_1__1__transaction__active": True,
        "CP_1__1__Energy.Active.Import.Register__Wh": 1000,
    }
    stamps = {v.key: v.timestamp for v in values}
    assert stamps["CP_1__1__Energy.Active.Import.Register__Wh"] == T0_MS
    assert stamps["CP_1__1__transaction__id"] == TS
    assert stamps["CP_1__1__transaction__active"] == TS


def test_start_transaction_without_transaction_id() -> None:
    values = sensor_values(
        event("StartTransaction", {"connector_id": 2, "id_tag": "T", "meter_start": 0, "timestamp": T0})
    )
    assert "CP_1__2__transaction__id" not in as_dict(values)
    assert as_dict(values)["CP_1__2__transaction__active"] is True


def test_stop_transaction() -> None:
    payload = {"meter_stop": 5000, "timestamp": T1, "transaction_id": 17, "reason": "EVDisconnected", "id_tag": "TAG"}
    values = sensor_values(event("StopTransaction", payload, {"connector_id": 1, "meter_start": 1000}))
    assert as_dict(values) == {
        "CP_1__1__transaction__id": 17,
        "CP_1__1__transaction__id_tag": "TAG",
        "CP_1__1__transaction__meter_stop": 5000,
        "CP_1__1__transaction__energy": 4000,
        "CP_1__1__transaction__reason": "EVDisconnected",
        "CP_1__1__transaction__active": False,
    }
    assert {v.timestamp for v in values} == {TS}


def test_stop_transaction_defaults_reason_to_local() -> None:
    values = sensor_values(event("StopTransaction", {"meter_stop": 5, "timestamp": T1, "transaction_id": 1}))
    assert as_dict(values)["CP_1__0__transaction__reason"] == "Local"


def test_stop_transaction_with_unknown_connector_and_meter_start() -> None:
    payload = {"meter_stop": 5000, "timestamp": T1, "transaction_id": 99}
    values = as_dict(sensor_values(event("StopTransaction", payload, {"connector_id": None, "meter_start": None})))
    assert values == {
        "CP_1__0__transaction__id": 99,
        "CP_1__0__transaction__meter_stop": 5000,
        "CP_1__0__transaction__reason": "Local",
        "CP_1__0__transaction__active": False,
    }


def test_stop_transaction_publishes_transaction_data() -> None:
    payload = {
        "meter_stop": 5000,
        "timestamp": T1,
        "transaction_id": 17,
        "transaction_data": [
            {"timestamp": T0, "sampled_value": [{"value": "1", "unit": "kWh", "context": "Transaction.Begin"}]},
            {"timestamp": T1, "sampled_value": [{"value": "5", "unit": "kWh", "context": "Transaction.End"}]},
        ],
    }
    values = sensor_values(event("StopTransaction", payload, {"connector_id": 2, "meter_start": 1000}))
    meter = [v for v in values if "Energy" in v.key]
    assert meter == [
        SensorValue("CP_1__2__Energy.Active.Import.Register__Wh", 1000, T0_MS),
        SensorValue("CP_1__2__Energy.Active.Import.Register__Wh", 5000, T1_MS),
    ]


# --------------------------------------------------------------------------- other messages


def test_authorize() -> None:
    assert sensor_values(event("Authorize", {"id_tag": "X"})) == [SensorValue("CP_1__Authorize__id_tag", "X", TS)]


@pytest.mark.parametrize("kind", ["DiagnosticsStatusNotification", "FirmwareStatusNotification"])
def test_status_messages(kind: str) -> None:
    assert sensor_values(event(kind, {"status": "Uploaded"})) == [SensorValue(f"CP_1__{kind}__status", "Uploaded", TS)]


def test_data_transfer_with_message_id() -> None:
    values = sensor_values(event("DataTransfer", {"vendor_id": "V", "message_id": "M", "data": "hello"}))
    assert values == [SensorValue("CP_1__DataTransfer__V__M", "hello", TS)]


def test_data_transfer_without_message_id_or_data() -> None:
    assert sensor_values(event("DataTransfer", {"vendor_id": "V"})) == [SensorValue("CP_1__DataTransfer__V", "", TS)]


def test_data_transfer_non_string_data_is_json_text() -> None:
    values = sensor_values(event("DataTransfer", {"vendor_id": "V", "data": {"a": [1, 2]}}))
    assert json.loads(values[0].value) == {"a": [1, 2]}


def test_data_transfer_without_vendor_id_gives_nothing() -> None:
    assert sensor_values(event("DataTransfer", {"message_id": "M", "data": "x"})) == []


@pytest.mark.parametrize("kind", ["Reset", "SomethingNew", "", "RemoteStartTransaction"])
def test_unknown_kinds_give_nothing(kind: str) -> None:
    assert sensor_values(event(kind, {"status": "Accepted"})) == []


# --------------------------------------------------------------------------- property: never raises

KINDS = [
    "Connected",
    "Disconnected",
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "StartTransaction",
    "StopTransaction",
    "Authorize",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "DataTransfer",
    "Unknown",
]
FIELDS = [
    "connector_id",
    "transaction_id",
    "meter_value",
    "transaction_data",
    "sampled_value",
    "timestamp",
    "value",
    "unit",
    "measurand",
    "phase",
    "location",
    "format",
    "context",
    "status",
    "error_code",
    "info",
    "vendor_id",
    "message_id",
    "data",
    "id_tag",
    "meter_start",
    "meter_stop",
    "reason",
    "charge_point_vendor",
]
UNITS = ["kW", "kWh", "kvar", "kvarh", "kVA", "W", "Wh", "Celsius", "Percent"]
NUMERIC_TEXT = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(str),
    st.integers().map(str),
    st.sampled_from(["1e308", "9e999", "-0", "0.000001", " 5 ", "1e-999999"]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    NUMERIC_TEXT,
    st.sampled_from([*UNITS, T0, T1, "SignedData", "Outlet"]),
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)
SAMPLED = st.fixed_dictionaries(
    {"value": NUMERIC_TEXT | SCALARS},
    optional={k: SCALARS for k in ["unit", "measurand", "phase", "location", "format", "context"]},
) | st.dictionaries(st.sampled_from(["value", "unit", "measurand", "phase", "location", "format"]), SCALARS)
METER_ELEMENTS = st.lists(
    st.fixed_dictionaries({"timestamp": SCALARS, "sampled_value": st.lists(SAMPLED, min_size=1, max_size=4) | JSON})
    | JSON,
    max_size=3,
)
CONNECTOR = st.integers(-1, 3) | st.integers(0, 3) | SCALARS
# Well-formed enough to reach the meter value paths, ill-typed anywhere inside.
STRUCTURED = st.fixed_dictionaries(
    {"connector_id": CONNECTOR},
    optional={
        "meter_value": METER_ELEMENTS,
        "transaction_data": METER_ELEMENTS,
        "transaction_id": st.integers(0, 100) | SCALARS,
        "meter_start": st.integers() | SCALARS,
        "meter_stop": st.integers() | SCALARS,
        "timestamp": SCALARS,
        "reason": SCALARS,
        "id_tag": SCALARS,
    },
)
CTX = st.fixed_dictionaries(
    {},
    optional={"connector_id": CONNECTOR, "transaction_id": st.integers(0, 100) | SCALARS, "meter_start": SCALARS},
)
PAYLOADS = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), JSON, max_size=8),
    st.dictionaries(st.sampled_from(FIELDS), SCALARS | METER_ELEMENTS, max_size=10),
    STRUCTURED,
    CTX,
)


@settings(max_examples=examples(400), deadline=None)
@given(kind=st.sampled_from(KINDS) | st.text(max_size=10), payload=PAYLOADS, ctx=PAYLOADS, ts=st.integers(0, 2**42))
def test_sensor_values_never_raise_and_are_json(
    kind: str, payload: dict[str, Any], ctx: dict[str, Any], ts: int
) -> None:
    check_values(sensor_values(Event(run="r", seq=1, cp="CP_1", kind=kind, ts=ts, payload=payload, ctx=ctx)))


def check_values(values: list[SensorValue]) -> None:
    for v in values:
        assert isinstance(v, SensorValue)
        assert isinstance(v.key, str) and v.key.startswith("CP_1__")
        assert isinstance(v.timestamp, int) and not isinstance(v.timestamp, bool)
        json.dumps({"value": v.value, "timestamp": v.timestamp}, allow_nan=False)


@settings(max_examples=examples(400), deadline=None)
@given(
    kind=st.sampled_from(["MeterValues", "StartTransaction", "StopTransaction"]),
    payload=STRUCTURED,
    ctx=CTX,
    ts=st.integers(0, 2**42),
)
def test_meter_paths_never_raise_and_are_json(kind: str, payload: dict[str, Any], ctx: dict[str, Any], ts: int) -> None:
    check_values(sensor_values(Event(run="r", seq=1, cp="CP_1", kind=kind, ts=ts, payload=payload, ctx=ctx)))


@pytest.mark.parametrize(
    ("measurand", "unit"),
    [
        ("Energy.Active.Import.Register", "Wh"),
        ("Energy.Active.Export.Interval", "Wh"),
        ("Power.Active.Import", "W"),
        ("Power.Offered", "W"),
        ("Power.Reactive.Import", "var"),
        ("Power.Factor", "factor"),
        ("Current.Import", "A"),
        ("Current.Offered", "A"),
        ("Voltage", "V"),
        ("SoC", "Percent"),
        ("Temperature", "Celsius"),
        ("Frequency", "Hz"),
        ("RPM", "RPM"),
    ],
)
def test_a_sampled_value_without_unit_gets_the_unit_of_its_measurand(measurand: str, unit: str) -> None:
    # OCPP 1.6 defaults the unit to Wh only for Energy measurands.
    assert meter_key("CP", 1, {"measurand": measurand}) == (f"CP__1__{measurand}__{unit}", 0)
