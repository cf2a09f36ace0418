"""The OCPP 1.6 plans: actuator values -> OCPP 1.6 calls, and 1.6 replies -> outcomes, without
sockets (DATAPOINTS.md, "Actuators").

Each plan takes (connector id, 0 for the charge point; the value as BEMCom delivered it; the
:class:`Context`) and returns the OCPP-J calls to make, or raises :class:`InvalidValue` saying
why the value does not fit. ``table.py`` names the plan of each actuator.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from common.bus import Reply
from processes.bridge.actuators.plan import Context, OcppCall, Result, reply_outcome
from processes.bridge.actuators.values import (
    InvalidValue,
    as_number,
    iso,
    power_limit,
    removes_limit,
    timestamp_ms,
)

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

#: The configuration key that tells the charge point's charging rate unit(s).
RATE_UNIT_KEY = "ChargingScheduleAllowedChargingRateUnit"
RATE_UNIT_QUERY = OcppCall("GetConfiguration", {"key": [RATE_UNIT_KEY]})


def rate_unit(values: Iterable[object]) -> str:
    """W, or A when the values of ChargingScheduleAllowedChargingRateUnit name no Power (W
    when there are none)."""
    texts = [str(value) for value in values]
    return "W" if any("Power" in text for text in texts) or not texts else "A"


def configuration_values(reply: Reply) -> list[Any]:
    """The values of a GetConfiguration result, as reported."""
    return [item.get("value", "") for item in reply.result.get("payload", {}).get("configurationKey", [])]


def schedule_stack_level(connector: int) -> int:
    """OCPP 1.6 (3.13.2): a profile with the stackLevel and purpose of an existing one replaces
    it, so each connector has stack levels of its own: 2c+1 for the schedule, 2c+2 for the
    limit. A limit outranks a plan, and a connector's own profiles outrank connector 0's."""
    return 2 * connector + 1


def limit_stack_level(connector: int) -> int:
    return 2 * connector + 2


# -- charging profiles ------------------------------------------------------------------


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
    if removes_limit(value):
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


def plan_clear_charging_profile(connector: int, value: Any, context: Context) -> list[OcppCall]:
    return [clear_profile(LIMIT_PROFILE_BASE + connector), clear_profile(SCHEDULE_PROFILE_BASE + connector)]


def cleared(replies: Sequence[Reply]) -> Result:
    """Accepted when either profile was cleared (a connector rarely has both)."""
    accepted = [reply for reply in replies if reply_outcome(reply) == "Accepted"]
    return Result(reply_outcome(accepted[0] if accepted else replies[0]))


# -- connector calls --------------------------------------------------------------------


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


def plan_trigger_message(connector: int, value: Any, context: Context) -> list[OcppCall]:
    payload: dict[str, Any] = {"requestedMessage": trigger_message(value)}
    return [OcppCall("TriggerMessage", payload | ({"connectorId": connector} if connector else {}))]


def plan_remote_start(connector: int, value: Any, context: Context) -> list[OcppCall]:
    if value is None or isinstance(value, bool | dict | list) or not str(value).strip():
        raise InvalidValue("remote start needs an idTag (a string)")
    payload = {"idTag": str(value).strip()} | ({"connectorId": connector} if connector else {})
    return [OcppCall("RemoteStartTransaction", payload)]


def plan_remote_stop(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """The transaction the gateway answered (Need.ACTIVE_TRANSACTION): the one the value names
    when it is an active transaction of the charge point, else the connector's active one."""
    transaction = context.active_transaction
    if transaction is None:
        raise InvalidValue(f"no active transaction on connector {connector} of {context.cp}")
    return [OcppCall("RemoteStopTransaction", {"transactionId": transaction})]


def plan_unlock_connector(connector: int, value: Any, context: Context) -> list[OcppCall]:
    if connector == 0:
        raise InvalidValue("unlock needs a connector id above 0")
    return [OcppCall("UnlockConnector", {"connectorId": connector})]


def availability(value: Any) -> str:
    text = str(value).strip().lower() if not isinstance(value, bool) else ("true" if value else "false")
    if text in {"operative", "true", "1", "1.0"}:
        return "Operative"
    if text in {"inoperative", "false", "0", "0.0"}:
        return "Inoperative"
    raise InvalidValue(
        f"availability must be Operative or Inoperative (or true/false, 1/0), got {json.dumps(value)[:60]}"
    )


def plan_change_availability(connector: int, value: Any, context: Context) -> list[OcppCall]:
    return [OcppCall("ChangeAvailability", {"connectorId": connector, "type": availability(value)})]


# -- charge point calls -----------------------------------------------------------------


def plan_reset(connector: int, value: Any, context: Context) -> list[OcppCall]:
    text = str(value).strip().capitalize()
    if text not in {"Soft", "Hard"}:
        raise InvalidValue(f"reset must be Soft or Hard, got {json.dumps(value)[:60]}")
    return [OcppCall("Reset", {"type": text})]


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


def plan_change_configuration(connector: int, value: Any, context: Context) -> list[OcppCall]:
    return [OcppCall("ChangeConfiguration", configuration_change(value))]


def configuration_keys(value: Any) -> dict[str, Any]:
    if value is None or value == "" or value == []:
        return {}
    if isinstance(value, str):
        return {"key": [value]}
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return {"key": value}
    raise InvalidValue("get configuration takes null, a key or a list of keys")


def plan_get_configuration(connector: int, value: Any, context: Context) -> list[OcppCall]:
    return [OcppCall("GetConfiguration", configuration_keys(value))]


def configuration_learnt(replies: Sequence[Reply]) -> Result:
    """Accepted, with every key and value the charge point reported (``configuration__`` sensors)."""
    reply = replies[0]
    if not reply.ok:
        return Result(reply_outcome(reply))
    items = reply.result.get("payload", {}).get("configurationKey", [])
    learnt = {
        str(item["key"]): str(item.get("value", "")) for item in items if isinstance(item, dict) and "key" in item
    }
    return Result("Accepted", learnt)


def data_transfer(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("vendor_id"), str) or not value["vendor_id"]:
        raise InvalidValue('data transfer needs {"vendor_id": ..., "message_id": ..., "data": ...}')
    payload: dict[str, Any] = {"vendorId": value["vendor_id"]}
    if value.get("message_id") is not None:
        payload["messageId"] = str(value["message_id"])
    if value.get("data") is not None:
        data = value["data"]
        payload["data"] = data if isinstance(data, str) else json.dumps(data)
    return payload


def plan_data_transfer(connector: int, value: Any, context: Context) -> list[OcppCall]:
    return [OcppCall("DataTransfer", data_transfer(value))]


def generic_call(value: Any) -> OcppCall:
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


def plan_ocpp_call(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """Any call a central system sends; ``table.plan_calls`` checks the action and the schema."""
    return [generic_call(value)]
