"""Gateway events -> BEMCom sensor values, by the key scheme of DATAPOINTS.md.

Pure functions, no I/O. :func:`sensor_values` never raises for any payload or ctx dict:
a missing or ill-typed field skips only the values that depend on it, and unknown event
kinds give no values. Every produced value is JSON (str, int, finite float, bool).

Key parts are used verbatim and joined with ``__``. Non-meter sensors carry the time the
message was received (``event.ts``); meter values carry their meterValue's own timestamp.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from common.bus import CONNECTED, DISCONNECTED, Event

SEPARATOR = "__"

# OCPP 1.6 defaults for absent SampledValue fields.
DEFAULT_MEASURAND = "Energy.Active.Import.Register"
DEFAULT_UNIT = "Wh"
#: OCPP 1.6 (SampledValue.unit): "Default = Wh if the (default) measurand is an Energy type". For
#: the other measurands it defines no default, so a charge point that leaves the unit out gets the
#: unit the measurand is measured in (Frequency, Power.Factor and RPM have no OCPP unit at all).
UNIT_BY_MEASURAND_PREFIX = (
    ("Energy.", DEFAULT_UNIT),
    ("Power.Factor", "factor"),
    ("Power.Reactive.", "var"),
    ("Power.", "W"),
    ("Current.", "A"),
    ("Voltage", "V"),
    ("SoC", "Percent"),
    ("Temperature", "Celsius"),
    ("Frequency", "Hz"),
    ("RPM", "RPM"),
)


def default_unit(measurand: str) -> str:
    """The unit of a sampled value that names none (see UNIT_BY_MEASURAND_PREFIX)."""
    for prefix, unit in UNIT_BY_MEASURAND_PREFIX:
        if measurand.startswith(prefix):
            return unit
    return DEFAULT_UNIT


DEFAULT_LOCATION = "Outlet"
# OCPP 1.6 default of StopTransaction.reason.
DEFAULT_STOP_REASON = "Local"
SIGNED_DATA = "SignedData"

# Scaled units -> (base unit, power of ten of the factor).
UNIT_SCALING: dict[str, tuple[str, int]] = {
    "kW": ("W", 3),
    "kWh": ("Wh", 3),
    "kvar": ("var", 3),
    "kvarh": ("varh", 3),
    "kVA": ("VA", 3),
}

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

_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,6})?\s*", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_MAX_FLOAT_EXPONENT = 308
# Integral values up to this magnitude become ints (exact in a float / JavaScript number).
_MAX_EXACT_INT = 2**53


@dataclass(frozen=True, slots=True)
class SensorValue:
    """One value for BEMCom: ``{"value": value, "timestamp": timestamp}`` on the key's topic."""

    key: str
    value: Any  # JSON-typed: number, str, bool, None
    timestamp: int  # ms since epoch UTC


# --------------------------------------------------------------------------- helpers


def join_key(*parts: object) -> str:
    """A BEMCom key: the parts, verbatim, joined with ``__``."""
    return SEPARATOR.join(str(part) for part in parts)


def parse_ocpp_timestamp(text: object, default: int) -> int:
    """An ISO 8601 / RFC 3339 date-time as ms since epoch (UTC if it has no offset); ``default``
    when ``text`` is not a string or cannot be parsed."""
    if not isinstance(text, str):
        return default
    try:
        moment = datetime.fromisoformat(text.strip().upper())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - _EPOCH) // _MILLISECOND
    except (ValueError, OverflowError, TypeError):
        return default


def normalise_unit(unit: str) -> tuple[str, int]:
    """``(base unit, power of ten)``: ``kWh`` -> ``("Wh", 3)``; other units stay as they are."""
    return UNIT_SCALING.get(unit, (unit, 0))


def as_int(value: object) -> int | None:
    """An int from an int or an integral finite float; ``None`` for anything else (bool too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def parse_decimal(value: object) -> Decimal | None:
    """A finite Decimal from a plain decimal numeral (``"12"``, ``"-1.5e3"``) or a finite
    int/float; ``None`` for anything else (``"NaN"``, ``"inf"``, ``""``, signed data...)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if _NUMBER.fullmatch(value) is None:
            return None
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value))
    return None


def scale_decimal(number: Decimal, power: int) -> Decimal:
    """``number * 10**power``, exactly (no rounding to the context's precision)."""
    if power == 0 or not number.is_finite():
        return number
    sign, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):
        return number
    return Decimal((sign, digits, exponent + power))


def to_json_number(number: Decimal) -> int | float | None:
    """An int when ``number`` is integral (and within +-2**53), else the nearest float; ``None``
    when it does not fit a finite float."""
    if not number.is_finite() or number.adjusted() > _MAX_FLOAT_EXPONENT:
        return None
    approx = float(number)
    if not math.isfinite(approx):
        return None
    if number == number.to_integral_value() and abs(number) <= _MAX_EXACT_INT:
        return int(number)
    return approx


def meter_number(raw: object, power: int) -> int | float | None:
    """The numeric value of a sampled value's ``value`` scaled by ``10**power``, or ``None``."""
    if power == 0 and type(raw) is str and 0 < len(raw) <= 15 and raw.isdigit() and raw.isascii():
        return int(raw)  # a plain integer (most meter readings): what the exact path gives
    number = parse_decimal(raw)
    if number is None:
        return None
    return to_json_number(scale_decimal(number, power))


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


def _optional(value: object) -> tuple[bool, str | None]:
    """``(ok, text)`` of an optional string field: absent/None -> ``(True, None)``;
    a string -> ``(True, text)``; anything else -> ``(False, None)``."""
    if value is None:
        return True, None
    if isinstance(value, str):
        return True, value
    return False, None


def _strings(
    prefix: tuple[object, ...], payload: Mapping[Any, Any], fields: tuple[str, ...], ts: int
) -> list[SensorValue]:
    """The string fields among ``fields`` present in ``payload``, keyed ``prefix__field``."""
    return [
        SensorValue(join_key(*prefix, name), payload[name], ts) for name in fields if isinstance(payload.get(name), str)
    ]


# --------------------------------------------------------------------------- meter values


#: meter_key's answers by (charge point, connector, measurand, phase, location, unit); bounded.
_METER_KEYS: dict[tuple[object, ...], tuple[str, int] | None] = {}


def meter_key(cp: object, connector: int, sampled: Mapping[Any, Any]) -> tuple[str, int] | None:
    """``(key, power of ten to scale by)`` of a SampledValue, ``None`` when a field is ill-typed
    (remembered: a charge point reports the same few every interval)."""
    get = sampled.get
    fields = (cp, connector, get("measurand"), get("phase"), get("location"), get("unit"))
    try:
        return _METER_KEYS[fields]
    except KeyError:
        pass
    except TypeError:  # an unhashable field (a list where a string belongs): ill-typed
        return None
    if len(_METER_KEYS) >= 100_000:
        _METER_KEYS.clear()
    located = _METER_KEYS[fields] = _meter_key(cp, connector, sampled)
    return located


def _meter_key(cp: object, connector: int, sampled: Mapping[Any, Any]) -> tuple[str, int] | None:
    ok_measurand, measurand = _optional(sampled.get("measurand"))
    ok_phase, phase = _optional(sampled.get("phase"))
    ok_location, location = _optional(sampled.get("location"))
    ok_unit, unit = _optional(sampled.get("unit"))
    if not (ok_measurand and ok_phase and ok_location and ok_unit):
        return None
    measurand = measurand if measurand is not None else DEFAULT_MEASURAND
    base_unit, power = normalise_unit(unit if unit is not None else default_unit(measurand))
    parts: list[object] = [cp, connector, measurand]
    if phase is not None:
        parts.append(phase)
    if location is not None and location != DEFAULT_LOCATION:
        parts.append(location)
    parts.append(base_unit)
    return join_key(*parts), power


def sampled_value(cp: object, connector: int, sampled: Mapping[Any, Any], ts: int) -> SensorValue | None:
    """One SampledValue as a sensor value: a number in the normalised unit, or the string as
    received when it is signed data or not a finite number."""
    located = meter_key(cp, connector, sampled)
    raw = sampled.get("value")
    if located is None or raw is None:
        return None
    key, power = located
    if sampled.get("format") != SIGNED_DATA:
        number = meter_number(raw, power)
        if number is not None:
            return SensorValue(key, number, ts)
    return SensorValue(key, raw, ts) if isinstance(raw, str) else None


def meter_values(cp: object, connector: int, elements: object, default_ts: int) -> list[SensorValue]:
    """Every SampledValue of every MeterValue element, in order, each with its element's timestamp."""
    return list(_iter_meter_values(cp, connector, elements, default_ts))


def _iter_meter_values(cp: object, connector: int, elements: object, default_ts: int) -> Iterator[SensorValue]:
    if not isinstance(elements, list):
        return
    for element in elements:
        if not isinstance(element, dict):
            continue
        ts = parse_ocpp_timestamp(element.get("timestamp"), default_ts)
        samples = element.get("sampled_value")
        if not isinstance(samples, list):
            continue
        for sampled in samples:
            if isinstance(sampled, dict):
                value = sampled_value(cp, connector, sampled, ts)
                if value is not None:
                    yield value


# --------------------------------------------------------------------------- event kinds

_Handler = Callable[[Event, Mapping[Any, Any], Mapping[Any, Any], int], list[SensorValue]]


def _connected(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    return [SensorValue(join_key(event.cp, "connected"), event.kind == CONNECTED, ts)]


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
    prefix = (event.cp, connector, "transaction")
    values: list[SensorValue] = []
    transaction_id = as_int(payload.get("transaction_id"))
    if transaction_id is not None:
        values.append(SensorValue(join_key(*prefix, "id"), transaction_id, ts))
    values += _strings(prefix, payload, ("id_tag",), ts)
    meter_stop = as_int(payload.get("meter_stop"))
    if meter_stop is not None:
        values.append(SensorValue(join_key(*prefix, "meter_stop"), meter_stop, ts))
        meter_start = as_int(ctx.get("meter_start"))
        if meter_start is not None:
            values.append(SensorValue(join_key(*prefix, "energy"), meter_stop - meter_start, ts))
    ok, reason = _optional(payload.get("reason"))
    if ok:
        values.append(
            SensorValue(join_key(*prefix, "reason"), reason if reason is not None else DEFAULT_STOP_REASON, ts)
        )
    values.append(SensorValue(join_key(*prefix, "active"), False, ts))
    return values + meter_values(event.cp, connector, payload.get("transaction_data"), ts)


def _authorize(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    return _strings((event.cp, "Authorize"), payload, ("id_tag",), ts)


def _status_only(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    return _strings((event.cp, event.kind), payload, ("status",), ts)


def _data_transfer(event: Event, payload: Mapping[Any, Any], ctx: Mapping[Any, Any], ts: int) -> list[SensorValue]:
    vendor_id = payload.get("vendor_id")
    ok, message_id = _optional(payload.get("message_id"))
    if not isinstance(vendor_id, str) or not ok:
        return []
    parts = (event.cp, "DataTransfer", vendor_id) + ((message_id,) if message_id is not None else ())
    return [SensorValue(join_key(*parts), data_text(payload.get("data")), ts)]


def data_text(data: object) -> str:
    """DataTransfer data as text: strings as they are, ``""`` when absent, anything else as JSON."""
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=repr)
    except (TypeError, ValueError, RecursionError):
        return repr(data)


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
}


def sensor_values(event: Event) -> list[SensorValue]:
    """The BEMCom sensor values of one gateway event (``[]`` for kinds without sensors)."""
    handler = _HANDLERS.get(event.kind) if isinstance(event.kind, str) else None
    if handler is None:
        return []
    return handler(event, _dict(event.payload), _dict(event.ctx), _received_ts(event))
