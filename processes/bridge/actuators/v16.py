"""The OCPP 1.6 plans: actuator values -> OCPP 1.6 calls, and 1.6 replies -> outcomes, without
sockets (DATAPOINTS.md, "Actuators").

Each plan takes (connector id, 0 for the charge point; the value as BEMCom delivered it; the
:class:`Context`) and returns the OCPP-J calls to make, or raises :class:`InvalidValue` saying
why the value does not fit. ``table.py`` names the plan of each actuator.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from common.bus import Reply
from processes.bridge.actuators.plan import Context, OcppCall, Result, reply_outcome
from processes.bridge.actuators.values import (
    MAX_POWER_W,
    InvalidValue,
    as_number,
    iso,
    no_limit_watts,
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

#: Charging profile ids owned by this connector: per connector {c}, 1000 + c (limit, a
#: TxDefaultProfile), 2000 + c (schedule), 3000 + c (the limit as TxProfile of the running
#: transaction); 900 the ChargePointMaxProfile.
LIMIT_PROFILE_BASE = 1000
SCHEDULE_PROFILE_BASE = 2000
TX_PROFILE_BASE = 3000
CHARGE_POINT_MAX_PROFILE = 900
#: A limit written as "now" starts this much earlier, so that a charge point whose clock is a
#: little behind applies it at once.
START_MARGIN_MS = 60_000

#: The configuration key that tells the charge point's charging rate unit(s).
RATE_UNIT_KEY = "ChargingScheduleAllowedChargingRateUnit"
RATE_UNIT_QUERY = OcppCall("GetConfiguration", {"key": [RATE_UNIT_KEY]})
#: Seconds of schedule a read-back asks for (what is in force now is its first period).
READ_BACK_SECONDS = 60


def rate_unit(values: Iterable[object]) -> str:
    """W, or A when the values of ChargingScheduleAllowedChargingRateUnit name no Power (W
    when there are none)."""
    texts = [str(value) for value in values]
    return "W" if any("Power" in text for text in texts) or not texts else "A"


def configuration_values(reply: Reply) -> list[Any]:
    """The values of a GetConfiguration result, as reported."""
    return [item.get("value", "") for item in reply.result.get("payload", {}).get("configurationKey", [])]


def schedule_stack_level(connector: int, context: Context | None = None) -> int:
    """OCPP 1.6 (3.13.2): a profile with the stackLevel and purpose of an existing one replaces
    it, so each connector has stack levels of its own: 2c+1 for the schedule, 2c+2 for the
    limit. A limit outranks a plan, and a connector's own profiles outrank connector 0's. A charge
    point with fewer levels (``ChargeProfileMaxStackLevel``) gets them within its maximum: with one
    level above 0 the schedule and the limit replace each other, with none everything is level 0."""
    return stack_levels(connector, context)[0]


def limit_stack_level(connector: int, context: Context | None = None) -> int:
    return stack_levels(connector, context)[1]


def stack_levels(connector: int, context: Context | None) -> tuple[int, int]:
    schedule, limit = 2 * connector + 1, 2 * connector + 2
    highest = context.facts.max_stack_level if context is not None else None
    if highest is None or highest >= limit:
        return schedule, limit
    return min(schedule, max(highest - 1, min(highest, 1))), highest


# -- charging profiles ------------------------------------------------------------------


def charging_profile(
    connector: int,
    profile_id: int,
    stack_level: int,
    schedule: dict[str, Any],
    purpose: str = "TxDefaultProfile",
    kind: str = "Absolute",
    transaction: int | None = None,
) -> OcppCall:
    profile: dict[str, Any] = {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule if kind != "Relative" else _relative(schedule),
    }
    if transaction is not None:
        profile["transactionId"] = transaction
    return OcppCall("SetChargingProfile", {"connectorId": connector, "csChargingProfiles": profile})


def leased(calls: list[OcppCall], context: Context) -> list[OcppCall]:
    """BEMCom's profiles as leases (``validTo``) where the failsafe needs them (``Facts``)."""
    until = context.facts.lease_until_ms
    if until is None:
        return calls
    for call in calls:
        if call.action == "SetChargingProfile":
            call.payload["csChargingProfiles"]["validTo"] = iso(until)
    return calls


def _relative(schedule: dict[str, Any]) -> dict[str, Any]:
    """A Relative profile's schedule has no start: it counts from the start of the session."""
    return {key: value for key, value in schedule.items() if key != "startSchedule"}


def clear_profile(profile_id: int) -> OcppCall:
    return OcppCall("ClearChargingProfile", {"id": profile_id})


def transactions_on(connector: int, context: Context) -> list[tuple[int, int]]:
    """The active transactions a limit on ``connector`` applies to: its own; for connector 0, those
    of every connector without a limit of its own (a connector's own limit outranks connector 0's)."""
    own = dict(context.facts.limits)
    return [
        (on, transaction)
        for on, transaction in context.facts.transactions
        if on == connector or (connector == 0 and on not in own)
    ]


def plan_charging_profile(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """The limit as TxDefaultProfile for the next sessions and, while a transaction runs, as its
    TxProfile too, so it holds at once also on chargers that apply TxDefault only from the next
    session (connector 0: every connector)."""
    running = transactions_on(connector, context)
    if removes_limit(value):
        return [clear_profile(LIMIT_PROFILE_BASE + connector)] + [
            clear_profile(TX_PROFILE_BASE + on) for on, _ in running
        ]
    schedule = limit_schedule(as_number(value, "the power limit"), context)
    level, kind = limit_stack_level(connector, context), context.facts.profile_kind
    calls = [charging_profile(connector, LIMIT_PROFILE_BASE + connector, level, schedule, kind=kind)]
    for on, transaction in running:
        profile_id = TX_PROFILE_BASE + on
        calls.append(charging_profile(on, profile_id, level, schedule, "TxProfile", kind, transaction))
    return leased(calls, context)


def limit_schedule(watts: float, context: Context) -> dict[str, Any]:
    """One period from now on, fitted to the charge point (``values.power_limit``)."""
    unit, limit, extra = power_limit(watts, context)
    return {
        "startSchedule": iso(context.now_ms - START_MARGIN_MS),
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit, **extra}],
    }


def plan_charge_point_max_power(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """A cap for the whole charge point (its share of the grid connection): ChargePointMaxProfile."""
    if removes_limit(value):
        return [clear_profile(CHARGE_POINT_MAX_PROFILE)]
    schedule = limit_schedule(as_number(value, "the power limit"), context)
    level = min(1, context.facts.max_stack_level) if context.facts.max_stack_level is not None else 1
    kind = "Absolute"  # a ChargePointMaxProfile has no session to be relative to
    return leased(
        [charging_profile(0, CHARGE_POINT_MAX_PROFILE, level, schedule, "ChargePointMaxProfile", kind)], context
    )


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
    """A BEMCom schedule -> one Absolute profile. Each entry lasts until its to_timestamp (or,
    without one, until the next entry starts); a gap between entries is a period without limit
    (the charge point's maximum current); the profile ends where the last entry ends (open-ended
    when its to_timestamp is null). Periods of the same limit are merged; a charge point that
    takes fewer periods (``ChargingScheduleMaxPeriods``) gets the first ones, and the outcome says so."""
    entries = _schedule_entries(value, context)
    start = entries[0][0]
    periods: list[dict[str, Any]] = []
    unit = "W"

    def add(at_ms: int, watts: float) -> None:
        nonlocal unit
        unit, limit, extra = power_limit(watts, context)
        period = {"startPeriod": max(0, (at_ms - start) // 1000), "limit": limit, **extra}
        if periods and periods[-1]["startPeriod"] == period["startPeriod"]:
            periods[-1] = period
        elif not periods or {**periods[-1], "startPeriod": 0} != {**period, "startPeriod": 0}:
            periods.append(period)

    for index, (start_ms, end_ms, watts) in enumerate(entries):
        add(start_ms, watts)
        following = entries[index + 1][0] if index + 1 < len(entries) else None
        if end_ms is not None and following is not None and end_ms < following:
            add(end_ms, no_limit_watts(context))  # a gap: no limit until the next entry
    schedule: dict[str, Any] = {
        "startSchedule": iso(start),
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods,
    }
    last_end = entries[-1][1]
    if last_end is not None:
        schedule["duration"] = max(1, (last_end - start) // 1000)
    note = ""
    most = context.facts.max_periods
    if most is not None and 0 < most < len(periods):
        schedule["duration"] = periods[most]["startPeriod"]
        schedule["chargingSchedulePeriod"] = periods[:most]
        ends = iso(start + periods[most]["startPeriod"] * 1000)
        note = f"cut to its {most} periods (ChargingScheduleMaxPeriods): ends at {ends}"
    level = schedule_stack_level(connector, context)
    call = charging_profile(connector, SCHEDULE_PROFILE_BASE + connector, level, schedule)
    return leased([OcppCall(call.action, call.payload, note)], context)


def plan_clear_charging_profile(connector: int, value: Any, context: Context) -> list[OcppCall]:
    return [clear_profile(LIMIT_PROFILE_BASE + connector), clear_profile(SCHEDULE_PROFILE_BASE + connector)] + [
        clear_profile(TX_PROFILE_BASE + on) for on, _ in transactions_on(connector, context)
    ]


def all_accepted(replies: Sequence[Reply]) -> Result:
    """Accepted when every call was; else the first other outcome (a limit is in force as
    written only when the TxDefaultProfile and the running transaction's TxProfile both are)."""
    for reply in replies:
        outcome = reply_outcome(reply)
        if outcome != "Accepted":
            return Result(outcome)
    return Result("Accepted")


def cleared(replies: Sequence[Reply]) -> Result:
    """Accepted when any profile was cleared (a connector rarely has all)."""
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
    """RemoteStartTransaction; with the limit in force on the connector (or connector 0) as its
    TxProfile, so the session starts within it."""
    if value is None or isinstance(value, bool | dict | list) or not str(value).strip():
        raise InvalidValue("remote start needs an idTag (a string)")
    payload: dict[str, Any] = {"idTag": str(value).strip()} | ({"connectorId": connector} if connector else {})
    limits = dict(context.facts.limits)
    watts = limits.get(connector, limits.get(0)) if connector else limits.get(0)
    if watts is not None:
        profile = charging_profile(
            connector,
            TX_PROFILE_BASE + connector,
            limit_stack_level(connector, context),
            limit_schedule(watts, context),
            "TxProfile",
            context.facts.profile_kind,
        )
        payload["chargingProfile"] = profile.payload["csChargingProfiles"]
    return [OcppCall("RemoteStartTransaction", payload)]


# -- read-back ---------------------------------------------------------------------------


def composite_duration(value: Any) -> int:
    if value is None or value == "" or value is True:
        return 3600
    seconds = as_number(value, "the duration")
    if not seconds.is_integer() or not 1 <= seconds <= 7 * 86400:
        raise InvalidValue(f"the duration must be whole seconds from 1 to a week, got {json.dumps(value)[:60]}")
    return int(seconds)


def plan_get_composite_schedule(connector: int, value: Any, context: Context) -> list[OcppCall]:
    return [OcppCall("GetCompositeSchedule", {"connectorId": connector, "duration": composite_duration(value)})]


def read_back(connector: int) -> OcppCall:
    return OcppCall("GetCompositeSchedule", {"connectorId": connector, "duration": READ_BACK_SECONDS})


#: The sensor (per connector) of the limit a charge point reports in force.
EFFECTIVE_LIMIT = "effective_limit__W"


def effective_limit(reply: Reply, context: Context) -> dict[str, Any]:
    """``{EFFECTIVE_LIMIT: W or None}`` from a GetCompositeSchedule answer (the period in force
    now, A converted with its numberPhases or the charge point's phases, and voltage); ``{}``
    when the charge point gave no schedule to read (NotSupported, Rejected, an error)."""
    payload = reply.result.get("payload", {}) if reply.ok and isinstance(reply.result, dict) else {}
    if payload.get("status") != "Accepted":
        return {}
    schedule = payload.get("chargingSchedule")
    if not isinstance(schedule, dict):
        return {EFFECTIVE_LIMIT: None}
    start = schedule.get("startSchedule") or payload.get("scheduleStart")
    try:
        started = int(datetime.fromisoformat(str(start).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        started = context.now_ms
    offset = max(0, context.now_ms - started) // 1000
    duration = schedule.get("duration")
    periods = [p for p in schedule.get("chargingSchedulePeriod", []) if isinstance(p, dict)]
    current = [p for p in periods if isinstance(p.get("startPeriod"), int) and p["startPeriod"] <= offset]
    if not current or (isinstance(duration, int) and offset >= duration):
        return {EFFECTIVE_LIMIT: None}
    period = max(current, key=lambda p: int(p["startPeriod"]))
    limit = period.get("limit")
    if not isinstance(limit, int | float) or isinstance(limit, bool) or not 0 <= limit < MAX_POWER_W:
        return {}
    watts = float(limit)
    if schedule.get("chargingRateUnit") == "A":
        given = period.get("numberPhases")
        phases: int = given if isinstance(given, int) and 1 <= given <= 3 else context.phases
        watts *= phases * context.voltage
    return {EFFECTIVE_LIMIT: round(watts, 1)}


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
