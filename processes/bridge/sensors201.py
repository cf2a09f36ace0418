"""Events of an OCPP 2.0.1 charge point -> BEMCom sensor values (DATAPOINTS.md, the 2.0.1 rows;
``docs/datapoints.md``, "OCPP 2.0.1 charge points"). ``{c}`` is the ``evseId``.

Only the kinds whose payload differs from 1.6 are here; ``sensors.py`` dispatches the events of
a 2.0.1 charge point (``ctx["ocpp"] == "2.0.1"``) and shares its 1.6 handlers for the
version-neutral kinds (Connected, Heartbeat, DataTransfer, SecurityEventNotification, ...).

The same guarantees as the 1.6 mapping: pure functions, no I/O but log lines, never raising for
any payload or ctx; a missing or ill-typed field skips only the values that depend on it;
every value is JSON. Meter values carry their meterValue's own timestamp, everything else the
time the message was received.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from common.bus import Event
from common.device_model import variable_key
from processes.bridge.meter_values import (
    SensorValue,
    as_int,
    configuration_text,
    end_register_201,
    join_key,
    meter_values_201,
    optional_text,
    parse_decimal,
    to_json_number,
)

log = logging.getLogger(__name__)

#: ``common.schemas.V201``, the value of ``ctx["ocpp"]`` on every event of a 2.0.1 charge point
#: (not imported from there: the bridge does not load the OCPP library and its schemas).
V201 = "2.0.1"

#: OCPP 2.0.1 (TransactionType.stoppedReason): "If the reason is absent, the reason is Local".
DEFAULT_STOPPED_REASON = "Local"
#: TransactionEvent.eventType -> the transaction's ``active`` key.
ACTIVE_BY_EVENT_TYPE = {"Started": True, "Updated": True, "Ended": False}
#: BootNotification's ``charging_station`` fields -> the 1.6 key parts (the same facts).
BOOT_FIELDS = (
    ("vendor_name", "charge_point_vendor"),
    ("model", "charge_point_model"),
    ("serial_number", "charge_point_serial_number"),
    ("firmware_version", "firmware_version"),
)
MODEM_FIELDS = ("iccid", "imsi")
#: ``transaction__energy`` is rounded to this (Wh): meters resolve 0.1 Wh at best.
ENERGY_RESOLUTION = Decimal("0.001")
#: The attribute type of a device-model variable's value (OCPP 2.0.1: absent means Actual).
ACTUAL = "Actual"

Handler = Callable[[Event, Mapping[Any, Any], Mapping[Any, Any], int], list[SensorValue]]


def _dict(value: object) -> Mapping[Any, Any]:
    return value if isinstance(value, dict) else {}


def _evse(value: object) -> int | None:
    evse = as_int(value)
    return evse if evse is not None and evse >= 0 else None


def _text(prefix: tuple[object, ...], name: str, value: object, ts: int) -> list[SensorValue]:
    return [SensorValue(join_key(*prefix, name), value, ts)] if isinstance(value, str) else []


def evse_of(kind: str, payload: Mapping[Any, Any], ctx: Mapping[Any, Any]) -> int | None:
    """The EVSE an event's meter values and transaction keys belong to: the gateway's ``evse_id``,
    else the payload's (``evse_id``; TransactionEvent: ``evse.id``, and 0, the charging station
    as a whole, when no event of the transaction named one). ``None`` when none is usable."""
    evse = _evse(ctx.get("evse_id"))
    if evse is not None:
        return evse
    if kind == "TransactionEvent":
        named = _dict(payload.get("evse")).get("id")
        return _evse(named) if named is not None else 0
    return _evse(payload.get("evse_id"))


# --------------------------------------------------------------------------- event kinds


def _boot(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    prefix = (event.cp, "BootNotification")
    station = _dict(payload.get("charging_station"))
    modem = _dict(station.get("modem"))
    values = [value for field, name in BOOT_FIELDS for value in _text(prefix, name, station.get(field), ts)]
    values += [value for name in MODEM_FIELDS for value in _text(prefix, name, modem.get(name), ts)]
    return values + _text(prefix, "reason", payload.get("reason"), ts)


def _status(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    """``{cp}__{evse}__StatusNotification__connector_status``: connector 1's status (the only
    connector of most EVSEs); any other connector of the EVSE adds ``__{connectorId}``."""
    evse = _evse(ctx.get("evse_id"))
    if evse is None:
        evse = _evse(payload.get("evse_id"))
    connector = _evse(ctx.get("connector_id"))
    if connector is None:
        connector = _evse(payload.get("connector_id"))
    if evse is None or connector is None:
        return []
    parts: tuple[object, ...] = (event.cp, evse, "StatusNotification", "connector_status")
    if connector != 1:
        parts += (connector,)
    status = payload.get("connector_status")
    return [SensorValue(join_key(*parts), status, ts)] if isinstance(status, str) else []


def _meter(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    evse = evse_of("MeterValues", payload, ctx)
    if evse is None:
        return []
    return meter_values_201(event.cp, evse, payload.get("meter_value"), ts)


def _transaction(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    evse = evse_of("TransactionEvent", payload, ctx)
    if evse is None:
        return []
    elements = payload.get("meter_value")
    samples = meter_values_201(event.cp, evse, elements, ts)
    info = _dict(payload.get("transaction_info"))
    transaction_id = info.get("transaction_id")
    if not isinstance(transaction_id, str):
        transaction_id = ctx.get("transaction_id")
    if ctx.get("superseded") is True:
        # A newer transaction started on the EVSE since: its transaction keys stay the newer
        # one's. The samples are the EVSE's meter at their own times, published as usual.
        log.info(
            "%s: late TransactionEvent %s of transaction %s on EVSE %s, superseded by a newer one there;"
            " the EVSE's transaction keys keep the newer transaction",
            event.cp,
            payload.get("event_type"),
            transaction_id,
            evse,
        )
        return samples
    prefix = (event.cp, evse, "transaction")
    event_type = payload.get("event_type")
    ended = event_type == "Ended"
    learnt = ctx.get("evse_learnt") is True
    # An Updated repeats what Started said (id, active, token): only what it adds is published,
    # unless it is the first event to name the transaction's EVSE.
    repeats = event_type == "Updated" and not learnt
    values = [] if repeats else _text(prefix, "id", transaction_id, ts)
    if learnt:
        # Its earlier events named no EVSE and went to EVSE 0: that transaction is not EVSE 0's.
        values.append(SensorValue(join_key(event.cp, 0, "transaction", "active"), False, ts))
    values += _text(prefix, "charging_state", info.get("charging_state"), ts)
    if ended:
        ok, reason = optional_text(info.get("stopped_reason"))
        if ok:
            reason = reason if reason is not None else DEFAULT_STOPPED_REASON
            values.append(SensorValue(join_key(*prefix, "stopped_reason"), reason, ts))
    id_token = _dict(payload.get("id_token")).get("id_token")
    if isinstance(id_token, str) or not repeats:
        values += _text(prefix, "id_token", id_token if isinstance(id_token, str) else ctx.get("id_token"), ts)
    values += _text(prefix, "id_token_status", ctx.get("id_token_status"), ts)  # the answer to the id token
    if ended:
        energy = _energy(end_register_201(event.cp, evse, elements), ctx.get("meter_start"))
        if energy is not None:
            values.append(SensorValue(join_key(*prefix, "energy"), energy, ts))
    active = ACTIVE_BY_EVENT_TYPE.get(event_type) if isinstance(event_type, str) else None
    if active is not None and not repeats:
        values.append(SensorValue(join_key(*prefix, "active"), active, ts))
    return values + samples


def _energy(register: object, meter_start: object) -> int | float | None:
    """Wh delivered: the register at the end minus the one the transaction started with, to the
    mWh (the gateway's start register is a float product: ``12.3456 kWh`` is ``12345.599999999999``)."""
    end = parse_decimal(register)
    start = parse_decimal(meter_start) if not isinstance(meter_start, str) else None
    if end is None or start is None:
        return None
    energy = end - start
    with contextlib.suppress(InvalidOperation):  # beyond 28 digits: as it is
        energy = energy.quantize(ENERGY_RESOLUTION)
    return to_json_number(energy)


def _authorize(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    prefix = (event.cp, "Authorize")
    values = _text(prefix, "id_tag", _dict(payload.get("id_token")).get("id_token"), ts)
    return values + _text(prefix, "status", ctx.get("status"), ts)  # the answer


def _key(component: object, variable: object) -> str | None:
    """The device-model key of a component and variable, ``None`` when they do not name one."""
    if not isinstance(component, dict) or not isinstance(variable, dict):
        return None
    try:
        return variable_key(component, variable)
    except (ValueError, TypeError):
        return None


def _report(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    """Every variable of a NotifyReport with an Actual attribute, as ``{cp}__configuration__{key}``."""
    entries = payload.get("report_data")
    if not isinstance(entries, list):
        return []
    values = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        key = _key(entry.get("component"), entry.get("variable"))
        attributes = entry.get("variable_attribute")
        if key is None or not isinstance(attributes, list):
            continue
        for attribute in attributes:
            if isinstance(attribute, dict) and attribute.get("type", ACTUAL) in (ACTUAL, None):
                value = configuration_text(attribute.get("value"))
                values.append(SensorValue(join_key(event.cp, "configuration", key), value, ts))
                break
    return values


def _notify_event(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    """``{cp}__NotifyEvent__{key}`` = the ``actual_value`` of each event_data entry, in order."""
    entries = payload.get("event_data")
    if not isinstance(entries, list):
        return []
    values = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("actual_value"), str):
            key = _key(entry.get("component"), entry.get("variable"))
            if key is not None:
                values.append(SensorValue(join_key(event.cp, "NotifyEvent", key), entry["actual_value"], ts))
    return values


def _limit_evse(payload: Mapping[Any, Any]) -> int | None:
    named = payload.get("evse_id")
    return 0 if named is None else _evse(named)


def _charging_limit(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    """``{cp}__{evse}__charging_limit_source``: the source of the external limit reported."""
    evse = _limit_evse(payload)
    source = _dict(payload.get("charging_limit")).get("charging_limit_source")
    if evse is None:
        return []
    return _text((event.cp, evse), "charging_limit_source", source, ts)


def _cleared_limit(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    """``{cp}__{evse}__charging_limit_source`` = ``""``: no external limit any more."""
    evse = _limit_evse(payload)
    return [] if evse is None else [SensorValue(join_key(event.cp, evse, "charging_limit_source"), "", ts)]


def _reservation(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    return _text((event.cp, "ReservationStatusUpdate"), "status", payload.get("reservation_update_status"), ts)


#: The 2.0.1 kinds mapped differently from 1.6 (``sensors.py`` adds the version-neutral ones).
HANDLERS: dict[str, Handler] = {
    "BootNotification": _boot,
    "StatusNotification": _status,
    "MeterValues": _meter,
    "TransactionEvent": _transaction,
    "Authorize": _authorize,
    "NotifyReport": _report,
    "NotifyEvent": _notify_event,
    "NotifyChargingLimit": _charging_limit,
    "ClearedChargingLimit": _cleared_limit,
    "ReservationStatusUpdate": _reservation,
}
