"""BEMCom's charging profiles for every protocol version: which profiles a limit, a schedule or a
charge point maximum becomes (ids, stack levels, schedules fitted to the charge point, leases), and
the limit in force read from a composite schedule. A version says only how a profile is written on
its wire (:class:`Dialect`): OCPP 1.6's ``csChargingProfiles`` on a ``connectorId``, 2.0.1's
``chargingProfile`` on an ``evseId`` (``v16.py``, ``v201.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from common.bus import Reply
from processes.bridge.actuators.plan import Context, OcppCall
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

#: Charging profile ids owned by this connector: per connector {c}, 1000 + c (limit, a
#: TxDefaultProfile), 2000 + c (schedule), 3000 + c (the limit as TxProfile of the running
#: transaction); 900 the ChargePointMaxProfile (2.0.1: ChargingStationMaxProfile).
LIMIT_PROFILE_BASE = 1000
SCHEDULE_PROFILE_BASE = 2000
TX_PROFILE_BASE = 3000
CHARGE_POINT_MAX_PROFILE = 900
#: A limit written as "now" starts this much earlier, so that a charge point whose clock is a
#: little behind applies it at once.
START_MARGIN_MS = 60_000
#: Seconds of schedule a read-back asks for (what is in force now is its first period).
READ_BACK_SECONDS = 60
#: The sensor (per connector) of the limit a charge point reports in force.
EFFECTIVE_LIMIT = "effective_limit__W"


@dataclass(frozen=True, slots=True)
class Profile:
    """One charging profile BEMCom sends, whatever the version. ``schedule`` has the fields both
    versions share (``startSchedule``, ``duration``, ``chargingRateUnit``, ``chargingSchedulePeriod``)."""

    connector: int
    id: int
    stack_level: int
    schedule: dict[str, Any]
    purpose: str = "TxDefaultProfile"
    kind: str = "Absolute"
    transaction: int | str | None = None
    #: A lease's end (ISO 8601), see :func:`leased`.
    valid_to: str | None = None
    #: What the outcome adds when the profile is accepted (a schedule cut to fit the charger).
    note: str = ""

    def fields(self) -> dict[str, Any]:
        """The profile fields both versions name alike (without the id and the schedule)."""
        fields: dict[str, Any] = {
            "stackLevel": self.stack_level,
            "chargingProfilePurpose": self.purpose,
            "chargingProfileKind": self.kind,
        }
        if self.transaction is not None:
            fields["transactionId"] = self.transaction
        if self.valid_to is not None:
            fields["validTo"] = self.valid_to
        return fields

    def timed_schedule(self) -> dict[str, Any]:
        """A Relative profile's schedule has no start: it counts from the start of the session."""
        if self.kind != "Relative":
            return self.schedule
        return {key: value for key, value in self.schedule.items() if key != "startSchedule"}


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one protocol version writes BEMCom's profiles; its methods are the plans of the limit
    actuators in that version (``table.py``)."""

    #: The SetChargingProfile call of a profile.
    set_profile: Callable[[Profile], OcppCall]
    #: The ClearChargingProfile call of one profile id.
    clear_profile: Callable[[int], OcppCall]
    #: The purpose of a cap for the whole charge point.
    max_purpose: str
    #: Calls that make room for a profile before it is set (2.0.1: see ``v201.make_room``).
    make_room: Callable[[Profile, Context], list[OcppCall]] = lambda profile, context: []
    #: (schedule, limit) stack levels of a connector (:func:`stack_levels`; 2.0.1: ``v201.stack_levels``).
    levels: Callable[[int, Context | None], tuple[int, int]] = lambda connector, context: stack_levels(
        connector, context
    )

    def _set(self, profiles: list[Profile], context: Context) -> list[OcppCall]:
        calls: list[OcppCall] = []
        for profile in profiles:
            calls += self.make_room(profile, context)
            calls.append(self.set_profile(profile))
        return calls

    def plan_limit(self, connector: int, value: Any, context: Context) -> list[OcppCall]:
        """The limit as TxDefaultProfile for the next sessions and, while a transaction runs, as its
        TxProfile too, so it holds at once also on chargers that apply TxDefault only from the next
        session (connector 0: every connector). Null or "" removes BEMCom's profiles."""
        running = transactions_on(connector, context)
        if removes_limit(value):
            ids = [LIMIT_PROFILE_BASE + connector] + [TX_PROFILE_BASE + on for on, _ in running]
            return [self.clear_profile(profile_id) for profile_id in ids]
        schedule = limit_schedule(as_number(value, "the power limit"), context)
        level, kind = self.levels(connector, context)[1], context.facts.profile_kind
        profiles = [Profile(connector, LIMIT_PROFILE_BASE + connector, level, schedule, kind=kind)]
        for on, transaction in running:
            profiles.append(Profile(on, TX_PROFILE_BASE + on, level, schedule, "TxProfile", kind, transaction))
        return self._set(leased(profiles, context), context)

    def plan_max_power(self, connector: int, value: Any, context: Context) -> list[OcppCall]:
        """A cap for the whole charge point (its share of the grid connection), on connector 0."""
        if removes_limit(value):
            return [self.clear_profile(CHARGE_POINT_MAX_PROFILE)]
        schedule = limit_schedule(as_number(value, "the power limit"), context)
        level = min(1, context.facts.max_stack_level) if context.facts.max_stack_level is not None else 1
        # Absolute: a charge point maximum has no session to be relative to.
        profile = Profile(0, CHARGE_POINT_MAX_PROFILE, level, schedule, self.max_purpose)
        return [self.set_profile(profile) for profile in leased([profile], context)]

    def plan_schedule(self, connector: int, value: Any, context: Context) -> list[OcppCall]:
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
        level = self.levels(connector, context)[0]
        profile = Profile(connector, SCHEDULE_PROFILE_BASE + connector, level, schedule, note=note)
        return self._set(leased([profile], context), context)

    def plan_clear(self, connector: int, value: Any, context: Context) -> list[OcppCall]:
        """BEMCom's limit and schedule of the connector, and the TxProfiles its limit put on running sessions."""
        ids = [LIMIT_PROFILE_BASE + connector, SCHEDULE_PROFILE_BASE + connector]
        ids += [TX_PROFILE_BASE + on for on, _ in transactions_on(connector, context)]
        return [self.clear_profile(profile_id) for profile_id in ids]


def stack_levels(connector: int, context: Context | None) -> tuple[int, int]:
    """OCPP 1.6 (3.13.2), 2.0.1 (K01): a profile with the stackLevel and purpose of an existing one
    replaces it, so each connector has stack levels of its own: 2c+1 for the schedule, 2c+2 for the
    limit. A limit outranks a plan, and a connector's own profiles outrank connector 0's. A charge
    point with fewer levels (``ChargeProfileMaxStackLevel``) gets them within its maximum: with one
    level above 0 the schedule and the limit replace each other, with none everything is level 0."""
    return within_maximum(2 * connector + 1, 2 * connector + 2, context)


def within_maximum(schedule: int, limit: int, context: Context | None) -> tuple[int, int]:
    """(schedule, limit) levels within the charge point's maximum (the rule of :func:`stack_levels`)."""
    highest = context.facts.max_stack_level if context is not None else None
    if highest is None or highest >= limit:
        return schedule, limit
    return min(schedule, max(highest - 1, min(highest, 1))), highest


def schedule_stack_level(connector: int, context: Context | None = None) -> int:
    return stack_levels(connector, context)[0]


def limit_stack_level(connector: int, context: Context | None = None) -> int:
    return stack_levels(connector, context)[1]


def leased(profiles: list[Profile], context: Context) -> list[Profile]:
    """BEMCom's profiles as leases (``validTo``) where the failsafe needs them (``Facts``)."""
    until = context.facts.lease_until_ms
    if until is None:
        return profiles
    return [replace(profile, valid_to=iso(until)) for profile in profiles]


def transactions_on(connector: int, context: Context) -> list[tuple[int, int | str]]:
    """The active transactions a limit on ``connector`` applies to: its own; for connector 0, those
    of every connector without a limit of its own (a connector's own limit outranks connector 0's)."""
    own = dict(context.facts.limits)
    return [
        (on, transaction)
        for on, transaction in context.facts.transactions
        if on == connector or (connector == 0 and on not in own)
    ]


def limit_schedule(watts: float, context: Context) -> dict[str, Any]:
    """One period from now on, fitted to the charge point (``values.power_limit``)."""
    unit, limit, extra = power_limit(watts, context)
    return {
        "startSchedule": iso(context.now_ms - START_MARGIN_MS),
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit, **extra}],
    }


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


def start_profile(
    connector: int, context: Context, levels: Callable[[int, Context | None], tuple[int, int]] = stack_levels
) -> Profile | None:
    """The TxProfile a remote start carries: the limit in force on the connector (or connector 0),
    so the session starts within it; None without a limit."""
    limits = dict(context.facts.limits)
    watts = limits.get(connector, limits.get(0)) if connector else limits.get(0)
    if watts is None:
        return None
    schedule = limit_schedule(watts, context)
    level = levels(connector, context)[1]
    return Profile(connector, TX_PROFILE_BASE + connector, level, schedule, "TxProfile", context.facts.profile_kind)


# -- read-back -------------------------------------------------------------------------------


def composite_duration(value: Any) -> int:
    if value is None or value == "" or value is True:
        return 3600
    seconds = as_number(value, "the duration")
    if not seconds.is_integer() or not 1 <= seconds <= 7 * 86400:
        raise InvalidValue(f"the duration must be whole seconds from 1 to a week, got {json.dumps(value)[:60]}")
    return int(seconds)


def composite_limit(reply: Reply, context: Context, schedule_field: str, start_field: str) -> dict[str, Any]:
    """``{EFFECTIVE_LIMIT: W or None}`` from a GetCompositeSchedule answer whose schedule is its
    ``schedule_field`` (started at that schedule's ``start_field``, else at the answer's
    ``scheduleStart``); ``{}`` when the charge point gave no schedule to read (NotSupported,
    Rejected, an error)."""
    payload = reply.result.get("payload", {}) if reply.ok and isinstance(reply.result, dict) else {}
    if payload.get("status") != "Accepted":
        return {}
    schedule = payload.get(schedule_field)
    start = (schedule.get(start_field) if isinstance(schedule, dict) else None) or payload.get("scheduleStart")
    return limit_in_force(schedule, start, context)


def limit_in_force(schedule: Any, start: Any, context: Context) -> dict[str, Any]:
    """``{EFFECTIVE_LIMIT: W or None}`` of a composite schedule that started at ``start`` (the
    period in force now, A converted with its numberPhases or the charge point's phases, and
    voltage); None when no period is in force, ``{}`` when its limit makes no sense."""
    if not isinstance(schedule, dict):
        return {EFFECTIVE_LIMIT: None}
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
