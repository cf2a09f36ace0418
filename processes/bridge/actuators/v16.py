"""Actuator values -> OCPP calls, without sockets (DATAPOINTS.md, "Actuators").

Each function takes the value as BEMCom delivered it (any JSON type) and returns the
OCPP-J calls to make, or raises :class:`InvalidValue` saying why the value does not fit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common.settings import CHARGE_POINT_ACTUATORS, CONNECTOR_ACTUATORS

SEPARATOR = "__"
RESULT_SUFFIX = "__result"

TRIGGER_MESSAGES = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)

#: Charging profile ids owned by this connector, per connector {c}: 1000 + c and 2000 + c.
LIMIT_PROFILE_BASE = 1000
SCHEDULE_PROFILE_BASE = 2000
#: A limit written as "now" starts this much earlier, so that a charge point whose clock is a
#: little behind applies it at once.
START_MARGIN_MS = 60_000


def schedule_stack_level(connector: int) -> int:
    """OCPP 1.6 (3.13.2): a profile with the stackLevel and purpose of an existing one replaces
    it, so each connector has stack levels of its own: 2c+1 for the schedule, 2c+2 for the
    limit. A limit outranks a plan, and a connector's own profiles outrank connector 0's."""
    return 2 * connector + 1


def limit_stack_level(connector: int) -> int:
    return 2 * connector + 2


MAX_POWER_W = 10_000_000.0  # 10 MW: above any charge point; keeps the arithmetic finite
LATEST_TIMESTAMP_MS = 4_102_444_800_000  # 2100-01-01

EXAMPLES: dict[str, Any] = {
    "execute_send_charging_profile": 11000,
    "execute_send_charging_schedule": [{"from_timestamp": None, "to_timestamp": None, "value": 11000}],
    "execute_trigger_message": 4,
    "execute_remote_start_transaction": "ID_TAG",
    "execute_remote_stop_transaction": True,
    "execute_unlock_connector": True,
    "execute_change_availability": "Operative",
    "execute_clear_charging_profile": True,
    "execute_reset": "Soft",
    "execute_change_configuration": {"key": "HeartbeatInterval", "value": "300"},
    "execute_get_configuration": None,
    "execute_data_transfer": {"vendor_id": "vendor", "message_id": "message", "data": "text"},
    "execute_ocpp_call": {"action": "ClearCache", "payload": {}},
}


class InvalidValue(ValueError):
    """The actuator value does not fit; the message says why."""


@dataclass(frozen=True, slots=True)
class ActuatorKey:
    cp: str
    connector: int | None  # None for charge-point-level actuators
    kind: str
    key: str


@dataclass(frozen=True, slots=True)
class OcppCall:
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Context:
    """What the bridge learnt before planning: the charge point's rate unit and active transaction."""

    now_ms: int
    voltage: float = 230.0
    phases: int = 3
    rate_unit: str = "W"
    active_transaction: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def actuator_keys(cp: str, connectors: Iterable[int], kinds: Iterable[str]) -> dict[str, Any]:
    """Actuator keys of one charge point: connector-level ones for connector 0 and every
    connector it reported, charge-point-level ones once."""
    selected = set(kinds)
    keys: dict[str, Any] = {}
    for connector in sorted({0, *connectors}):
        for kind in CONNECTOR_ACTUATORS:
            if kind in selected:
                keys[SEPARATOR.join((cp, str(connector), kind))] = EXAMPLES[kind]
    for kind in CHARGE_POINT_ACTUATORS:
        if kind in selected:
            keys[SEPARATOR.join((cp, kind))] = EXAMPLES[kind]
    return keys


def parse_actuator_key(key: str) -> ActuatorKey | None:
    head, _, kind = key.rpartition(SEPARATOR)
    if kind in CHARGE_POINT_ACTUATORS and head:
        return ActuatorKey(head, None, kind, key)
    if kind in CONNECTOR_ACTUATORS:
        cp, _, connector = head.rpartition(SEPARATOR)
        if cp and connector.isdigit():
            return ActuatorKey(cp, int(connector), kind, key)
    return None


# -- value parsing ----------------------------------------------------------------------


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
    """(charging rate unit, limit rounded down to 0.1, extra period fields)."""
    if not 0 <= watts <= MAX_POWER_W:
        raise InvalidValue(f"a power limit must be from 0 to {MAX_POWER_W:g} W, got {watts:g} W")
    if context.rate_unit == "A":
        return "A", one_decimal(watts / (context.voltage * context.phases)), {"numberPhases": context.phases}
    return "W", one_decimal(watts), {}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def charging_profile(connector: int, profile_id: int, stack_level: int, schedule: dict[str, Any]) -> OcppCall:
    profile = {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": schedule,
    }
    return OcppCall("SetChargingProfile", {"connectorId": connector, "csChargingProfiles": profile})


def clear_profile(profile_id: int) -> OcppCall:
    return OcppCall("ClearChargingProfile", {"id": profile_id})


def plan_charging_profile(connector: int, value: Any, context: Context) -> list[OcppCall]:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return [clear_profile(LIMIT_PROFILE_BASE + connector)]
    unit, limit, extra = power_limit(as_number(value, "the power limit"), context)
    schedule = {
        "startSchedule": iso(context.now_ms - START_MARGIN_MS),
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit, **extra}],
    }
    return [charging_profile(connector, LIMIT_PROFILE_BASE + connector, limit_stack_level(connector), schedule)]


def _schedule_entries(value: Any, context: Context) -> list[tuple[int, int | None, float]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidValue("a schedule must be a JSON list of {from_timestamp, to_timestamp, value}") from None
    if not isinstance(value, list) or not value:
        raise InvalidValue("a schedule must be a non-empty list of {from_timestamp, to_timestamp, value}")
    entries = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or "value" not in item:
            raise InvalidValue(f"schedule entry {index} must be an object with from_timestamp, to_timestamp and value")
        start = item.get("from_timestamp")
        end = item.get("to_timestamp")
        start_ms = context.now_ms if start is None else timestamp_ms(start, f"entry {index} from_timestamp")
        end_ms = None if end is None else timestamp_ms(end, f"entry {index} to_timestamp")
        if end_ms is not None and end_ms <= start_ms:
            raise InvalidValue(f"schedule entry {index} ends before it starts")
        entries.append((start_ms, end_ms, as_number(item["value"], f"entry {index} value")))
    entries.sort(key=lambda entry: entry[0])
    return entries


def plan_charging_schedule(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """A BEMCom schedule -> one Absolute profile. Each period lasts until the next starts;
    the profile ends with the last entry's to_timestamp (open-ended when it is null)."""
    entries = _schedule_entries(value, context)
    start = entries[0][0]
    periods: list[dict[str, Any]] = []
    unit = "W"
    for start_ms, _, watts in entries:
        unit, limit, extra = power_limit(watts, context)
        period = {"startPeriod": max(0, (start_ms - start) // 1000), "limit": limit, **extra}
        if periods and periods[-1]["startPeriod"] == period["startPeriod"]:
            periods[-1] = period
        else:
            periods.append(period)
    schedule: dict[str, Any] = {
        "startSchedule": iso(start),
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods,
    }
    last_end = entries[-1][1]
    if last_end is not None:
        schedule["duration"] = max(1, (last_end - start) // 1000)
    return [charging_profile(connector, SCHEDULE_PROFILE_BASE + connector, schedule_stack_level(connector), schedule)]


def trigger_message(value: Any) -> str:
    if isinstance(value, str) and value.strip() in TRIGGER_MESSAGES:
        return value.strip()
    try:
        number = as_number(value, "the message to trigger")
    except InvalidValue:
        number = -1.0
    if number.is_integer() and 0 <= number < len(TRIGGER_MESSAGES):
        return TRIGGER_MESSAGES[int(number)]
    choices = ", ".join(f"{index} {name}" for index, name in enumerate(TRIGGER_MESSAGES))
    raise InvalidValue(f"unknown message to trigger {json.dumps(value)[:60]}; expected one of {choices}")


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


def configuration_keys(value: Any) -> dict[str, Any]:
    if value is None or value == "" or value == []:
        return {}
    if isinstance(value, str):
        return {"key": [value]}
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return {"key": value}
    raise InvalidValue("get configuration takes null, a key or a list of keys")
