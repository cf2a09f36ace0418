"""Unit tests of processes.bridge.datapoint_state.DatapointState: known keys, datapoint map, publications."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.bemcom_topics import Topics
from common.bus import Event
from common.mqtt import to_json
from processes.bridge.datapoint_state import DatapointState, Publication, sensor_json
from processes.bridge.sensors import SensorValue, meter_number

T0 = 1_790_000_000_000


def state() -> DatapointState:
    return DatapointState(Topics("ocpp-connector"))


def datapoint_map(sensor: dict[str, str] | None = None, actuator: dict[str, str] | None = None) -> bytes:
    return json.dumps({"sensor": sensor or {}, "actuator": actuator or {}}).encode()


def value(key: str, data: Any, ts: int) -> SensorValue:
    return SensorValue(key, data, ts)


def take_dirty(s: DatapointState) -> bool:
    """Whether ``available_datapoints`` must be published, resetting the flag as the bridge does."""
    dirty, s.dirty = s.dirty, False
    return dirty


# --------------------------------------------------------------------------- topics


def test_topics() -> None:
    topics = Topics("site-1")
    assert topics.heartbeat == "site-1/heartbeat"
    assert topics.logs == "site-1/logs"
    assert topics.available_datapoints == "site-1/available_datapoints"
    assert topics.datapoint_map == "site-1/datapoint_map"
    assert topics.raw_message_to_db == "site-1/raw_message_to_db"


# --------------------------------------------------------------------------- keys


def test_new_state_is_clean_and_empty() -> None:
    s = state()
    assert s.dirty is False
    assert s.available_datapoints() == {"sensor": {}, "actuator": {}}


def test_learning_keys_sets_dirty_once() -> None:
    s = state()
    s.learn_sensor("CP_1__connected", True)
    assert take_dirty(s)
    s.learn_sensor("CP_1__connected", False)  # known: nothing changes
    assert not take_dirty(s)
    s.learn_actuator("CP_1__execute_reset", "Soft")
    assert take_dirty(s)
    s.learn_actuator("CP_1__execute_reset", "Hard")
    assert not take_dirty(s)
    assert s.available_datapoints() == {
        "sensor": {"CP_1__connected": True},
        "actuator": {"CP_1__execute_reset": "Soft"},
    }


def test_available_datapoints_is_a_copy() -> None:
    s = state()
    s.learn_sensor("a", 1)
    published = s.available_datapoints()
    published["sensor"]["b"] = 2
    assert "b" not in s.sensors


def test_recording_a_value_learns_its_key() -> None:
    s = state()
    assert s.record(value("CP_1__Heartbeat", "alive", T0)) is None  # not mapped: not published
    assert s.dirty
    assert s.available_datapoints()["sensor"] == {"CP_1__Heartbeat": "alive"}


def test_restore_merges_without_overwriting() -> None:
    s = state()
    s.learn_sensor("CP_1__connected", True)
    s.learn_actuator("CP_1__execute_reset", "Soft")
    take_dirty(s)
    retained = {
        "sensor": {"CP_1__connected": "old", "CP_2__connected": False},
        "actuator": {"CP_1__execute_reset": "old", "CP_2__execute_reset": "Hard"},
    }
    s.restore(json.dumps(retained).encode())
    assert s.available_datapoints() == {
        "sensor": {"CP_1__connected": True, "CP_2__connected": False},
        "actuator": {"CP_1__execute_reset": "Soft", "CP_2__execute_reset": "Hard"},
    }
    assert take_dirty(s)


def test_restore_of_known_keys_only_is_not_dirty() -> None:
    s = state()
    s.learn_sensor("a", 1)
    take_dirty(s)
    s.restore(b'{"sensor": {"a": 2}}')
    assert not take_dirty(s)
    assert s.sensors == {"a": 1}


def test_restore_ignores_parts_that_are_not_objects() -> None:
    s = state()
    s.restore(b'{"sensor": ["a"], "actuator": "b", "other": {"c": 1}}')
    assert s.available_datapoints() == {"sensor": {}, "actuator": {}}


@pytest.mark.parametrize("payload", [b"", b"not json", b"[]", b'"text"', b"\xff\xfe"])
def test_restore_rejects_garbage(payload: bytes) -> None:
    s = state()
    with pytest.raises(ValueError, match="available_datapoints"):
        s.restore(payload)


# --------------------------------------------------------------------------- datapoint map


def test_apply_datapoint_map_publishes_last_values_of_newly_mapped_keys() -> None:
    s = state()
    s.record(value("CP_1__connected", True, T0))
    s.record(value("CP_1__Heartbeat", "alive", T0 + 5))
    publications, subscribe, unsubscribe = s.apply_datapoint_map(
        datapoint_map(sensor={"CP_1__connected": "bemcom/s/1", "CP_1__never_seen": "bemcom/s/2"})
    )
    assert publications == [Publication("bemcom/s/1", {"value": True, "timestamp": T0}, s.SENSOR_QOS, True)]
    assert subscribe == set()
    assert unsubscribe == set()
    assert s.sensor_map == {"CP_1__connected": "bemcom/s/1", "CP_1__never_seen": "bemcom/s/2"}


def test_apply_same_map_again_publishes_nothing() -> None:
    s = state()
    s.record(value("k", 1, T0))
    payload = datapoint_map(sensor={"k": "bemcom/s/1"})
    assert len(s.apply_datapoint_map(payload)[0]) == 1
    assert s.apply_datapoint_map(payload) == ([], set(), set())


def test_remapped_key_is_published_on_its_new_topic() -> None:
    s = state()
    s.record(value("k", 1, T0))
    s.apply_datapoint_map(datapoint_map(sensor={"k": "bemcom/s/1"}))
    publications, _, _ = s.apply_datapoint_map(datapoint_map(sensor={"k": "bemcom/s/9"}))
    assert [p.topic for p in publications] == ["bemcom/s/9"]


def test_actuator_topics_to_subscribe_and_unsubscribe() -> None:
    s = state()
    _, subscribe, unsubscribe = s.apply_datapoint_map(
        datapoint_map(actuator={"bemcom/a/1": "CP_1__execute_reset", "bemcom/a/2": "CP_1__0__execute_trigger_message"})
    )
    assert subscribe == {"bemcom/a/1", "bemcom/a/2"}
    assert unsubscribe == set()
    _, subscribe, unsubscribe = s.apply_datapoint_map(
        datapoint_map(actuator={"bemcom/a/2": "CP_1__0__execute_trigger_message", "bemcom/a/3": "CP_1__execute_reset"})
    )
    assert subscribe == {"bemcom/a/3"}
    assert unsubscribe == {"bemcom/a/1"}
    assert s.actuator_map == {"bemcom/a/2": "CP_1__0__execute_trigger_message", "bemcom/a/3": "CP_1__execute_reset"}
    _, subscribe, unsubscribe = s.apply_datapoint_map(b"{}")
    assert subscribe == set()
    assert unsubscribe == {"bemcom/a/2", "bemcom/a/3"}
    assert s.actuator_map == {}
    assert s.sensor_map == {}


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"\xff",
        b"[]",
        b"42",
        b'{"sensor": ["a"]}',
        b'{"sensor": {"k": 1}}',
        b'{"sensor": {"k": null}}',
        b'{"actuator": {"t": {"key": "k"}}}',
        b'{"sensor": {"k": "t"}, "actuator": "all"}',
    ],
)
def test_garbage_maps_raise_and_keep_the_old_map(payload: bytes) -> None:
    s = state()
    s.record(value("k", 1, T0))
    s.apply_datapoint_map(datapoint_map(sensor={"k": "bemcom/s/1"}, actuator={"bemcom/a/1": "CP_1__execute_reset"}))
    with pytest.raises(ValueError, match="datapoint_map"):
        s.apply_datapoint_map(payload)
    assert s.sensor_map == {"k": "bemcom/s/1"}
    assert s.actuator_map == {"bemcom/a/1": "CP_1__execute_reset"}


# --------------------------------------------------------------------------- publications


def test_values_of_unmapped_keys_are_not_published() -> None:
    s = state()
    s.apply_datapoint_map(datapoint_map(sensor={"mapped": "bemcom/s/1"}))
    assert s.record(value("unmapped", 5, T0)) is None
    assert s.last["unmapped"] == value("unmapped", 5, T0)
    assert s.record(value("mapped", 6, T0)) == Publication(
        "bemcom/s/1", {"value": 6, "timestamp": T0}, s.SENSOR_QOS, True
    )


def test_late_value_is_published_but_not_retained() -> None:
    s = state()
    s.apply_datapoint_map(datapoint_map(sensor={"k": "bemcom/s/1"}))
    newest = s.record(value("k", 20, T0 + 60_000))
    late = s.record(value("k", 10, T0))
    same_time = s.record(value("k", 21, T0 + 60_000))
    newer = s.record(value("k", 30, T0 + 120_000))
    assert newest is not None
    assert late is not None
    assert same_time is not None
    assert newer is not None
    assert (newest.retain, late.retain, same_time.retain, newer.retain) == (True, False, True, True)
    assert late.payload == {"value": 10, "timestamp": T0}
    assert s.last["k"] == value("k", 30, T0 + 120_000)


def test_late_value_does_not_replace_the_last_value() -> None:
    s = state()
    s.record(value("k", 20, T0 + 60_000))
    s.record(value("k", 10, T0))
    assert s.last["k"].value == 20
    publications, _, _ = s.apply_datapoint_map(datapoint_map(sensor={"k": "bemcom/s/1"}))
    assert publications == [Publication("bemcom/s/1", {"value": 20, "timestamp": T0 + 60_000}, s.SENSOR_QOS, True)]


def test_apply_event_publishes_mapped_values_only() -> None:
    s = state()
    s.apply_datapoint_map(datapoint_map(sensor={"CP.1__connected": "bemcom/s/connected"}))
    event = Event(run="r", seq=1, cp="CP.1", kind="Connected", ts=T0)
    publications = s.apply_event(event)
    assert publications == [Publication("bemcom/s/connected", {"value": True, "timestamp": T0}, s.SENSOR_QOS, True)]
    assert "CP.1__connected" in s.available_datapoints()["sensor"]


def test_nan_is_not_json_so_a_restored_copy_with_nan_is_refused() -> None:
    state = DatapointState(Topics("cn"))
    with pytest.raises(ValueError, match="NaN is not JSON"):
        state.restore(b'{"sensor": {"k": NaN}, "actuator": {}}')
    assert state.sensors == {}


def test_a_charge_point_inventing_keys_is_capped_and_others_are_not_affected() -> None:
    from common.bus import Event
    from processes.bridge import datapoint_state

    state = DatapointState(Topics("cn"))

    def transfer(cp: str, message_id: int) -> Event:
        payload = {"vendor_id": "V", "message_id": str(message_id), "data": "x"}
        return Event(run="r", seq=message_id, cp=cp, kind="DataTransfer", ts=1, payload=payload)

    for number in range(datapoint_state.MAX_KEYS_PER_CHARGE_POINT + 50):
        state.apply_event(transfer("NOISY", number))
    noisy = [key for key in state.sensors if key.startswith("NOISY__")]
    assert len(noisy) == datapoint_state.MAX_KEYS_PER_CHARGE_POINT
    assert state.refused_keys == 50
    state.apply_event(transfer("NOISY", 0))  # a known key still gets its values
    state.apply_event(transfer("QUIET", 1))
    assert "QUIET__DataTransfer__V__1" in state.sensors


@given(
    value=st.one_of(
        st.integers(),
        st.floats(),
        st.text(),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=3),
    ),
    timestamp=st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)),
)
def test_sensor_payloads_written_directly_are_exactly_what_the_json_encoder_writes(value: Any, timestamp: Any) -> None:
    payload = {"value": value, "timestamp": timestamp}
    try:
        expected = to_json(payload)
    except ValueError:  # NaN or infinity: refused either way, never published
        with pytest.raises(ValueError):
            sensor_json(payload)
        return
    assert sensor_json(payload) == expected


def test_a_meter_reading_as_an_integer_string_keeps_its_exact_value() -> None:
    assert meter_number("7360", 0) == 7360 and type(meter_number("7360", 0)) is int
    assert meter_number("0012", 0) == 12
    assert meter_number("123456789012345678", 0) == 1.2345678901234568e17  # beyond 2**53: a float, as ever
    assert meter_number("²", 0) is None  # a Unicode digit is not a numeral
    assert meter_number("16.0", 0) == 16 and type(meter_number("16.0", 0)) is int
    assert meter_number("7", 3) == 7000
