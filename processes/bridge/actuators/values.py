"""Actuator values as BEMCom delivers them (any JSON type) -> the numbers, times and power
limits the plans are made of, or :class:`InvalidValue` saying why a value does not fit."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from processes.bridge.actuators.plan import Context

MAX_POWER_W = 10_000_000.0  # 10 MW: above any charge point; keeps the arithmetic finite
LATEST_TIMESTAMP_MS = 4_102_444_800_000  # 2100-01-01


class InvalidValue(ValueError):
    """The actuator value does not fit; the message says why."""


def as_number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise InvalidValue(f"{what} must be a number, not {json.dumps(value)}")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            raise InvalidValue(f"{what} is out of range") from None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except (ValueError, OverflowError):
            raise InvalidValue(f"{what} must be a number, got {value!r}") from None
    else:
        raise InvalidValue(f"{what} must be a number, got {json.dumps(value)[:60]}")
    if not math.isfinite(number):
        raise InvalidValue(f"{what} must be a finite number")
    return number


def timestamp_ms(value: Any, what: str) -> int:
    """A BEMCom timestamp (ms since the epoch), between 1970 and 2100."""
    number = as_number(value, what)
    if not 0 <= number <= LATEST_TIMESTAMP_MS:
        raise InvalidValue(f"{what} must be milliseconds since 1970 (up to the year 2100), got {number:g}")
    return int(number)


def one_decimal(number: float) -> float | int:
    """Rounded down to 0.1 (the schema's multipleOf), an int when whole (11000, not 11000.0)."""
    tenths = math.floor(round(number * 10, 6))
    return tenths // 10 if tenths % 10 == 0 else tenths / 10


def power_limit(watts: float, context: Context) -> tuple[str, float | int, dict[str, Any]]:
    """(charging rate unit, limit rounded down to 0.1, extra period fields), fitted to the charge
    point: never above what was written, 0 (a pause) below its minimum current."""
    if not 0 <= watts <= MAX_POWER_W:
        raise InvalidValue(f"a power limit must be from 0 to {MAX_POWER_W:g} W, got {watts:g} W")
    amperes = watts / (context.voltage * context.phases)
    if amperes < context.facts.min_current:
        watts = amperes = 0.0
    if context.rate_unit == "A":
        return "A", one_decimal(amperes), {"numberPhases": context.phases}
    return "W", one_decimal(watts), {}


def no_limit_watts(context: Context) -> float:
    """A period without limit: the charge point's maximum current, in W."""
    return context.facts.max_current * context.voltage * context.phases


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def removes_limit(value: Any) -> bool:
    """``null`` or ``""`` written on a limit removes it (DATAPOINTS.md)."""
    return value is None or (isinstance(value, str) and value.strip() == "")


#: Transaction ids travel over the bus as msgpack integers (signed 64 bit).
MAX_TRANSACTION_ID = 2**63 - 1


def transaction_id(value: Any) -> int | None:
    """The transaction a remote stop may name: a whole number (or numeric string) that fits a
    transaction id, to be confirmed by the gateway as an active one; None for any other value
    (``true``, ``"stop"``, ``1.5``), which means the connector's active transaction."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = as_number(value, "transaction id")
        except InvalidValue:
            return None
        if number.is_integer() and abs(number) <= MAX_TRANSACTION_ID:
            return int(number)
    return None
