"""The failsafe limit (``OCPP_FAILSAFE_POWER``): what every charge point may draw while BEMCom is
out of reach (DESIGN.md, "Power limits as leases").

BEMCom is in reach while the bridge tells the gateway so (the ``bemcom_alive`` command, every
second while it is connected to the broker). After ``OCPP_FAILSAFE_AFTER`` seconds without it
(broker down, bridge down) the failsafe is put in force on every charge point: BEMCom's profiles
(ids of ``processes/bridge/actuators/v16.py``) are cleared, so the failsafe profile governs, and
each running transaction gets it as its TxProfile at once; ``{cp}__failsafe`` turns true (the
``Failsafe`` event). When BEMCom is back, the event says false and the bridge restores its last
limits.

Where a charge point has two or more stack levels, the failsafe also holds when the connector is
gone altogether: after every boot (an onboarding follow-up) the charge point gets a permanent
TxDefaultProfile at stack level 0 carrying the failsafe power, and BEMCom's limits above it are
leases (a ``validTo`` a few minutes ahead, renewed by the bridge): when they run out, the charge
point falls back to the failsafe by itself. A charge point with one stack level gets the failsafe
only from the connector, as above.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable
from typing import Any, Protocol

from common.bus import ErrorCode
from common.settings import FailsafeSettings
from processes.gateway.command_server import CommandError
from processes.gateway.onboarding import Caller, OnboardedSession, Onboarding

#: The subprotocol of OCPP 2.0.1 (``v201/session.py``), whose payloads differ.
V201_SUBPROTOCOL = "ocpp2.0.1"

log = logging.getLogger(__name__)

#: The bus event that says whether the failsafe is in force on a charge point (``{cp}__failsafe``).
FAILSAFE_EVENT = "Failsafe"
#: The connector's own permanent failsafe profile (a TxDefaultProfile on connector 0, level 0).
FAILSAFE_PROFILE = 800
#: BEMCom's profiles (the bridge's ids): 1000 + c limits, 2000 + c schedules, 3000 + c TxProfiles.
BEMCOM_PROFILE_BASES = (1000, 2000)
TX_PROFILE_BASE = 3000
#: The start of the failsafe's schedule: long past, open-ended (Relative is not taken by every charger).
SINCE_EVER = "2020-01-01T00:00:00Z"
#: Seconds between looks at whether BEMCom is still in reach.
CHECK_INTERVAL = 1.0


class Sessions(Protocol):
    """The connected charge points (``registry.py``)."""

    @property
    def sessions(self) -> dict[str, Any]: ...


class Transactions(Protocol):
    def running(self, charge_point: str, v201: bool = False) -> dict[int, int | str]: ...


class Failsafe:
    def __init__(
        self, settings: FailsafeSettings, registry: Sessions, store: Transactions, onboarding: Onboarding
    ) -> None:
        self.settings = settings
        self._registry = registry
        self._store = store
        self._onboarding = onboarding
        #: Since the gateway started BEMCom has its OCPP_FAILSAFE_AFTER to show up.
        self._last_alive = time.monotonic()
        self.active = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self.settings.power is not None

    # -- BEMCom in reach or not ----------------------------------------------------------

    def alive(self) -> None:
        """The bridge is connected to the broker: BEMCom is in reach."""
        self._last_alive = time.monotonic()
        if self.active:
            self.active = False
            log.warning("BEMCom is in reach again: the failsafe limit is lifted, BEMCom's limits are restored")
            for session in list(self._registry.sessions.values()):
                session.emit(FAILSAFE_EVENT, {"active": False})

    async def watch(self) -> None:
        """Puts the failsafe in force once BEMCom has been out of reach for OCPP_FAILSAFE_AFTER."""
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            missing = time.monotonic() - self._last_alive
            if self.enabled and not self.active and missing >= self.settings.after:
                self.active = True
                sessions = list(self._registry.sessions.values())
                log.warning(
                    "BEMCom out of reach for %.0f s: the failsafe limit of %g W goes in force on %d charge points",
                    missing,
                    self.settings.power,
                    len(sessions),
                )
                for session in sessions:
                    session.emit(FAILSAFE_EVENT, {"active": True})
                    self._spawn(session)

    def _spawn(self, session: OnboardedSession) -> None:
        task = asyncio.create_task(self._enforce(session), name=f"failsafe-{session.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _enforce(self, session: OnboardedSession) -> None:
        try:
            await self.enforce(self._onboarding.caller(session))
        except CommandError as error:
            if error.code != ErrorCode.NOT_CONNECTED:
                log.warning("%s: the failsafe limit could not be put in force: %s", session.id, error.reason)

    # -- on a charge point ----------------------------------------------------------------

    async def after_onboarding(self, session: OnboardedSession, outcome: str, capabilities: dict[str, Any]) -> None:
        """After every boot: the permanent failsafe profile where there are two stack levels or
        more, and, while the failsafe is in force, the failsafe itself."""
        if not self.enabled:
            return
        caller = self._onboarding.caller(session)
        levels = _max_stack_level(session)
        if levels is None or levels >= 1:
            status = await _set(caller, self._failsafe_profile(session, 0, FAILSAFE_PROFILE, "TxDefaultProfile"))
            if status != "Accepted":
                log.warning("%s refused the permanent failsafe profile: %s", session.id, status)
        session.emit(FAILSAFE_EVENT, {"active": self.active})
        if self.active:
            await self.enforce(caller)

    async def enforce(self, caller: Caller) -> None:
        """BEMCom's profiles cleared, the failsafe as TxDefaultProfile (connector 0, level 0) and
        as TxProfile of every running transaction."""
        session = caller.session
        v201 = session.subprotocol == V201_SUBPROTOCOL
        for connector in sorted({0, *_connectors(session)}):
            for base in BEMCOM_PROFILE_BASES:
                clear = {"chargingProfileId": base + connector} if v201 else {"id": base + connector}
                await caller.call("ClearChargingProfile", clear)
        await _set(caller, self._failsafe_profile(session, 0, FAILSAFE_PROFILE, "TxDefaultProfile"))
        for connector, transaction in sorted(self._store.running(session.id, v201).items()):
            profile = self._failsafe_profile(session, connector, TX_PROFILE_BASE + connector, "TxProfile", transaction)
            await _set(caller, profile)
        log.info("%s: the failsafe limit is in force", session.id)

    def _failsafe_profile(
        self,
        session: OnboardedSession,
        connector: int,
        profile_id: int,
        purpose: str,
        transaction: int | str | None = None,
    ) -> dict[str, Any]:
        """SetChargingProfile's payload in the session's version (1.6, or 2.0.1's shape)."""
        payload = self._failsafe_profile_16(session, connector, profile_id, purpose)
        if transaction is not None:
            payload["csChargingProfiles"]["transactionId"] = transaction
        return as_201(payload) if session.subprotocol == V201_SUBPROTOCOL else payload

    def _failsafe_profile_16(
        self, session: OnboardedSession, connector: int, profile_id: int, purpose: str
    ) -> dict[str, Any]:
        power = self.settings.power or 0.0
        unit, phases, voltage = _electrical(session, self.settings)
        limit = power if unit == "W" else power / (voltage * phases)
        period: dict[str, Any] = {"startPeriod": 0, "limit": math.floor(limit * 10) / 10}
        if unit == "A":
            period["numberPhases"] = phases
        return {
            "connectorId": connector,
            "csChargingProfiles": {
                "chargingProfileId": profile_id,
                "stackLevel": 0,
                "chargingProfilePurpose": purpose,
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "startSchedule": SINCE_EVER,
                    "chargingRateUnit": unit,
                    "chargingSchedulePeriod": [period],
                },
            },
        }


def as_201(payload: dict[str, Any]) -> dict[str, Any]:
    """A 1.6 SetChargingProfile payload in OCPP 2.0.1's shape: the EVSE for the connector, the
    schedule in a list with its own id, a transaction id as text."""
    profile = payload["csChargingProfiles"]
    converted: dict[str, Any] = {
        "id": profile["chargingProfileId"],
        "stackLevel": profile["stackLevel"],
        "chargingProfilePurpose": profile["chargingProfilePurpose"].replace("ChargePoint", "ChargingStation"),
        "chargingProfileKind": profile["chargingProfileKind"],
        "chargingSchedule": [{"id": profile["chargingProfileId"], **profile["chargingSchedule"]}],
    }
    for field in ("recurrencyKind", "validFrom", "validTo"):
        if field in profile:
            converted[field] = profile[field]
    if "transactionId" in profile:
        converted["transactionId"] = str(profile["transactionId"])
    return {"evseId": payload["connectorId"], "chargingProfile": converted}


async def _set(caller: Caller, payload: dict[str, Any]) -> str:
    try:
        reply = await caller.call("SetChargingProfile", payload)
    except CommandError as error:
        if error.code == ErrorCode.NOT_CONNECTED:
            raise
        return error.code.value
    return str(reply.get("status"))


def _max_stack_level(session: OnboardedSession) -> int | None:
    levels = [
        value
        for value in (session.charger_profile.get("max_stack_level"), session.capabilities.get("max_stack_level"))
        if isinstance(value, int) and not isinstance(value, bool)
    ]
    return min(levels) if levels else None


def _connectors(session: OnboardedSession) -> Iterable[int]:
    count = session.capabilities.get("connectors")
    known = set(getattr(session, "connectors", {}) or {})
    if isinstance(count, int) and 0 < count <= 100:
        known |= set(range(1, count + 1))
    return known


def _electrical(session: OnboardedSession, settings: FailsafeSettings) -> tuple[str, int, float]:
    """(rate unit, phases, voltage): the charger profile's, else what it reported, else the settings."""
    profile, units = session.charger_profile, session.capabilities.get("rate_units")
    unit = profile.get("rate_unit")
    if unit not in ("A", "W"):
        unit = "A" if isinstance(units, list) and units and "W" not in units else "W"
    phases = profile.get("phases")
    voltage = profile.get("voltage")
    return (
        str(unit),
        phases if isinstance(phases, int) and 1 <= phases <= 3 else settings.phases,
        float(voltage) if isinstance(voltage, int | float) and voltage > 0 else settings.voltage,
    )
