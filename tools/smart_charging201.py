"""The smart charging of a simulated OCPP 2.0.1 charging station: SetChargingProfile,
ClearChargingProfile, GetChargingProfiles and GetCompositeSchedule in 2.0.1's shapes.

The rules are OCPP 1.6's (stack levels, purposes, validity, Absolute/Recurring/Relative, the
composite of TxProfile or TxDefaultProfile within the station's maximum), so this module translates
2.0.1 requests into :class:`tools.smart_charging.SmartCharging` calls and its answers back:

- ``evseId`` is 1.6's ``connectorId`` (0: the whole station); ``ChargingStationMaxProfile`` is
  ``ChargePointMaxProfile``; a profile's ``id`` is ``chargingProfileId``; of the ``chargingSchedule``
  list (up to three, for ISO 15118 tariffs) the station follows the first;
- transaction ids are strings: each one the station hears of gets a number for the 1.6 model, so a
  TxProfile names a running transaction or is ``Rejected``; and a TxProfile without
  ``transactionId`` is ``Rejected`` (K01.FR.03), unless ``tx_profile_needs_transaction_id`` is off;
- a ``chargingRateUnit`` outside ``SmartChargingCtrlr.RateUnit``, a ``stackLevel`` above
  ``ProfileStackLevel``, more periods than ``PeriodsPerSchedule``, more profiles than
  ``Entries[ChargingProfiles]``'s maxLimit: ``Rejected``;
- where 1.6 replaces a profile of the same ``stackLevel`` and purpose, 2.0.1 (part 2, K01) only
  replaces one of the same ``id`` (K01.FR.05, on whichever EVSE it was) and rejects the others, as
  EVerest's libocpp does (its names in ``additionalInfo``, its ``reasonCode``):

  - K01.FR.06: a ChargingStationMaxProfile or TxDefaultProfile with the ``stackLevel`` and purpose of
    one installed on the same EVSE under another id, their validity periods overlapping (absent
    ``validFrom``: from when the profile arrived; absent ``validTo``: for ever; periods that only
    touch overlap, as libocpp compares them): ``DuplicateProfileValidityPeriod``, ``DuplicateProfile``;
  - K01.FR.52/53: a TxDefaultProfile on EVSE 0 at a ``stackLevel`` where one under another id is
    installed on an EVSE > 0, or the reverse: ``DuplicateTxDefaultProfileFound``, ``DuplicateProfile``;
  - K01.FR.39: a TxProfile with the ``stackLevel`` and ``transactionId`` of one installed under
    another id: ``TxProfileConflictingStackLevel``, ``InvalidStackLevel``;

- a ``Rejected`` SetChargingProfile has a ``statusInfo`` (``reasonCode``, ``additionalInfo``: why),
  in :meth:`SmartCharging201.answer` and :meth:`SmartCharging201.set_charging_profile_response`;
- ClearChargingProfile: by ``chargingProfileId``, else every profile matching all of
  ``chargingProfileCriteria``'s ``evseId`` (absent: any EVSE), ``chargingProfilePurpose`` and
  ``stackLevel``; ``Accepted`` when it cleared one, else ``Unknown``;
- GetCompositeSchedule answers ``{"status", "schedule": {"evseId", "duration", "scheduleStart",
  "chargingRateUnit", "chargingSchedulePeriod"}}``; with no limit in force the ``when_unlimited``
  choice of the 1.6 model applies (``empty-periods`` is not valid 2.0.1 and answers as
  ``no-schedule``: ``Accepted`` without a ``schedule``).

Usage::

    model = SmartCharging201.from_device_model(factory_device_model(2))
    model.answer("SetChargingProfile", {"evseId": 1, "chargingProfile": {...}})   # {"status": "Accepted"}
    model.transaction_started(1, "5f0c...")
    model.limit_now(1)                                                             # watts, or None
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Final, Unpack

from tools.device_model201 import DeviceModel
from tools.ocppj import JSONDict
from tools.smart_charging import (
    CHARGE_POINT_MAX,
    TX,
    TX_DEFAULT,
    ChargingProfile,
    ModelOptions,
    SmartCharging,
    SmartChargingCalls,
    SmartChargingError,
    WhenUnlimited,
)

__all__ = ["STATION_MAX", "SmartCharging201", "SmartChargingError", "WhenUnlimited"]

STATION_MAX: Final = "ChargingStationMaxProfile"
_TO_V16: Final = {STATION_MAX: "ChargePointMaxProfile"}
_FROM_V16: Final = {"ChargePointMaxProfile": STATION_MAX}
_PURPOSES: Final = (STATION_MAX, "TxDefaultProfile", TX)
#: libocpp's names of the K01 conflicts (the start of a refusal's reason) and their reasonCode.
DUPLICATE_VALIDITY: Final = "DuplicateProfileValidityPeriod"
DUPLICATE_TX_DEFAULT: Final = "DuplicateTxDefaultProfileFound"
TX_STACK_LEVEL: Final = "TxProfileConflictingStackLevel"
#: A refusal's reason (a phrase in it) -> the ``reasonCode`` of its ``statusInfo`` (2.0.1 part 2,
#: appendix: reason codes; as libocpp chooses them); the first that matches, else ``InvalidValue``.
REASON_CODES: Final = (
    (DUPLICATE_VALIDITY, "DuplicateProfile"),
    (DUPLICATE_TX_DEFAULT, "DuplicateProfile"),
    (TX_STACK_LEVEL, "InvalidStackLevel"),
    ("needs a transactionId", "MissingParam"),
    ("no transaction runs", "TxNotFound"),
    ("does not run on", "TxNotFound"),
    ("stackLevel", "InvalidStackLevel"),
    ("chargingRateUnit", "UnsupportedRateUnit"),
    ("MaxChargingProfilesInstalled", "OutOfStorage"),
    ("period", "InvalidSchedule"),
    ("Recurring", "InvalidSchedule"),
    ("duration", "InvalidSchedule"),
)
_FOREVER: Final = float("inf")


def status_info(reason: str) -> JSONDict:
    """The ``statusInfo`` of a refusal: its ``reasonCode`` (:data:`REASON_CODES`) and the reason."""
    code = next((code for phrase, code in REASON_CODES if phrase in reason), "InvalidValue")
    return {"reasonCode": code, "additionalInfo": reason[:512]}


def _validity(profile: ChargingProfile) -> tuple[float, float]:
    """When ``profile`` is valid, as libocpp conforms it: from ``validFrom`` (else its arrival) to
    ``validTo`` (else for ever)."""
    start = profile.valid_from if profile.valid_from is not None else profile.received
    return start, profile.valid_to if profile.valid_to is not None else _FOREVER


class _Model201(SmartCharging):
    """The 1.6 model with 2.0.1's rules for profiles that meet at a stack level (the module's text):
    only the same id replaces (K01.FR.05); the rest of the 1.6 model is unchanged."""

    @staticmethod
    def _replaces(new: ChargingProfile, old: ChargingProfile) -> bool:
        return old.id == new.id

    def _refusal(self, profile: ChargingProfile) -> str | None:
        return super()._refusal(profile) or self._stack_level_conflict(profile)

    def _transaction_refusal(self, profile: ChargingProfile) -> str | None:
        return super()._transaction_refusal(profile) or self._tx_conflict(profile)

    def _stack_level_conflict(self, profile: ChargingProfile) -> str | None:
        """K01.FR.06 and K01.FR.52/53 (a TxProfile: none here)."""
        if profile.purpose not in (CHARGE_POINT_MAX, TX_DEFAULT):
            return None
        start, end = _validity(profile)
        others = [p for p in self.profiles.values() if p.id != profile.id and p.stack_level == profile.stack_level]
        for other in others:
            if other.purpose != profile.purpose or other.connector != profile.connector:
                continue
            other_start, other_end = _validity(other)
            if start <= other_end and end >= other_start:
                return (
                    f"{DUPLICATE_VALIDITY} (K01.FR.06): {self._named(other)} has stackLevel {profile.stack_level} "
                    f"on EVSE {profile.connector} in an overlapping validity period"
                )
        if profile.purpose == TX_DEFAULT:
            for other in others:
                if other.purpose == TX_DEFAULT and (other.connector == 0) != (profile.connector == 0):
                    rule = "K01.FR.52" if profile.connector == 0 else "K01.FR.53"
                    return (
                        f"{DUPLICATE_TX_DEFAULT} ({rule}): {self._named(other)} on EVSE {other.connector} "
                        f"has stackLevel {profile.stack_level}"
                    )
        return None

    def _tx_conflict(self, profile: ChargingProfile) -> str | None:
        """K01.FR.39: a TxProfile at the stack level of another of the same transaction."""
        if profile.purpose != TX:
            return None
        transaction = profile.transaction_id
        if transaction is None:
            running = self.transactions.get(profile.connector)
            transaction = running.id if running is not None else None
        for other in self.profiles.values():
            if (
                other.purpose == TX
                and other.id != profile.id
                and other.stack_level == profile.stack_level
                and other.transaction_id == transaction
            ):
                return (
                    f"{TX_STACK_LEVEL} (K01.FR.39): {self._named(other)} of the same transaction "
                    f"has stackLevel {profile.stack_level}"
                )
        return None

    @staticmethod
    def _named(profile: ChargingProfile) -> str:
        return f"{_FROM_V16.get(profile.purpose, profile.purpose)} {profile.id}"


class SmartCharging201(SmartChargingCalls):
    """A 2.0.1 station's charging profiles over the 1.6 model ``model`` (see the module's text)."""

    def __init__(
        self,
        *,
        evses: int | None = None,
        tx_profile_needs_transaction_id: bool = True,
        **options: Unpack[ModelOptions],
    ) -> None:
        """``evses``: how many (None: any EVSE id is taken); ``options``: those of the 1.6 model."""
        #: The 1.6 model holding the profiles (in 1.6's shapes) and computing the limits, with
        #: 2.0.1's rules where a profile meets another at its stack level.
        self.model: SmartCharging = _Model201(connectors=evses, **options)
        self.tx_profile_needs_transaction_id = tx_profile_needs_transaction_id
        #: The 2.0.1 ``chargingProfile`` of every profile received, by id (installed ones: :attr:`profiles`).
        self.bodies: dict[int, JSONDict] = {}
        #: The ``statusInfo`` of the last SetChargingProfile answered (None: ``Accepted``).
        self.status_info: JSONDict | None = None
        self._numbers: dict[str, int] = {}
        self._names: dict[int, str] = {}
        self._counter = itertools.count(1)

    @classmethod
    def from_device_model(cls, device_model: DeviceModel, **options: Any) -> SmartCharging201:
        """The model of a station with ``device_model``'s SmartChargingCtrlr variables."""
        units = device_model.effective_list("SmartChargingCtrlr.RateUnit") or ["A", "W"]
        entries = device_model.find_key("SmartChargingCtrlr.Entries[ChargingProfiles]")
        max_profiles = int(entries.max_limit) if entries is not None and entries.max_limit is not None else None
        phases = device_model.effective_int("ChargingStation.SupplyPhases") or 3
        options.setdefault("phases", 1 if phases == 1 else 3)
        return cls(
            evses=len(device_model.evse_ids()) or None,
            max_stack_level=device_model.effective_int("SmartChargingCtrlr.ProfileStackLevel"),
            rate_units=units,
            max_periods=device_model.effective_int("SmartChargingCtrlr.PeriodsPerSchedule"),
            max_profiles=max_profiles,
            **options,
        )

    # ------------------------------------------------------------------ state

    @property
    def profiles(self) -> dict[int, JSONDict]:
        """The installed profiles' 2.0.1 bodies, by id."""
        return {number: self.bodies[number] for number in self.model.profiles if number in self.bodies}

    def evse_of(self, profile_id: int) -> int | None:
        profile = self.model.profiles.get(profile_id)
        return profile.connector if profile is not None else None

    @property
    def phases(self) -> int:
        return self.model.phases

    @property
    def max_power_w(self) -> float:
        return self.model.max_power_w

    @property
    def history(self) -> list[tuple[str, str, str]]:
        """(action, status, reason) of every request answered, in order."""
        return self.model.history

    def limit_now(self, evse_id: int, *, now: float | None = None) -> float | None:
        """Watts ``evse_id`` must stay under now (None: no limit)."""
        return self.model.limit_now(evse_id, now=now)

    def station_limit_now(self, *, now: float | None = None) -> float | None:
        """Watts the whole station must stay under now (its ChargingStationMaxProfile)."""
        return self.model.charge_point_limit_now(now=now)

    def _number(self, transaction_id: str) -> int:
        number = self._numbers.get(transaction_id)
        if number is None:
            number = next(self._counter)
            self._numbers[transaction_id] = number
            self._names[number] = transaction_id
        return number

    def transaction_started(self, evse_id: int, transaction_id: str, *, start: float | None = None) -> None:
        self.model.transaction_started(evse_id, self._number(transaction_id), start=start)
        self._forget()

    def transaction_stopped(self, transaction_id: str) -> None:
        self.model.transaction_stopped(self._number(transaction_id))
        self._forget()

    def _forget(self) -> None:
        for number in list(self.bodies):
            if number not in self.model.profiles and number not in {p.id for p in self.model.pending.values()}:
                del self.bodies[number]

    # ------------------------------------------------------------------ OCPP

    def to_v16(self, body: Mapping[str, Any]) -> JSONDict:
        """A 2.0.1 ``chargingProfile`` in 1.6's ``csChargingProfiles`` shape."""
        schedules = body.get("chargingSchedule")
        if not isinstance(schedules, list) or not schedules or not isinstance(schedules[0], dict):
            raise SmartChargingError("ProtocolError", "chargingSchedule must be a list of at least one schedule")
        purpose = body.get("chargingProfilePurpose")
        if purpose not in _PURPOSES:
            raise SmartChargingError(
                "PropertyConstraintViolation", f"chargingProfilePurpose must be one of {_PURPOSES}"
            )
        first = schedules[0]
        schedule = {
            name: first[name]
            for name in ("duration", "startSchedule", "chargingRateUnit", "chargingSchedulePeriod", "minChargingRate")
            if name in first
        }
        converted: JSONDict = {
            "chargingProfileId": body.get("id"),
            "stackLevel": body.get("stackLevel"),
            "chargingProfilePurpose": _TO_V16.get(purpose, purpose),
            "chargingProfileKind": body.get("chargingProfileKind"),
            "chargingSchedule": schedule,
        }
        for name in ("recurrencyKind", "validFrom", "validTo"):
            if name in body:
                converted[name] = body[name]
        transaction = body.get("transactionId")
        if transaction is not None:
            if not isinstance(transaction, str):
                raise SmartChargingError("TypeConstraintViolation", "transactionId must be a string")
            converted["transactionId"] = self._number(transaction)
        return converted

    def answer(self, action: str, payload: Mapping[str, Any], *, now: float | None = None) -> JSONDict | None:
        """As :meth:`SmartChargingCalls.answer`; a rejected SetChargingProfile with its ``statusInfo``."""
        if action == "SetChargingProfile":
            return self.set_charging_profile_response(payload, now=now)
        return super().answer(action, payload, now=now)

    def set_charging_profile_response(self, payload: Mapping[str, Any], *, now: float | None = None) -> JSONDict:
        """SetChargingProfileResponse: the status, and when ``Rejected`` the ``statusInfo``."""
        response: JSONDict = {"status": self.set_charging_profile(payload, now=now)}
        if self.status_info is not None:
            response["statusInfo"] = self.status_info
        return response

    def set_charging_profile(self, payload: Mapping[str, Any], *, now: float | None = None) -> str:
        """SetChargingProfileResponse's status; an accepted profile is installed (why one is
        rejected: :attr:`status_info`)."""
        self.status_info = None
        body = payload.get("chargingProfile")
        if not isinstance(body, dict):
            raise SmartChargingError("ProtocolError", "chargingProfile must be an object")
        converted = self.to_v16(body)
        if (
            self.tx_profile_needs_transaction_id
            and body.get("chargingProfilePurpose") == TX
            and body.get("transactionId") is None
        ):
            reason = "a TxProfile needs a transactionId (K01.FR.03)"
            self.model.history.append(("SetChargingProfile", "Rejected", reason))
            self.status_info = status_info(reason)
            return "Rejected"
        status = self.model.set_charging_profile(
            {"connectorId": payload.get("evseId"), "csChargingProfiles": converted}, now=now
        )
        if status == "Accepted":
            self.bodies[int(body["id"])] = dict(body)
            self._forget()
        elif status == "Rejected":
            self.status_info = status_info(self.model.history[-1][2])
        return status

    def clear_charging_profile(self, payload: Mapping[str, Any], *, now: float | None = None) -> str:
        """ClearChargingProfileResponse's status: by ``chargingProfileId``, else by the criteria."""
        request: JSONDict = {}
        if payload.get("chargingProfileId") is not None:
            request["id"] = payload["chargingProfileId"]
        criteria = payload.get("chargingProfileCriteria") or {}
        if not isinstance(criteria, Mapping):
            raise SmartChargingError("TypeConstraintViolation", "chargingProfileCriteria must be an object")
        if criteria.get("evseId") is not None:
            request["connectorId"] = criteria["evseId"]
        if criteria.get("chargingProfilePurpose") is not None:
            purpose = criteria["chargingProfilePurpose"]
            request["chargingProfilePurpose"] = _TO_V16.get(purpose, purpose)
        if criteria.get("stackLevel") is not None:
            request["stackLevel"] = criteria["stackLevel"]
        status = self.model.clear_charging_profile(request, now=now)
        self._forget()
        return status

    def get_composite_schedule(self, payload: Mapping[str, Any], *, now: float | None = None) -> JSONDict:
        """GetCompositeScheduleResponse: the schedule in force on the EVSE from now for ``duration``."""
        request: JSONDict = {"connectorId": payload.get("evseId"), "duration": payload.get("duration")}
        if payload.get("chargingRateUnit") is not None:
            request["chargingRateUnit"] = payload["chargingRateUnit"]
        answer = self.model.get_composite_schedule(request, now=now)
        if answer.get("status") != "Accepted":
            return {"status": "Rejected"}
        schedule = answer.get("chargingSchedule")
        if not isinstance(schedule, dict) or not schedule.get("chargingSchedulePeriod"):
            return {"status": "Accepted"}
        return {
            "status": "Accepted",
            "schedule": {
                "evseId": answer["connectorId"],
                "duration": schedule["duration"],
                "scheduleStart": answer["scheduleStart"],
                "chargingRateUnit": schedule["chargingRateUnit"],
                "chargingSchedulePeriod": schedule["chargingSchedulePeriod"],
            },
        }

    def charging_profiles(self, payload: Mapping[str, Any]) -> dict[int, list[JSONDict]]:
        """GetChargingProfiles: the installed profiles matching ``evseId`` and ``chargingProfile``'s
        criteria, by EVSE ({} : ``NoProfiles``)."""
        evse = payload.get("evseId")
        criteria = payload.get("chargingProfile") or {}
        ids = criteria.get("chargingProfileId")
        purpose, stack_level = criteria.get("chargingProfilePurpose"), criteria.get("stackLevel")
        sources = criteria.get("chargingLimitSource")
        found: dict[int, list[JSONDict]] = {}
        if sources and "CSO" not in sources:
            return found
        for number, body in sorted(self.profiles.items()):
            held = self.model.profiles[number]
            if evse is not None and held.connector != evse:
                continue
            if ids and number not in ids:
                continue
            if purpose is not None and body.get("chargingProfilePurpose") != purpose:
                continue
            if stack_level is not None and body.get("stackLevel") != stack_level:
                continue
            reported = dict(body)
            if held.transaction_id is not None and held.transaction_id in self._names:
                reported["transactionId"] = self._names[held.transaction_id]
            found.setdefault(held.connector, []).append(reported)
        return found

    def remote_start(self, evse_id: int | None, body: Any) -> str:
        """The ``chargingProfile`` of RequestStartTransaction: ``Accepted`` and kept for the
        transaction it starts (it must be a TxProfile without ``transactionId``), or ``Rejected``."""
        if not isinstance(body, dict):
            raise SmartChargingError("TypeConstraintViolation", "chargingProfile must be an object")
        status = self.model.remote_start(evse_id, self.to_v16(body))
        if status == "Accepted":
            self.bodies[int(body["id"])] = dict(body)
        return status

    def transaction_name(self, number: int) -> str | None:
        """The 2.0.1 transaction id of the 1.6 model's number."""
        return self._names.get(number)

    @staticmethod
    def purpose_v201(purpose: str) -> str:
        return _FROM_V16.get(purpose, purpose)
