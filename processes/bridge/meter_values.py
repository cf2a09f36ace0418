"""OCPP meter values -> BEMCom sensor values (DATAPOINTS.md, "MeterValues rules"), and the
sensor value itself with the helpers every event kind's mapping uses (``sensors.py``,
``sensors201.py``). OCPP 1.6 and 2.0.1 sampled values share the key scheme and normalisation;
2.0.1 names its unit in ``unit_of_measure`` with a ``multiplier`` (value x 10**multiplier).

Pure functions, no I/O, never raising for any field: an ill-typed field skips only the values
that depend on it. Meter values carry their meterValue's own OCPP timestamp; units are
normalised (kWh -> Wh, ...) exactly.
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
SIGNED_DATA = "SignedData"

# Scaled units -> (base unit, power of ten of the factor).
UNIT_SCALING: dict[str, tuple[str, int]] = {
    "kW": ("W", 3),
    "kWh": ("Wh", 3),
    "kvar": ("var", 3),
    "kvarh": ("varh", 3),
    "kVA": ("VA", 3),
}

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


def configuration_text(value: object) -> str:
    """A configuration value as text ("" when the charge point reported none)."""
    return "" if value is None else value if isinstance(value, str) else data_text(value)


def optional_text(value: object) -> tuple[bool, str | None]:
    """``(ok, text)`` of an optional string field: absent/None -> ``(True, None)``;
    a string -> ``(True, text)``; anything else -> ``(False, None)``."""
    if value is None:
        return True, None
    if isinstance(value, str):
        return True, value
    return False, None


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
    located = _METER_KEYS[fields] = _meter_key(*fields)
    return located


def meter_key_of(
    cp: object, connector: int, measurand: object, phase: object, location: object, unit: object
) -> tuple[str, int] | None:
    """:func:`meter_key` from the fields themselves (OCPP 2.0.1 keeps the unit elsewhere)."""
    fields = (cp, connector, measurand, phase, location, unit)
    try:
        return _METER_KEYS[fields]
    except KeyError:
        pass
    except TypeError:  # an unhashable field: ill-typed
        return None
    if len(_METER_KEYS) >= 100_000:
        _METER_KEYS.clear()
    located = _METER_KEYS[fields] = _meter_key(*fields)
    return located


def _meter_key(
    cp: object, connector: int, raw_measurand: object, raw_phase: object, raw_location: object, raw_unit: object
) -> tuple[str, int] | None:
    ok_measurand, measurand = optional_text(raw_measurand)
    ok_phase, phase = optional_text(raw_phase)
    ok_location, location = optional_text(raw_location)
    ok_unit, unit = optional_text(raw_unit)
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


def _iter_meter_values(
    cp: object,
    connector: int,
    elements: object,
    default_ts: int,
    read: Callable[[object, int, Mapping[Any, Any], int], SensorValue | None] | None = None,
) -> Iterator[SensorValue]:
    """The sensor values of MeterValue elements; ``read``: one sampled value (1.6's by default)."""
    read = read or sampled_value
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
                value = read(cp, connector, sampled, ts)
                if value is not None:
                    yield value


# --------------------------------------------------------------------------- OCPP 2.0.1 meter values

#: A 2.0.1 ``unitOfMeasure.multiplier`` beyond this magnitude scales no real reading: the sample
#: is skipped as ill-typed (and Decimal exponents stay small).
MAX_MULTIPLIER = 1000
#: The context of the register reading a 2.0.1 transaction ended with.
TRANSACTION_END = "Transaction.End"


def sampled_value_201(cp: object, connector: int, sampled: Mapping[Any, Any], ts: int) -> SensorValue | None:
    """One OCPP 2.0.1 SampledValue as a sensor value: the 1.6 key and normalisation, the unit
    from ``unit_of_measure.unit`` and the value scaled by ``10**unit_of_measure.multiplier``.
    ``signed_meter_value`` is not published (the value beside it is)."""
    get = sampled.get
    unit_of_measure = get("unit_of_measure")
    unit: object = None
    multiplier: int | None = 0
    if isinstance(unit_of_measure, dict):
        unit = unit_of_measure.get("unit")
        raw_multiplier = unit_of_measure.get("multiplier")
        multiplier = 0 if raw_multiplier is None else as_int(raw_multiplier)
    elif unit_of_measure is not None:
        return None
    if multiplier is None or abs(multiplier) > MAX_MULTIPLIER:
        return None
    located = meter_key_of(cp, connector, get("measurand"), get("phase"), get("location"), unit)
    raw = get("value")
    if located is None or raw is None:
        return None
    key, power = located
    power += multiplier
    if power == 0 and type(raw) is int and -_MAX_EXACT_INT <= raw <= _MAX_EXACT_INT:
        return SensorValue(key, raw, ts)  # the common case: an integral reading in its base unit
    number = meter_number(raw, power)
    if number is not None:
        return SensorValue(key, number, ts)
    return SensorValue(key, raw, ts) if isinstance(raw, str) else None


def meter_values_201(cp: object, connector: int, elements: object, default_ts: int) -> list[SensorValue]:
    """Every 2.0.1 SampledValue of every MeterValue element, in order, each with its element's timestamp."""
    return list(_iter_meter_values(cp, connector, elements, default_ts, sampled_value_201))


def end_register_201(cp: object, connector: int, elements: object) -> int | float | None:
    """The ``Energy.Active.Import.Register`` (Wh, whole charge point side: no phase, location
    Outlet) a 2.0.1 transaction ended with: the last such reading with context
    ``Transaction.End``, else the last such reading of ``elements``; ``None`` when there is none."""
    register_key = join_key(cp, connector, DEFAULT_MEASURAND, DEFAULT_UNIT)
    last: int | float | None = None
    at_end: int | float | None = None
    if not isinstance(elements, list):
        return None
    for element in elements:
        samples = element.get("sampled_value") if isinstance(element, dict) else None
        if not isinstance(samples, list):
            continue
        for sampled in samples:
            if not isinstance(sampled, dict):
                continue
            value = sampled_value_201(cp, connector, sampled, 0)
            if value is None or value.key != register_key or isinstance(value.value, str):
                continue
            last = value.value
            if sampled.get("context") == TRANSACTION_END:
                at_end = value.value
    return at_end if at_end is not None else last
