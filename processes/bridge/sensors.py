"""Gateway events -> BEMCom sensor values, by the key scheme of DATAPOINTS.md: one function
per event kind; meter values are mapped by ``meter_values.py``.

Pure functions, no I/O but log lines. :func:`sensor_values` never raises for any payload or
ctx dict: a missing or ill-typed field skips only the values that depend on it, and unknown
event kinds give no values. Every produced value is JSON (str, int, finite float, bool).

Events of an OCPP 2.0.1 charge point (``ctx["ocpp"] == "2.0.1"``) go to the 2.0.1 table: the
version-neutral kinds share the 1.6 handlers, the rest are ``sensors201.py``'s. Every other
event (1.6, and events journaled before 2.0.1 support, without ``ocpp``) to the 1.6 table.

Key parts are used verbatim and joined with ``__``. Non-meter sensors carry the time the
message was received (``event.ts``); meter values carry their meterValue's own timestamp.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from common.bus import CONNECTED, DISCONNECTED, LOCAL_LIST, ONBOARDED, Event
from processes.bridge import sensors201
from processes.bridge.meter_values import (
    DEFAULT_MEASURAND,
    DEFAULT_UNIT,
    SEPARATOR,
    SensorValue,
    as_int,
    configuration_text,
    data_text,
    join_key,
    meter_key,
    meter_number,
    meter_values,
    optional_text,
    parse_ocpp_timestamp,
)

__all__ = [
    "SEPARATOR",
    "SensorValue",
    "configuration_text",
    "data_text",
    "join_key",
    "meter_key",
    "meter_number",
    "parse_ocpp_timestamp",
    "sensor_values",
]

log = logging.getLogger(__name__)

# OCPP 1.6 default of StopTransaction.reason.
DEFAULT_STOP_REASON = "Local"


BOOT_FIELDS = (
    "charge_point_vendor",
    "charge_point_model",
    "charge_point_serial_number",
    "charge_box_serial_number",
    "firmware_version",
    "iccid",
    "imsi",
    "meter_type",
    "meter_serial_number",
)
STATUS_FIELDS = ("status", "error_code", "info", "vendor_id", "vendor_error_code")


def _connector_id(value: object) -> int | None:
    connector = as_int(value)
    return connector if connector is not None and connector >= 0 else None


def _dict(value: object) -> Mapping[Any, Any]:
    return value if isinstance(value, dict) else {}


def _received_ts(event: Event) -> int:
    ts = event.ts
    if isinstance(ts, float) and math.isfinite(ts):
        return int(ts)
    return ts if isinstance(ts, int) and not isinstance(ts, bool) else 0


def _strings(
    prefix: tuple[object, ...], payload: Mapping[Any, Any], fields: tuple[str, ...], ts: int
) -> list[SensorValue]:
    """The string fields among ``fields`` present in ``payload``, keyed ``prefix__field``."""
    return [
        SensorValue(join_key(*prefix, name), payload[name], ts) for name in fields if isinstance(payload.get(name), str)
    ]


# --------------------------------------------------------------------------- event kinds

_Handler = Callable[[Event, Mapping[Any, Any], Mapping[Any, Any], int], list[SensorValue]]


def _connected(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    values = [SensorValue(join_key(event.cp, "connected"), event.kind == CONNECTED, ts)]
    protocol = payload.get("protocol")
    if event.kind == CONNECTED and isinstance(protocol, str) and protocol:
        values.append(SensorValue(join_key(event.cp, "protocol"), protocol, ts))
    return values


def _boot(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    return _strings((event.cp, "BootNotification"), payload, BOOT_FIELDS, ts)


def _heartbeat(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    return [SensorValue(join_key(event.cp, "Heartbeat"), "alive", ts)]


def _status(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    connector = _connector_id(payload.get("connector_id"))
    if connector is None:
        return []
    return _strings((event.cp, connector, "StatusNotification"), payload, STATUS_FIELDS, ts)


def _meter(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    connector = _connector_id(ctx.get("connector_id"))
    if connector is None:
        connector = _connector_id(payload.get("connector_id"))
    if connector is None:
        return []
    return meter_values(event.cp, connector, payload.get("meter_value"), ts)


def _start(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    connector = _connector_id(ctx.get("connector_id"))
    if connector is None:
        connector = _connector_id(payload.get("connector_id"))
    if connector is None:
        return []
    prefix = (event.cp, connector, "transaction")
    values: list[SensorValue] = []
    transaction_id = as_int(ctx.get("transaction_id"))
    if transaction_id is not None:
        values.append(SensorValue(join_key(*prefix, "id"), transaction_id, ts))
    values += _strings(prefix, payload, ("id_tag",), ts)
    values += _strings(prefix, ctx, ("id_tag_status",), ts)  # the answer to the id tag
    meter_start = as_int(payload.get("meter_start"))
    if meter_start is not None:
        values.append(SensorValue(join_key(*prefix, "meter_start"), meter_start, ts))
    values.append(SensorValue(join_key(*prefix, "active"), True, ts))
    if meter_start is not None:
        meter_ts = parse_ocpp_timestamp(payload.get("timestamp"), ts)
        key = join_key(event.cp, connector, DEFAULT_MEASURAND, DEFAULT_UNIT)
        values.append(SensorValue(key, meter_start, meter_ts))
    return values


def _stop(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    connector = _connector_id(ctx.get("connector_id"))
    if connector is None:
        connector = 0  # transaction unknown to the gateway: the charge point as a whole
    record = _stop_record(payload, ctx)
    samples = meter_values(event.cp, connector, payload.get("transaction_data"), ts)
    if ctx.get("superseded") is True:
        # A newer transaction started on the connector before this stop arrived: the connector's
        # transaction keys stay the newer one's. The samples are the connector's meter at their
        # own times, published as usual (an older one never becomes a topic's retained value).
        figures = ", ".join(f"{name} {value}" for name, value in record.items())
        log.info(
            "%s: late StopTransaction of transaction %s on connector %s, superseded by a newer one there (%s);"
            " the connector's transaction keys keep the newer transaction",
            event.cp,
            payload.get("transaction_id"),
            connector,
            figures,
        )
        return samples
    prefix = (event.cp, connector, "transaction")
    values = [SensorValue(join_key(*prefix, name), value, ts) for name, value in record.items()]
    return [*values, SensorValue(join_key(*prefix, "active"), False, ts), *samples]


def _stop_record(payload: Mapping[Any, Any], ctx: Mapping[Any, Any]) -> dict[str, Any]:
    """The transaction fields a StopTransaction reports, by key part (``id``, ``meter_stop`` ...)."""
    record: dict[str, Any] = {}
    transaction_id = as_int(payload.get("transaction_id"))
    if transaction_id is not None:
        record["id"] = transaction_id
    if isinstance(payload.get("id_tag"), str):
        record["id_tag"] = payload["id_tag"]
    meter_stop = as_int(payload.get("meter_stop"))
    if meter_stop is not None:
        record["meter_stop"] = meter_stop
        meter_start = as_int(ctx.get("meter_start"))
        if meter_start is not None:
            record["energy"] = meter_stop - meter_start
    ok, reason = optional_text(payload.get("reason"))
    if ok:
        record["reason"] = reason if reason is not None else DEFAULT_STOP_REASON
    return record


def _authorize(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    values = _strings((event.cp, "Authorize"), payload, ("id_tag",), ts)
    return values + _strings((event.cp, "Authorize"), ctx, ("status",), ts)  # the answer


def _status_only(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    return _strings((event.cp, event.kind), payload, ("status",), ts)


def _data_transfer(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    vendor_id = payload.get("vendor_id")
    ok, message_id = optional_text(payload.get("message_id"))
    if not isinstance(vendor_id, str) or not ok:
        return []
    parts = (event.cp, "DataTransfer", vendor_id) + ((message_id,) if message_id is not None else ())
    return [SensorValue(join_key(*parts), data_text(payload.get("data")), ts)]


def _configuration(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    """Every key of a GetConfiguration result (onboarding's), as ``{cp}__configuration__{key}``."""
    entries = payload.get("configuration_key")
    if not isinstance(entries, list):
        return []
    return [
        SensorValue(join_key(event.cp, "configuration", entry["key"]), configuration_text(entry.get("value")), ts)
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("key"), str) and entry["key"]
    ]


def _onboarding(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    return _strings((event.cp,), {"onboarding": payload.get("status")}, ("onboarding",), ts)


def _local_list(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    return _strings((event.cp,), {"local_list": payload.get("status")}, ("local_list",), ts)


def _failsafe(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    active = payload.get("active")
    return [SensorValue(join_key(event.cp, "failsafe"), active, ts)] if isinstance(active, bool) else []


SECURITY_EVENT_FIELDS = ("type", "timestamp", "tech_info")


def _security_event(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    return _strings((event.cp, "SecurityEventNotification"), payload, SECURITY_EVENT_FIELDS, ts)


_HANDLERS: dict[str, _Handler] = {
    CONNECTED: _connected,
    DISCONNECTED: _connected,
    "BootNotification": _boot,
    "Heartbeat": _heartbeat,
    "StatusNotification": _status,
    "MeterValues": _meter,
    "StartTransaction": _start,
    "StopTransaction": _stop,
    "Authorize": _authorize,
    "DiagnosticsStatusNotification": _status_only,
    "FirmwareStatusNotification": _status_only,
    "DataTransfer": _data_transfer,
    "GetConfiguration": _configuration,
    ONBOARDED: _onboarding,
    LOCAL_LIST: _local_list,
    "Failsafe": _failsafe,
    "SecurityEventNotification": _security_event,
    "SignedFirmwareStatusNotification": _status_only,
    "LogStatusNotification": _status_only,
}


#: Kinds whose payload and sensors do not depend on the OCPP version (the gateway's own events,
#: and messages 2.0.1 kept as 1.6 had them).
VERSION_NEUTRAL = (
    CONNECTED,
    DISCONNECTED,
    ONBOARDED,
    LOCAL_LIST,
    "Failsafe",
    "GetConfiguration",
    "Heartbeat",
    "DataTransfer",
    "SecurityEventNotification",
    "FirmwareStatusNotification",
    "LogStatusNotification",
)

_HANDLERS_201: dict[str, _Handler] = {
    **{kind: _HANDLERS[kind] for kind in VERSION_NEUTRAL},
    "PublishFirmwareStatusNotification": _status_only,
    **sensors201.HANDLERS,
}

_V201 = sensors201.V201


def sensor_values(event: Event) -> list[SensorValue]:
    """The BEMCom sensor values of one gateway event (``[]`` for kinds without sensors)."""
    ctx = _dict(event.ctx)
    handlers = _HANDLERS_201 if ctx.get("ocpp") == _V201 else _HANDLERS
    handler = handlers.get(event.kind) if isinstance(event.kind, str) else None
    if handler is None:
        return []
    return handler(event, _dict(event.payload), ctx, _received_ts(event))
