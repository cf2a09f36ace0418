"""Unit tests of a late StopTransaction of a superseded transaction (processes.bridge.sensors and
DatapointState): the gateway marks it ``superseded`` in the event's ctx when a newer transaction
started on its connector; the connector's transaction keys then stay the newer one's."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from common.bemcom_topics import Topics
from common.bus import Event
from processes.bridge.datapoint_state import DatapointState
from processes.bridge.sensors import sensor_values

TS = 1_790_000_000_000
OLD_SAMPLE = "2026-09-21T13:00:00Z"  # during the superseded transaction
START_NEWER = "2026-09-21T14:00:00Z"
TRANSACTION_KEYS = ("id", "id_tag", "meter_stop", "energy", "reason", "active")


def event(kind: str, payload: dict[str, Any], ctx: dict[str, Any], ts: int = TS) -> Event:
    return Event(run="r", seq=1, cp="CP_1", kind=kind, ts=ts, payload=payload, ctx=ctx)


def late_stop(superseded: Any = True) -> Event:
    payload = {
        "transaction_id": 5,
        "meter_stop": 5000,
        "timestamp": OLD_SAMPLE,
        "reason": "EVDisconnected",
        "id_tag": "OLD",
        "transaction_data": [
            {
                "timestamp": OLD_SAMPLE,
                "sampled_value": [{"value": "5000", "measurand": "Energy.Active.Import.Register"}],
            }
        ],
    }
    ctx: dict[str, Any] = {"connector_id": 1, "meter_start": 1000}
    if superseded is not None:
        ctx["superseded"] = superseded
    return event("StopTransaction", payload, ctx, ts=TS + 60_000)


def test_a_superseded_stop_publishes_no_transaction_key_of_the_connector() -> None:
    keys = {value.key for value in sensor_values(late_stop())}
    assert keys == {"CP_1__1__Energy.Active.Import.Register__Wh"}


def test_its_meter_samples_keep_their_own_timestamp() -> None:
    [sample] = sensor_values(late_stop())
    assert sample.value == 5000
    assert sample.timestamp == sensor_values(late_stop(superseded=None))[-1].timestamp < TS


@pytest.mark.parametrize("superseded", [None, False, "true", 1])
def test_without_the_ctx_flag_a_stop_is_the_connector_s_current_state(superseded: Any) -> None:
    values = {value.key: value.value for value in sensor_values(late_stop(superseded))}
    assert {f"CP_1__1__transaction__{name}" for name in TRANSACTION_KEYS} <= set(values)
    assert values["CP_1__1__transaction__active"] is False
    assert values["CP_1__1__transaction__energy"] == 4000


def test_a_superseded_stop_is_logged_at_info_with_its_figures(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, "processes.bridge.sensors"):
        sensor_values(late_stop())
    [record] = caplog.records
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert message.startswith("CP_1: late StopTransaction of transaction 5 on connector 1, superseded")
    assert "meter_stop 5000, energy 4000, reason EVDisconnected" in message


def test_the_newer_transaction_stays_active_and_retained_on_its_topics() -> None:
    state = DatapointState(Topics("ocpp-connector"))
    keys = [f"CP_1__1__transaction__{name}" for name in ("active", "id")] + [
        "CP_1__1__Energy.Active.Import.Register__Wh"
    ]
    state.apply_datapoint_map(json.dumps({"sensor": {key: f"t/{key}" for key in keys}, "actuator": {}}).encode())
    start = {"connector_id": 1, "id_tag": "NEW", "meter_start": 7000, "timestamp": START_NEWER}
    state.apply_event(event("StartTransaction", start, {"connector_id": 1, "transaction_id": 6}))
    publications = state.apply_event(late_stop())
    [sample] = publications  # only the meter sample of the old transaction ...
    assert sample.topic == "t/CP_1__1__Energy.Active.Import.Register__Wh"
    assert sample.payload["value"] == 5000
    assert sample.retain is False  # ... older than the newer meterStart retained there: not retained
    assert state.last["CP_1__1__transaction__active"].value is True
    assert state.last["CP_1__1__transaction__id"].value == 6
    assert state.last["CP_1__1__Energy.Active.Import.Register__Wh"].value == 7000
