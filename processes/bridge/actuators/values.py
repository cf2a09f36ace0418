"""Actuator values as BEMCom delivers them (any JSON type) -> the numbers, times and power
limits the plans are made of, or :class:`InvalidValue` saying why a value does not fit."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from processes.bridge.actuators.plan import Context, OcppCall

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


def transaction_reference(value: Any) -> str | None:
    """OCPP 2.0.1: the transaction a remote stop may name (its ids are strings, up to 36
    characters): a non-blank string or a whole number, to be confirmed by the gateway as an
    active one; None for any other value (``true``, ``null``), which means the connector's
    active transaction."""
    if isinstance(value, str) and value.strip() and len(value.strip()) <= 36:
        return value.strip()
    number = transaction_id(value) if not isinstance(value, str) else None
    return str(number) if number is not None else None


# -- the values of the other actuators, the same in every version ----------------------------


def one_of_numbered(value: Any, numbered: tuple[str, ...], names: dict[str, str], what: str) -> str:
    """A choice written as its number (index of ``numbered``, also as a numeric string) or its
    name (a key of ``names``, which gives the name to send)."""
    if isinstance(value, str) and value.strip() in names:
        return names[value.strip()]
    try:
        number = as_number(value, what)
    except InvalidValue:
        number = -1.0
    if number.is_integer() and 0 <= number < len(numbered):
        return numbered[int(number)]
    choices = ", ".join(f"{index} {name}" for index, name in enumerate(numbered))
    others = sorted(set(names.values()) - set(numbered))
    more = f" (or the name of {', '.join(others)})" if others else ""
    raise InvalidValue(f"unknown {what} {json.dumps(value)[:60]}; expected one of {choices}{more}")


def id_tag(value: Any) -> str:
    """The id tag (2.0.1: id token) of a remote start."""
    if value is None or isinstance(value, bool | dict | list) or not str(value).strip():
        raise InvalidValue("remote start needs an idTag (a string)")
    return str(value).strip()


def availability(value: Any) -> str:
    text = str(value).strip().lower() if not isinstance(value, bool) else ("true" if value else "false")
    if text in {"operative", "true", "1", "1.0"}:
        return "Operative"
    if text in {"inoperative", "false", "0", "0.0"}:
        return "Inoperative"
    raise InvalidValue(
        f"availability must be Operative or Inoperative (or true/false, 1/0), got {json.dumps(value)[:60]}"
    )


def configuration_change(value: Any) -> dict[str, str]:
    """``{"key": k, "value": v}`` or ``"k=v"`` -> ``{"key", "value"}`` with the value as text."""
    if isinstance(value, dict) and isinstance(value.get("key"), str) and "value" in value:
        setting = value["value"]
        text = setting if isinstance(setting, str) else json.dumps(setting)
        if isinstance(setting, bool):
            text = "true" if setting else "false"
        return {"key": value["key"], "value": text}
    if isinstance(value, str) and "=" in value:
        key, _, setting = value.partition("=")
        if key.strip():
            return {"key": key.strip(), "value": setting.strip()}
    raise InvalidValue('a configuration change must be {"key": k, "value": v} or the string "k=v"')


def configuration_keys(value: Any) -> list[str]:
    """The keys asked for: none for null, "" or [] (every key), else a key or a list of keys."""
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise InvalidValue("get configuration takes null, a key or a list of keys")


def data_transfer(value: Any, data_as_text: bool = True) -> dict[str, Any]:
    """The DataTransfer payload; ``data`` as text (OCPP 1.6) or as written (2.0.1: any JSON)."""
    if not isinstance(value, dict) or not isinstance(value.get("vendor_id"), str) or not value["vendor_id"]:
        raise InvalidValue('data transfer needs {"vendor_id": ..., "message_id": ..., "data": ...}')
    payload: dict[str, Any] = {"vendorId": value["vendor_id"]}
    if value.get("message_id") is not None:
        payload["messageId"] = str(value["message_id"])
    if value.get("data") is not None:
        data = value["data"]
        payload["data"] = data if isinstance(data, str) or not data_as_text else json.dumps(data)
    return payload


def generic_call(value: Any) -> OcppCall:
    """``{"action", "payload"}`` (or its JSON text) -> the call; the table checks it against the version."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidValue('an OCPP call must be {"action": ..., "payload": {...}}') from None
    if not isinstance(value, dict) or not isinstance(value.get("action"), str):
        raise InvalidValue('an OCPP call must be {"action": ..., "payload": {...}}')
    payload = value.get("payload", {})
    if not isinstance(payload, dict):
        raise InvalidValue("the payload of an OCPP call must be an object")
    return OcppCall(value["action"], payload)
