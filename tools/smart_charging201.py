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
from tools.smart_charging import TX, ModelOptions, SmartCharging, SmartChargingCalls, SmartChargingError, WhenUnlimited

__all__ = ["STATION_MAX", "SmartCharging201", "SmartChargingError", "WhenUnlimited"]

STATION_MAX: Final = "ChargingStationMaxProfile"
_TO_V16: Final = {STATION_MAX: "ChargePointMaxProfile"}
_FROM_V16: Final = {"ChargePointMaxProfile": STATION_MAX}
_PURPOSES: Final = (STATION_MAX, "TxDefaultProfile", TX)


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
        #: The 1.6 model holding the profiles (in 1.6's shapes) and computing the limits.
        self.model = SmartCharging(connectors=evses, **options)
        self.tx_profile_needs_transaction_id = tx_profile_needs_transaction_id
        #: The 2.0.1 ``chargingProfile`` of every profile received, by id (installed ones: :attr:`profiles`).
        self.bodies: dict[int, JSONDict] = {}
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

    def set_charging_profile(self, payload: Mapping[str, Any], *, now: float | None = None) -> str:
        """SetChargingProfileResponse's status; an accepted profile is installed."""
        body = payload.get("chargingProfile")
        if not isinstance(body, dict):
            raise SmartChargingError("ProtocolError", "chargingProfile must be an object")
        converted = self.to_v16(body)
        if (
            self.tx_profile_needs_transaction_id
            and body.get("chargingProfilePurpose") == TX
            and body.get("transactionId") is None
        ):
            self.model.history.append(("SetChargingProfile", "Rejected", "a TxProfile needs a transactionId"))
            return "Rejected"
        status = self.model.set_charging_profile(
            {"connectorId": payload.get("evseId"), "csChargingProfiles": converted}, now=now
        )
        if status == "Accepted":
            self.bodies[int(body["id"])] = dict(body)
            self._forget()
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
