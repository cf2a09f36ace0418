"""The smart charging of a simulated OCPP 1.6 charge point: its charging profiles, the limit they
set, and its answers to SetChargingProfile, ClearChargingProfile and GetCompositeSchedule.

Pure: no sockets, and time comes from the ``clock`` it is given (or ``now=`` on each call), so tests
drive it directly::

    model = SmartCharging(connectors=1, max_stack_level=0, rate_units=["Current"], phases=1,
                          tx_default_applies_from_next_session=True)
    model.set_charging_profile({"connectorId": 1, "csChargingProfiles": {...}})   # "Accepted" / "Rejected"
    model.transaction_started(1, 42)       # what StartTransaction gave; TxProfiles need it
    model.limit_now(1)                     # watts the connector must stay under now, None: no limit
    model.get_composite_schedule({"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"})
    model.transaction_stopped(42)          # its TxProfiles are gone

:meth:`SmartCharging.from_configuration` reads the limits from a charger's configuration keys
(``NumberOfConnectors``, ``ChargeProfileMaxStackLevel``, ``ChargingScheduleAllowedChargingRateUnit``,
``ChargingScheduleMaxPeriods``, ``MaxChargingProfilesInstalled``, ``SupportedFeatureProfiles``, and
``ConnectorPhaseRotation``: ``NotApplicable`` on every connector is a single-phase charger); a key it
does not find sets no limit.

The rules, OCPP 1.6 edition 2 section 3.13 and 5.16 with the errata sheet (v4.0):

- SetChargingProfile: ``ChargePointMaxProfile`` only on connector 0, ``TxProfile`` only on a connector
  with a running transaction (that transaction when ``transactionId`` is given), ``transactionId`` only
  on a TxProfile; a ``stackLevel`` above ``ChargeProfileMaxStackLevel``, a ``chargingRateUnit`` outside
  ``ChargingScheduleAllowedChargingRateUnit``, more periods than ``ChargingScheduleMaxPeriods``, a first
  period not at 0 or periods out of order, a Recurring profile without ``recurrencyKind``, more profiles
  than ``MaxChargingProfilesInstalled``: ``Rejected``. A profile with the same id, or the same
  ``stackLevel`` and purpose on the same connector, is replaced. A connector the charge point does not
  have, or a value outside an enumeration: CALLERROR ``PropertyConstraintViolation`` (errata 3.38, 3.39).
- ClearChargingProfile: by ``id`` (the other fields then ignored), else every profile matching all the
  given fields (none given: all); ``Accepted`` when something was cleared, else ``Unknown``.
- Per purpose, the profile in force at a moment is the one of the highest stack level that sets a limit
  then (within ``validFrom``/``validTo`` and its schedule's ``duration``; errata 3.43). On a connector:
  the TxProfile of its running transaction, else its own TxDefaultProfile, else connector 0's; then the
  lower of that and the ChargePointMaxProfile (3.13.3). Connector 0's own schedule is its TxDefaultProfile
  within the ChargePointMaxProfile (as EVerest's libocpp reports it), not the sum of the connectors.
- Kinds: Absolute from ``startSchedule`` (when it is absent: from when the profile arrived); Recurring
  Daily or Weekly from ``startSchedule``, repeating backwards too, periods past the recurrence cut
  (errata 3.44); Relative from the start of the connector's running transaction (without one: as if
  it started at the moment asked about, so a TxDefaultProfile applies from the start of the next one).
- A new TxDefaultProfile applies to the running transaction at once (errata 3.8), unless
  ``tx_default_applies_from_next_session``: then a running transaction keeps the TxDefaultProfiles it
  started with (set, changed or cleared since), as many real chargers do.
- W and A: ``A = W / (voltage x phases)`` where phases is the period's ``numberPhases`` (3 when absent)
  but never more than the charger's ``phases`` (errata 3.34: the limit is used as given, on the phases
  the charger has).
- A profile whose ``validTo`` has passed is removed. A TxProfile is removed when its transaction ends.
  Profiles stay across reconnections (errata 3.37); the object lives as long as the charge point.

GetCompositeSchedule answers from a whole second (``scheduleStart``) for ``duration`` seconds, in the
unit asked for (else A when the charger takes A, else W), each period with its ``numberPhases``, limits
rounded down to 0.1, periods in whole seconds rounded so that the schedule is never above what is in
force at any moment. A stretch without any limit is reported as the charger's maximum
(``max_current``), as EVerest does. When no limit is in force at all during the duration, real chargers
differ, and ``when_unlimited`` chooses (:class:`WhenUnlimited`): by default ``Accepted`` with
``connectorId`` and ``scheduleStart`` but no ``chargingSchedule`` (the schema's way of saying "no
schedule"); ``rejected`` as the Delta AC Mini and Entratek Power Dot Pro do (steve#44, evcc#15612);
``maximum``: one period at the charger's maximum (EVerest's libocpp); ``empty-periods``: a
``chargingSchedule`` with no periods (the ZJBENY BCP-B2N-L, evcc#15028; schema-invalid in
implementations that require a period). ``composite_schedule_supported=False`` answers CALLERROR
``NotSupported`` (GetCompositeSchedule.conf has no such status); ``supported=False`` (no SmartCharging
in ``SupportedFeatureProfiles``) answers all three so (errata 3.39) and ignores the ``chargingProfile``
of RemoteStartTransaction (5.11).
"""

from __future__ import annotations

import abc
import enum
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, TypedDict

from tools.configuration import ConfigurationStore
from tools.ocppj import JSONDict

__all__ = [
    "CHARGE_POINT_MAX",
    "TX",
    "TX_DEFAULT",
    "ChargingProfile",
    "Limit",
    "ModelOptions",
    "SchedulePeriod",
    "SmartCharging",
    "SmartChargingCalls",
    "SmartChargingError",
    "Transaction",
    "WhenUnlimited",
    "amperes_to_watts",
    "watts_to_amperes",
]

CHARGE_POINT_MAX: Final = "ChargePointMaxProfile"
TX_DEFAULT: Final = "TxDefaultProfile"
TX: Final = "TxProfile"
PURPOSES: Final = (CHARGE_POINT_MAX, TX_DEFAULT, TX)
KINDS: Final = ("Absolute", "Recurring", "Relative")
RECURRENCE_SECONDS: Final = {"Daily": 86_400, "Weekly": 604_800}
#: ChargingScheduleAllowedChargingRateUnit's names -> chargingRateUnit.
UNIT_NAMES: Final = {"current": "A", "power": "W", "a": "A", "w": "W"}
VOLTAGE: Final = 230.0
#: Amperes per phase of a charger without a limit: 3 x 16 A at 230 V, the simulated vehicle's 11 kW.
MAX_CURRENT: Final = 16.0


class SmartChargingError(Exception):
    """A request answered with a CALLERROR; ``code`` is an OCPP-J error code."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class WhenUnlimited(enum.StrEnum):
    """What GetCompositeSchedule answers when no limit is in force during the duration asked for."""

    #: ``Accepted``, ``connectorId`` and ``scheduleStart``, no ``chargingSchedule``.
    NO_SCHEDULE = "no-schedule"
    #: ``Rejected``.
    REJECTED = "rejected"
    #: ``Accepted``, one period at the charger's maximum.
    MAXIMUM = "maximum"
    #: ``Accepted``, a ``chargingSchedule`` whose ``chargingSchedulePeriod`` is empty.
    EMPTY_PERIODS = "empty-periods"


class ModelOptions(TypedDict, total=False):
    """The options of :class:`SmartCharging` that a 2.0.1 station's model passes on to it (its text
    tells them; absent: the same defaults)."""

    max_stack_level: int | None
    rate_units: Iterable[str]
    max_periods: int | None
    max_profiles: int | None
    phases: int
    voltage: float
    max_current: float
    supported: bool
    when_unlimited: WhenUnlimited | str
    clock: Callable[[], float]


def amperes_to_watts(amperes: float, phases: int, voltage: float = VOLTAGE) -> float:
    return amperes * voltage * phases


def watts_to_amperes(watts: float, phases: int, voltage: float = VOLTAGE) -> float:
    return watts / (voltage * phases)


def round_down(value: float) -> float:
    """Down to 0.1 (OCPP's one fraction digit), never above ``value`` beyond float noise."""
    return round(math.floor(value * 10 + 1e-6) / 10, 1)


def iso(moment: float) -> str:
    """ISO 8601 UTC, whole seconds, ``Z``."""
    return datetime.fromtimestamp(math.floor(moment), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Limit:
    """A limit in force: total watts, amperes per phase, and the phases they are on."""

    watts: float
    amperes: float
    phases: int

    def value(self, unit: str) -> float:
        return self.amperes if unit == "A" else self.watts


@dataclass(frozen=True)
class SchedulePeriod:
    start_period: int
    limit: float
    number_phases: int | None = None


@dataclass(frozen=True)
class ChargingProfile:
    """A charging profile as the charge point holds it (times in seconds since the epoch)."""

    id: int
    connector: int
    stack_level: int
    purpose: str
    kind: str
    unit: str
    periods: tuple[SchedulePeriod, ...]
    received: float
    recurrency: str | None = None
    valid_from: float | None = None
    valid_to: float | None = None
    start_schedule: float | None = None
    duration: int | None = None
    transaction_id: int | None = None
    #: ``csChargingProfiles`` as received.
    payload: JSONDict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def valid_at(self, moment: float) -> bool:
        return (self.valid_from is None or moment >= self.valid_from) and (
            self.valid_to is None or moment < self.valid_to
        )

    def origin(self, session_start: float) -> float:
        """Where the schedule's periods count from (the first cycle's, for a Recurring one)."""
        if self.kind == "Relative":
            return session_start
        return self.start_schedule if self.start_schedule is not None else self.received

    def period_at(self, moment: float, session_start: float) -> SchedulePeriod | None:
        """The period in force at ``moment``, None when the profile sets no limit then."""
        if not self.valid_at(moment):
            return None
        elapsed = round(moment - self.origin(session_start), 3)
        if self.recurrency is not None and self.kind == "Recurring":
            elapsed %= RECURRENCE_SECONDS[self.recurrency]
        if elapsed < 0 or (self.duration is not None and elapsed >= self.duration):
            return None
        found = None
        for period in self.periods:
            if period.start_period > elapsed:
                break
            found = period
        return found

    def breakpoints(self, start: float, end: float, session_start: float) -> Iterator[float]:
        """Every moment in [start, end) where the limit this profile sets may change (and some more)."""
        if self.valid_from is not None:
            yield self.valid_from
        if self.valid_to is not None:
            yield self.valid_to
        origin = self.origin(session_start)
        if self.kind == "Recurring" and self.recurrency is not None:
            cycle = RECURRENCE_SECONDS[self.recurrency]
            first = math.floor((start - origin) / cycle)
            last = math.floor((end - origin) / cycle)
            origins = [origin + k * cycle for k in range(first, last + 1)]
        else:
            cycle = None
            origins = [origin]
        for base in origins:
            yield base
            for period in self.periods:
                if cycle is None or period.start_period < cycle:
                    yield base + period.start_period
            if self.duration is not None and (cycle is None or self.duration < cycle):
                yield base + self.duration


@dataclass
class Transaction:
    id: int
    connector: int
    start: float
    #: With ``tx_default_applies_from_next_session``: the TxDefaultProfiles it started with.
    tx_defaults: tuple[ChargingProfile, ...] | None = None


@dataclass(frozen=True)
class _Sources:
    """The profiles that decide a connector's limit, each list highest stack level first."""

    tx: list[ChargingProfile]
    own_defaults: list[ChargingProfile]
    shared_defaults: list[ChargingProfile]
    caps: list[ChargingProfile]

    def all(self) -> Iterator[ChargingProfile]:
        yield from self.tx
        yield from self.own_defaults
        yield from self.shared_defaults
        yield from self.caps


def _by_stack_level(profiles: Iterable[ChargingProfile]) -> list[ChargingProfile]:
    return sorted(profiles, key=lambda profile: profile.stack_level, reverse=True)


def _is_int(value: Any) -> bool:
    return type(value) is int


class SmartChargingCalls(abc.ABC):
    """The answers to SetChargingProfile, ClearChargingProfile and GetCompositeSchedule, in a
    version's shapes (the abstract methods)."""

    def answer(self, action: str, payload: Mapping[str, Any], *, now: float | None = None) -> JSONDict | None:
        """The CALLRESULT payload of a smart-charging call, None for another action. Raises
        :class:`SmartChargingError` for a CALLERROR."""
        if action == "SetChargingProfile":
            return {"status": self.set_charging_profile(payload, now=now)}
        if action == "ClearChargingProfile":
            return {"status": self.clear_charging_profile(payload, now=now)}
        if action == "GetCompositeSchedule":
            return self.get_composite_schedule(payload, now=now)
        return None

    @abc.abstractmethod
    def set_charging_profile(self, payload: Any, *, now: float | None = None) -> str:
        """SetChargingProfile's status."""

    @abc.abstractmethod
    def clear_charging_profile(self, payload: Any, *, now: float | None = None) -> str:
        """ClearChargingProfile's status."""

    @abc.abstractmethod
    def get_composite_schedule(self, payload: Any, *, now: float | None = None) -> JSONDict:
        """GetCompositeSchedule's answer."""


class SmartCharging(SmartChargingCalls):
    """A charge point's charging profiles and its smart-charging answers (see the module's text).

    ``connectors``: how many it has (None: any connector number is taken). ``max_stack_level``,
    ``max_periods``, ``max_profiles``: ``ChargeProfileMaxStackLevel``, ``ChargingScheduleMaxPeriods``,
    ``MaxChargingProfilesInstalled`` (None: no limit). ``rate_units``: the units it takes, ``Current``/
    ``Power`` or ``A``/``W``. ``phases``, ``voltage``: for every W/A conversion. ``max_current``: amperes
    per phase it gives without a limit. ``clock``: seconds since the epoch. The other options: quirks
    of real chargers (module text). Every option is a public attribute and may be changed later.
    """

    def __init__(
        self,
        *,
        connectors: int | None = None,
        max_stack_level: int | None = None,
        rate_units: Iterable[str] = ("A", "W"),
        max_periods: int | None = None,
        max_profiles: int | None = None,
        phases: int = 3,
        voltage: float = VOLTAGE,
        max_current: float = MAX_CURRENT,
        tx_default_applies_from_next_session: bool = False,
        composite_schedule_supported: bool = True,
        supported: bool = True,
        when_unlimited: WhenUnlimited | str = WhenUnlimited.NO_SCHEDULE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if phases not in (1, 2, 3):
            raise ValueError(f"phases must be 1, 2 or 3, not {phases}")
        units = set()
        for name in rate_units:
            unit = UNIT_NAMES.get(name.strip().casefold())
            if unit is None:
                raise ValueError(f"unknown charging rate unit {name!r}: Current, Power, A or W")
            units.add(unit)
        self.connectors = connectors
        self.max_stack_level = max_stack_level
        self.rate_units: frozenset[str] = frozenset(units)
        self.max_periods = max_periods
        self.max_profiles = max_profiles
        self.phases = phases
        self.voltage = voltage
        self.max_current = max_current
        self.tx_default_applies_from_next_session = tx_default_applies_from_next_session
        self.composite_schedule_supported = composite_schedule_supported
        self.supported = supported
        self.when_unlimited = WhenUnlimited(when_unlimited)
        self.clock = clock
        #: Installed profiles by id.
        self.profiles: dict[int, ChargingProfile] = {}
        #: Running transactions by connector.
        self.transactions: dict[int, Transaction] = {}
        #: TxProfiles of accepted RemoteStartTransaction requests, by connector (0: the next to start).
        self.pending: dict[int, ChargingProfile] = {}
        #: (action, status, reason) of every request answered, in order.
        self.history: list[tuple[str, str, str]] = []

    @classmethod
    def from_configuration(
        cls,
        store: ConfigurationStore,
        *,
        phases: int | None = None,
        voltage: float = VOLTAGE,
        max_current: float = MAX_CURRENT,
        tx_default_applies_from_next_session: bool = False,
        composite_schedule_supported: bool = True,
        when_unlimited: WhenUnlimited | str = WhenUnlimited.NO_SCHEDULE,
        clock: Callable[[], float] = time.time,
    ) -> SmartCharging:
        """The model of a charger with ``store``'s smart-charging keys (their values in force now)."""
        names = store.effective_list("ChargingScheduleAllowedChargingRateUnit") or []
        units = [name for name in names if name.strip().casefold() in UNIT_NAMES]
        profiles = store.effective_list("SupportedFeatureProfiles")
        return cls(
            connectors=store.effective_int("NumberOfConnectors"),
            max_stack_level=store.effective_int("ChargeProfileMaxStackLevel"),
            rate_units=units or ("A", "W"),
            max_periods=store.effective_int("ChargingScheduleMaxPeriods"),
            max_profiles=store.effective_int("MaxChargingProfilesInstalled"),
            phases=phases if phases is not None else _phases(store.effective_list("ConnectorPhaseRotation")),
            voltage=voltage,
            max_current=max_current,
            tx_default_applies_from_next_session=tx_default_applies_from_next_session,
            composite_schedule_supported=composite_schedule_supported,
            supported=profiles is None or "SmartCharging" in profiles,
            when_unlimited=when_unlimited,
            clock=clock,
        )

    # ------------------------------------------------------------------ limits

    @property
    def max_power_w(self) -> float:
        """What the charger gives without a limit."""
        return amperes_to_watts(self.max_current, self.phases, self.voltage)

    def limit_of(self, unit: str, limit: float, number_phases: int | None) -> Limit:
        """A period's limit as the charger applies it."""
        phases = min(number_phases if number_phases is not None else 3, self.phases)
        if unit == "A":
            return Limit(amperes_to_watts(limit, phases, self.voltage), limit, phases)
        return Limit(limit, watts_to_amperes(limit, phases, self.voltage), phases)

    def limit_now(self, connector: int, *, now: float | None = None) -> float | None:
        """Watts ``connector`` must stay under now (None: no limit), by the profiles in force."""
        moment = self._now(now)
        self._purge(moment)
        transaction = self.transactions.get(connector)
        limit = self.limit_at(connector, moment, transaction.start if transaction is not None else moment)
        return limit.watts if limit is not None else None

    def charge_point_limit_now(self, *, now: float | None = None) -> float | None:
        """Watts all connectors together must stay under now (the ChargePointMaxProfile), None: no limit."""
        moment = self._now(now)
        self._purge(moment)
        caps = _by_stack_level(p for p in self.profiles.values() if p.purpose == CHARGE_POINT_MAX)
        limit = self._prevailing(caps, moment, moment)
        return limit.watts if limit is not None else None

    def limit_at(self, connector: int, moment: float, session_start: float) -> Limit | None:
        """The limit in force on ``connector`` at ``moment`` for a session that started at ``session_start``."""
        return self._limit(self._sources(connector), moment, session_start)

    def _sources(self, connector: int) -> _Sources:
        installed = list(self.profiles.values())
        caps = _by_stack_level(p for p in installed if p.purpose == CHARGE_POINT_MAX)
        defaults: Iterable[ChargingProfile] = [p for p in installed if p.purpose == TX_DEFAULT]
        if connector == 0:
            return _Sources([], [], _by_stack_level(p for p in defaults if p.connector == 0), caps)
        transaction = self.transactions.get(connector)
        tx: list[ChargingProfile] = []
        if transaction is not None:
            tx = _by_stack_level(
                p
                for p in installed
                if p.purpose == TX and p.connector == connector and p.transaction_id == transaction.id
            )
            if transaction.tx_defaults is not None:
                defaults = transaction.tx_defaults
        return _Sources(
            tx,
            _by_stack_level(p for p in defaults if p.connector == connector),
            _by_stack_level(p for p in defaults if p.connector == 0),
            caps,
        )

    def _prevailing(self, profiles: list[ChargingProfile], moment: float, session_start: float) -> Limit | None:
        for profile in profiles:
            period = profile.period_at(moment, session_start)
            if period is not None:
                return self.limit_of(profile.unit, period.limit, period.number_phases)
        return None

    def _limit(self, sources: _Sources, moment: float, session_start: float) -> Limit | None:
        limit = (
            self._prevailing(sources.tx, moment, session_start)
            or self._prevailing(sources.own_defaults, moment, session_start)
            or self._prevailing(sources.shared_defaults, moment, session_start)
        )
        cap = self._prevailing(sources.caps, moment, session_start)
        if limit is None or (cap is not None and cap.watts < limit.watts):
            return cap
        return limit

    def schedule(
        self, connector: int, start: float, duration: float, session_start: float | None = None
    ) -> list[tuple[float, float, Limit | None]]:
        """The limits in force on ``connector`` over [start, start + duration), exactly: (from, to, limit)
        stretches in order, merged where equal. ``session_start``: of the running transaction, else ``start``."""
        if session_start is None:
            transaction = self.transactions.get(connector)
            session_start = transaction.start if transaction is not None else start
        end = start + max(duration, 0.001)
        sources = self._sources(connector)
        points = {start}
        for profile in sources.all():
            points.update(
                moment
                for moment in (round(b, 3) for b in profile.breakpoints(start, end, session_start))
                if start < moment < end
            )
        ordered = sorted(points)
        stretches: list[tuple[float, float, Limit | None]] = []
        for begin, finish in zip(ordered, [*ordered[1:], end], strict=True):
            # Constant inside the stretch. Taken at its start: periods are found to the millisecond
            # (``period_at``), so the middle of a stretch shorter than that could round into the next.
            limit = self._limit(sources, begin, session_start)
            if stretches and stretches[-1][2] == limit:
                stretches[-1] = (stretches[-1][0], finish, limit)
            else:
                stretches.append((begin, finish, limit))
        return stretches

    # ------------------------------------------------------------------ transactions

    def transaction_started(self, connector: int, transaction_id: int, *, start: float | None = None) -> None:
        """A transaction started on ``connector``: TxProfiles may be set for it; the TxProfile of an
        accepted RemoteStartTransaction for it (or for any connector) is installed."""
        moment = self._now(start)
        self._purge(moment)
        snapshot = None
        if self.tx_default_applies_from_next_session:
            snapshot = tuple(p for p in self.profiles.values() if p.purpose == TX_DEFAULT)
        self.transactions[connector] = Transaction(transaction_id, connector, moment, snapshot)
        for profile in list(self.profiles.values()):  # of a transaction whose end was never told
            if profile.purpose == TX and profile.connector == connector and profile.transaction_id != transaction_id:
                del self.profiles[profile.id]
        remote = self.pending.pop(connector, None) or self.pending.pop(0, None)
        if remote is not None:
            self._install(replace(remote, connector=connector, transaction_id=transaction_id, received=moment))

    def transaction_stopped(self, transaction_id: int) -> None:
        """The transaction ended: its TxProfiles are removed (3.13.1, 7.10)."""
        for connector, transaction in list(self.transactions.items()):
            if transaction.id == transaction_id:
                del self.transactions[connector]
                for profile in list(self.profiles.values()):
                    if profile.purpose == TX and profile.connector == connector:
                        del self.profiles[profile.id]

    # ------------------------------------------------------------------ OCPP

    def set_charging_profile(self, payload: JSONDict, *, now: float | None = None) -> str:
        """SetChargingProfile.conf's status; an accepted profile is installed."""
        self._require_support("SetChargingProfile")
        moment = self._now(now)
        self._purge(moment)
        connector = self._connector(payload.get("connectorId"))
        body = payload.get("csChargingProfiles")
        if not isinstance(body, dict):
            raise SmartChargingError("ProtocolError", "csChargingProfiles must be an object")
        profile = self.parse_profile(body, connector, moment)
        reason = self._refusal(profile) or self._transaction_refusal(profile)
        if reason is not None:
            return self._answered("SetChargingProfile", "Rejected", reason)
        if profile.purpose == TX and profile.transaction_id is None:
            profile = replace(profile, transaction_id=self.transactions[connector].id)
        self._install(profile)
        return self._answered(
            "SetChargingProfile", "Accepted", f"{profile.purpose} {profile.id} installed on connector {connector}"
        )

    def clear_charging_profile(self, payload: JSONDict, *, now: float | None = None) -> str:
        """ClearChargingProfile.conf's status (errata 3.25, 3.26)."""
        self._require_support("ClearChargingProfile")
        self._purge(self._now(now))
        profile_id = payload.get("id")
        if profile_id is not None:
            if not _is_int(profile_id):
                raise SmartChargingError("TypeConstraintViolation", "id must be an integer")
            matched = [profile_id] if profile_id in self.profiles else []
        else:
            criteria = self._clear_criteria(payload)
            matched = [
                profile.id
                for profile in self.profiles.values()
                if all(getattr(profile, name) == wanted for name, wanted in criteria.items())
            ]
        for match in matched:
            del self.profiles[match]
        if not matched:
            return self._answered("ClearChargingProfile", "Unknown", "no profile matches")
        return self._answered("ClearChargingProfile", "Accepted", f"cleared {sorted(matched)}")

    def get_composite_schedule(self, payload: JSONDict, *, now: float | None = None) -> JSONDict:
        """GetCompositeSchedule.conf: the schedule in force on the connector from now for ``duration``."""
        self._require_support("GetCompositeSchedule")
        if not self.composite_schedule_supported:
            self._answered("GetCompositeSchedule", "NotSupported", "composite schedules not supported")
            raise SmartChargingError("NotSupported", "GetCompositeSchedule is not supported")
        connector: Any = payload.get("connectorId")
        duration: Any = payload.get("duration")
        unit: Any = payload.get("chargingRateUnit")
        if not _is_int(connector) or not _is_int(duration):
            raise SmartChargingError("TypeConstraintViolation", "connectorId and duration must be integers")
        if unit is not None and unit not in ("A", "W"):
            raise SmartChargingError("PropertyConstraintViolation", f"chargingRateUnit must be A or W, not {unit!r}")
        if connector < 0 or (self.connectors is not None and connector > self.connectors) or duration < 0:
            self._answered("GetCompositeSchedule", "Rejected", f"no connector {connector} or duration {duration}")
            return {"status": "Rejected"}
        moment = self._now(now)
        self._purge(moment)
        start = float(math.floor(moment))
        unit = unit or ("A" if "A" in self.rate_units else "W")
        quantised = self._whole_seconds(self.schedule(connector, start, duration), start, duration)
        answer: JSONDict = {"status": "Accepted", "connectorId": connector, "scheduleStart": iso(start)}
        schedule: JSONDict = {"duration": duration, "startSchedule": iso(start), "chargingRateUnit": unit}
        if all(limit is None for _, limit in quantised) and self.when_unlimited is not WhenUnlimited.MAXIMUM:
            status = self.when_unlimited
            if status is WhenUnlimited.REJECTED:
                self._answered("GetCompositeSchedule", "Rejected", f"no limit in force ({status})")
                return {"status": "Rejected"}
            self._answered("GetCompositeSchedule", "Accepted", f"no limit in force ({status})")
            if status is WhenUnlimited.EMPTY_PERIODS:
                return {**answer, "chargingSchedule": {**schedule, "chargingSchedulePeriod": []}}
            return answer
        maximum = self.limit_of("A", self.max_current, self.phases)
        periods: list[JSONDict] = []
        for offset, limit in quantised:
            shown = limit if limit is not None else maximum
            period = {"startPeriod": offset, "limit": round_down(shown.value(unit)), "numberPhases": shown.phases}
            if periods and (periods[-1]["limit"], periods[-1]["numberPhases"]) == (period["limit"], shown.phases):
                continue
            periods.append(period)
        self._answered("GetCompositeSchedule", "Accepted", f"{len(periods)} periods")
        return {**answer, "chargingSchedule": {**schedule, "chargingSchedulePeriod": periods}}

    def remote_start(self, connector: Any, body: Any, *, now: float | None = None) -> str:
        """RemoteStartTransaction with ``chargingProfile`` (5.16.2): ``Accepted`` and the TxProfile kept
        for the transaction it starts, or ``Rejected`` (not a TxProfile, a ``transactionId``, or what
        SetChargingProfile would reject). Without smart charging the profile is ignored (5.11)."""
        if not self.supported:
            return "Accepted"
        moment = self._now(now)
        number = connector if _is_int(connector) else 0
        if not isinstance(body, dict):
            raise SmartChargingError("TypeConstraintViolation", "chargingProfile must be an object")
        profile = self.parse_profile(body, number, moment)
        reason = self._refusal(replace(profile, connector=number or 1))
        if reason is None and profile.purpose != TX:
            reason = f"a RemoteStartTransaction profile must be a TxProfile, not {profile.purpose}"
        if reason is None and profile.transaction_id is not None:
            reason = "a RemoteStartTransaction profile must not have a transactionId"
        if reason is not None:
            return self._answered("RemoteStartTransaction", "Rejected", reason)
        self.pending[number] = profile
        return self._answered("RemoteStartTransaction", "Accepted", f"TxProfile {profile.id} for the next transaction")

    # ------------------------------------------------------------------ reading requests

    def parse_profile(self, body: JSONDict, connector: int, received: float) -> ChargingProfile:
        """A ``csChargingProfiles`` object as held; raises :class:`SmartChargingError` when malformed."""
        for name in ("chargingProfileId", "stackLevel", "chargingProfilePurpose", "chargingProfileKind"):
            if name not in body:
                raise SmartChargingError("ProtocolError", f"csChargingProfiles has no {name}")
        schedule = body.get("chargingSchedule")
        if not isinstance(schedule, dict):
            raise SmartChargingError("ProtocolError", "chargingSchedule must be an object")
        profile_id, stack_level = body["chargingProfileId"], body["stackLevel"]
        transaction_id, duration = body.get("transactionId"), schedule.get("duration")
        for name, value in (("chargingProfileId", profile_id), ("stackLevel", stack_level)):
            if not _is_int(value):
                raise SmartChargingError("TypeConstraintViolation", f"{name} must be an integer")
        for name, value in (("transactionId", transaction_id), ("duration", duration)):
            if value is not None and not _is_int(value):
                raise SmartChargingError("TypeConstraintViolation", f"{name} must be an integer")
        if stack_level < 0:
            raise SmartChargingError("PropertyConstraintViolation", "stackLevel must be 0 or more")
        purpose = self._enum(body["chargingProfilePurpose"], "chargingProfilePurpose", PURPOSES)
        kind = self._enum(body["chargingProfileKind"], "chargingProfileKind", KINDS)
        recurrency = body.get("recurrencyKind")
        if recurrency is not None:
            recurrency = self._enum(recurrency, "recurrencyKind", tuple(RECURRENCE_SECONDS))
        unit = self._enum(schedule.get("chargingRateUnit"), "chargingRateUnit", ("A", "W"))
        return ChargingProfile(
            id=profile_id,
            connector=connector,
            stack_level=stack_level,
            purpose=purpose,
            kind=kind,
            unit=unit,
            periods=self._periods(schedule.get("chargingSchedulePeriod")),
            received=received,
            recurrency=recurrency,
            valid_from=self._time(body.get("validFrom"), "validFrom"),
            valid_to=self._time(body.get("validTo"), "validTo"),
            start_schedule=self._time(schedule.get("startSchedule"), "startSchedule"),
            duration=duration,
            transaction_id=transaction_id,
            payload=body,
        )

    @staticmethod
    def _periods(value: Any) -> tuple[SchedulePeriod, ...]:
        if not isinstance(value, list) or not value:
            raise SmartChargingError("ProtocolError", "chargingSchedulePeriod must be a list of at least one period")
        periods = []
        for index, item in enumerate(value):
            if not isinstance(item, dict) or "startPeriod" not in item or "limit" not in item:
                raise SmartChargingError("ProtocolError", f"period {index} must have startPeriod and limit")
            start, limit, phases = item["startPeriod"], item["limit"], item.get("numberPhases")
            number = type(limit) in (int, float) and math.isfinite(limit)
            if not _is_int(start) or not number or (phases is not None and not _is_int(phases)):
                raise SmartChargingError("TypeConstraintViolation", f"period {index} has a value of the wrong type")
            periods.append(SchedulePeriod(start, float(limit), phases))
        return tuple(periods)

    @staticmethod
    def _enum(value: Any, name: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise SmartChargingError("PropertyConstraintViolation", f"{name} must be one of {', '.join(allowed)}")
        return str(value)

    @staticmethod
    def _time(value: Any, name: str) -> float | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise SmartChargingError("TypeConstraintViolation", f"{name} must be a date-time")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise SmartChargingError("TypeConstraintViolation", f"{name} is not a date-time: {value!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()

    def _connector(self, value: Any) -> int:
        if not _is_int(value):
            raise SmartChargingError("TypeConstraintViolation", "connectorId must be an integer")
        if value < 0 or (self.connectors is not None and value > self.connectors):
            raise SmartChargingError(
                "PropertyConstraintViolation", f"connectorId {value}: the charge point has {self.connectors} connectors"
            )
        return int(value)

    def _clear_criteria(self, payload: JSONDict) -> dict[str, Any]:
        criteria: dict[str, Any] = {}
        connector, purpose, stack_level = (
            payload.get("connectorId"),
            payload.get("chargingProfilePurpose"),
            payload.get("stackLevel"),
        )
        if connector is not None:
            if not _is_int(connector):
                raise SmartChargingError("TypeConstraintViolation", "connectorId must be an integer")
            criteria["connector"] = connector
        if purpose is not None:
            criteria["purpose"] = self._enum(purpose, "chargingProfilePurpose", PURPOSES)
        if stack_level is not None:
            if not _is_int(stack_level):
                raise SmartChargingError("TypeConstraintViolation", "stackLevel must be an integer")
            criteria["stack_level"] = stack_level
        return criteria

    # ------------------------------------------------------------------ rules

    def _refusal(self, profile: ChargingProfile) -> str | None:
        """Why the charge point rejects ``profile`` whatever its transactions, None when it takes it."""
        if profile.purpose == CHARGE_POINT_MAX and profile.connector != 0:
            return "a ChargePointMaxProfile is only set on connector 0"
        if profile.purpose == TX and profile.connector == 0:
            return "a TxProfile is only set on a connector > 0"
        if profile.transaction_id is not None and profile.purpose != TX:
            return "only a TxProfile has a transactionId"
        if self.max_stack_level is not None and profile.stack_level > self.max_stack_level:
            return f"stackLevel {profile.stack_level} above ChargeProfileMaxStackLevel {self.max_stack_level}"
        if profile.unit not in self.rate_units:
            return f"chargingRateUnit {profile.unit} not in ChargingScheduleAllowedChargingRateUnit"
        if self.max_periods is not None and len(profile.periods) > self.max_periods:
            return f"{len(profile.periods)} periods, ChargingScheduleMaxPeriods is {self.max_periods}"
        starts = [period.start_period for period in profile.periods]
        if starts[0] != 0 or any(later <= earlier for earlier, later in itertools.pairwise(starts)):
            return "periods must start at 0 and follow each other"
        for period in profile.periods:
            if period.limit < 0 or (period.number_phases is not None and period.number_phases not in (1, 2, 3)):
                return f"period at {period.start_period}: limit below 0 or numberPhases not 1 to 3"
        if profile.kind == "Recurring" and profile.recurrency is None:
            return "a Recurring profile needs a recurrencyKind"
        if profile.duration is not None and profile.duration < 0:
            return "duration below 0"
        if self.max_profiles is not None:
            kept = [p for p in self.profiles.values() if not self._replaces(profile, p)]
            if len(kept) + 1 > self.max_profiles:
                return f"MaxChargingProfilesInstalled {self.max_profiles} reached"
        return None

    def _transaction_refusal(self, profile: ChargingProfile) -> str | None:
        if profile.purpose != TX:
            return None
        transaction = self.transactions.get(profile.connector)
        if transaction is None:
            return f"no transaction runs on connector {profile.connector}"
        if profile.transaction_id is not None and profile.transaction_id != transaction.id:
            return f"transaction {profile.transaction_id} does not run on connector {profile.connector}"
        return None

    @staticmethod
    def _replaces(new: ChargingProfile, old: ChargingProfile) -> bool:
        """OCPP 1.6 5.16.3/5.16.4: the same id, or the same stack level and purpose (on the same connector)."""
        return old.id == new.id or (old.connector, old.stack_level, old.purpose) == (
            new.connector,
            new.stack_level,
            new.purpose,
        )

    def _install(self, profile: ChargingProfile) -> None:
        for old in list(self.profiles.values()):
            if self._replaces(profile, old):
                del self.profiles[old.id]
        self.profiles[profile.id] = profile

    def _purge(self, moment: float) -> None:
        """Profiles whose validTo has passed are gone (EVerest, MicroOcpp)."""
        for profile in list(self.profiles.values()):
            if profile.valid_to is not None and profile.valid_to <= moment:
                del self.profiles[profile.id]

    def _require_support(self, action: str) -> None:
        if not self.supported:
            self._answered(action, "NotSupported", "no SmartCharging feature profile")
            raise SmartChargingError("NotSupported", f"{action}: smart charging is not supported")

    def _answered(self, action: str, status: str, reason: str) -> str:
        self.history.append((action, status, reason))
        return status

    def _now(self, now: float | None) -> float:
        return self.clock() if now is None else now

    @staticmethod
    def _whole_seconds(
        stretches: list[tuple[float, float, Limit | None]], start: float, duration: int
    ) -> list[tuple[int, Limit | None]]:
        """The stretches on whole seconds from ``start``: each second takes the lowest limit of any
        stretch it overlaps, so the result is never above what is in force at any moment."""
        cuts = {0, duration}
        for begin, _, _ in stretches:
            offset = begin - start
            cuts.update(value for value in (math.floor(offset), math.ceil(offset)) if 0 < value < duration)
        ordered = sorted(cuts)
        if duration == 0:
            return [(0, stretches[0][2] if stretches else None)]
        seconds: list[tuple[int, Limit | None]] = []
        for low, high in itertools.pairwise(ordered):
            overlapping = [
                limit
                for begin, finish, limit in stretches
                if limit is not None and begin < start + high and finish > start + low
            ]
            lowest = min(overlapping, key=lambda limit: limit.watts) if overlapping else None
            if seconds and seconds[-1][1] == lowest:
                continue
            seconds.append((low, lowest))
        return seconds


def _phases(rotation: list[str] | None) -> int:
    """1 when ``ConnectorPhaseRotation`` says NotApplicable for every connector > 0, else 3."""
    entries = [item.partition(".") for item in rotation or []]
    connectors = [value for number, _, value in entries if number.strip() not in ("", "0")]
    return 1 if connectors and all(value == "NotApplicable" for value in connectors) else 3
