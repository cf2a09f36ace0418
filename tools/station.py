"""A simulated charge point with connectors that run charging sessions (``python -m tools.simulate``).

Each connector repeats: Available → Preparing, Authorize, StartTransaction, Charging with
MeterValues every interval, StopTransaction with transactionData, Finishing → Available.
Central-system calls are answered: SetChargingProfile, ClearChargingProfile and GetCompositeSchedule
by the charge point's smart-charging model (:class:`tools.smart_charging.SmartCharging`), whose limit
caps the power (a ChargePointMaxProfile shared by the charging connectors; a lower limit reaches the
vehicle ``ramp_down_delay`` seconds later) and is reported as ``Power.Offered`` / ``Current.Offered``;
RemoteStartTransaction / RemoteStopTransaction start and stop sessions, TriggerMessage sends
what it asks for; everything else gets the simulated charge point's defaults (GetConfiguration
and ChangeConfiguration from its configuration store). A lost connection is re-established with
back-off; a session it interrupted ends with PowerLoss.

:class:`ChargerBehaviour` makes it a particular charger: ``factory_settings`` gives it a real
charger's configuration keys (:func:`tools.configuration.factory_configuration`), and then its
MeterValues carry the measurands ``MeterValuesSampledData`` names, every ``MeterValueSampleInterval``
seconds (energy only until a central system changes them); ``never_boot`` connects without a
BootNotification (``boot_trigger``: what TriggerMessage(BootNotification) then does). Without a
``MeterValueSampleInterval`` key (the default store) it sends every measurand at each ``interval``.

:class:`StationBase` is what the 1.6 :class:`Station` and the 2.0.1 :class:`tools.station201.Station201`
share: the run with reconnects and back-off, the heartbeats, each connector's plan of sessions, the
metered charging under the limit in force and its share of the charger's maximum; a version's
subclass sends and answers its own messages.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from websockets.exceptions import WebSocketException

from common import __version__
from tools.chargepoint import AnswerCallError, BootTrigger, SimulatedChargePoint
from tools.charging import Meter, Vehicle, sample
from tools.configuration import (
    FACTORY_MAX_MEASURANDS,
    SIMULATED_MEASURANDS,
    ConfigurationStore,
    factory_configuration,
)
from tools.ocppj import DEFAULT_CONFIGURATION, AnswerSpec, CallErrorReceived, JSONDict, utc_now
from tools.smart_charging import SmartCharging, SmartChargingError

#: What ends a connection attempt or a connected run (and is retried).
CONNECTION_ERRORS = (OSError, WebSocketException, TimeoutError, CallErrorReceived, ValueError, KeyError)
MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class SessionPlan:
    sessions: int  # per connector; 0 = forever
    interval: float  # seconds between meter values
    samples: int  # meter values per session
    pause: float  # idle seconds between sessions


@dataclass(frozen=True)
class ChargerBehaviour:
    """What kind of charger a station is: its configuration keys, and whether it boots by itself."""

    #: A real charger's keys (energy-only meter values); else the simulator's two long-standing keys.
    factory_settings: bool = False
    #: Connect without a BootNotification (after every connect, the first too).
    never_boot: bool = False
    #: What TriggerMessage(BootNotification) does.
    boot_trigger: BootTrigger = BootTrigger.BOOT
    #: Keys whose changes are refused (``Rejected``).
    refuse: frozenset[str] = frozenset()
    #: Keys whose changes answer ``RebootRequired`` (in force after the next boot or Reset).
    reboot_required: frozenset[str] = frozenset()
    #: Measurands the charger accepts in ``MeterValuesSampledData``; None: all it can report.
    supported_measurands: tuple[str, ...] | None = None
    #: ``MeterValuesSampledDataMaxLength`` of the factory settings; None: the factory default.
    max_measurands: int | None = None
    #: Seconds until the vehicle follows a lower limit (a higher one it takes at once).
    ramp_down_delay: float = 0.0

    def configuration(self, connectors: int, interval: float) -> ConfigurationStore:
        """A new store for a charger with ``connectors``; the factory's MeterValueSampleInterval is
        ``interval`` in whole seconds (at least 1)."""
        measurands = self.supported_measurands if self.supported_measurands is not None else SIMULATED_MEASURANDS
        if not self.factory_settings:
            return ConfigurationStore(
                DEFAULT_CONFIGURATION,
                supported_measurands=measurands,
                refuse=self.refuse,
                reboot_required=self.reboot_required,
            )
        return factory_configuration(
            connectors,
            meter_interval=max(1, math.ceil(interval)),
            max_measurands=FACTORY_MAX_MEASURANDS if self.max_measurands is None else self.max_measurands,
            supported_measurands=measurands,
            refuse=self.refuse,
            reboot_required=self.reboot_required,
        )


TransactionId = TypeVar("TransactionId", int, str)


@dataclass
class SessionState(Generic[TransactionId]):
    """A connector (1.6) or an EVSE (2.0.1) and its charging session, in either version."""

    number: int
    meter: Meter
    initial_wh: float
    status: str = "Available"
    transaction: TransactionId | None = None
    id_tag: str = ""
    vehicle: Vehicle | None = None
    session_start_wh: float = 0.0
    sessions_done: int = 0
    start_wake: asyncio.Event = field(default_factory=asyncio.Event)
    stop_wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: The limit the vehicle follows (watts), and since when a lower one is offered.
    following_w: float | None = None
    lowered_at: float | None = None

    @property
    def session_wh(self) -> float:
        return self.meter.register_wh - self.session_start_wh if self.transaction is not None else 0.0


@dataclass
class ConnectorState(SessionState[int]):
    """A 1.6 connector: integer transaction ids; the idTag a RemoteStartTransaction asked for."""

    requested_tag: str | None = None


async def wait_any(events: list[asyncio.Event], timeout: float) -> None:  # noqa: ASYNC109
    """Until one of ``events`` is set or ``timeout`` seconds have passed."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def basic_auth_headers(cp_id: str, password: str | None) -> dict[str, str] | None:
    """The ``Authorization`` header of HTTP Basic authentication as ``cp_id`` (None without a password)."""
    if password is None:
        return None
    token = base64.b64encode(f"{cp_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class StationLink(Protocol):
    """What a station's run needs of its OCPP-J client (a 1.6 charge point or a 2.0.1 station)."""

    @property
    def connected(self) -> bool: ...

    @property
    def close_code(self) -> int | None: ...

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def boot(self) -> JSONDict: ...

    async def heartbeat(self) -> JSONDict: ...


class ProfileModel(Protocol):
    """What a station's sessions need of its smart-charging model (1.6 or 2.0.1)."""

    @property
    def phases(self) -> int: ...

    @property
    def max_power_w(self) -> float: ...

    def limit_now(self, connector: int, *, now: float | None = None) -> float | None: ...

    def remote_start(self, connector: int | None, body: Any) -> str: ...


State = TypeVar("State", bound=SessionState[Any])


class StationBase(abc.ABC, Generic[State]):
    """One simulated charger and its connectors (EVSEs), until its sessions are done or ``stop`` is
    set, in either version: the run with reconnects, the sessions' plan, the metered charging under
    the limit in force. A version's subclass sends and answers its messages (the abstract methods)."""

    def __init__(
        self, cp_id: str, connectors: int, plan: SessionPlan, stop: asyncio.Event, behaviour: ChargerBehaviour | None
    ) -> None:
        self.cp_id = cp_id
        self.plan = plan
        self.behaviour = behaviour or ChargerBehaviour()
        self.stop = stop
        self.rng = random.Random(cp_id)  # noqa: S311 - simulation, not cryptography
        self.connectors = [self._new_connector(number) for number in range(1, connectors + 1)]
        self.state = "starting"
        self.errors = 0

    @property
    @abc.abstractmethod
    def link(self) -> StationLink:
        """The OCPP-J client."""

    @property
    @abc.abstractmethod
    def smart_charging(self) -> ProfileModel:
        """The charging profiles."""

    @abc.abstractmethod
    def _connector_state(self, number: int, meter: Meter, initial_wh: float) -> State: ...

    def _new_connector(self, number: int) -> State:
        register = round(self.rng.uniform(100_000, 2_000_000), 1)
        return self._connector_state(number, Meter(register_wh=register), register)

    def connector_done(self, connector: State) -> bool:
        return self.plan.sessions > 0 and connector.sessions_done >= self.plan.sessions

    @property
    def done(self) -> bool:
        return all(self.connector_done(connector) for connector in self.connectors)

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set() and not self.done:
            try:
                await self._connected_run()
                backoff = 1.0
            except CONNECTION_ERRORS as error:
                self.errors += 1
                self.state = f"disconnected ({type(error).__name__}: {error}); retrying in {backoff:g} s"
                logging.getLogger(type(self).__module__).info("%s: %s", self.cp_id, self.state)
                await wait_any([self.stop], backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
            finally:
                await self.link.close()
        self.state = "done" if self.done else "stopped"

    async def _connected_run(self) -> None:
        self.state = "connecting"
        await self.link.connect()
        if not self.behaviour.never_boot:
            boot = await self.link.boot()
            if boot.get("status") != "Accepted":
                raise ValueError(f"BootNotification answered {boot.get('status')}")
        self.state = "connected"
        await self._on_connected()
        for connector in self.connectors:
            await self._recover(connector)
        loops = [asyncio.create_task(self._connector_loop(c), name=f"{self.cp_id}-{c.number}") for c in self.connectors]
        keep_alive = asyncio.create_task(self._keep_alive(loops))
        try:
            done, _ = await asyncio.wait([*loops, keep_alive], return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in [*loops, keep_alive]:
                task.cancel()
            await asyncio.gather(*loops, keep_alive, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _on_connected(self) -> None:
        """What the charger sends once connected (and booted), before its connectors' recovery."""

    @abc.abstractmethod
    def heartbeat_interval(self) -> float:
        """Seconds between Heartbeats."""

    async def _keep_alive(self, loops: list[asyncio.Task[None]]) -> None:
        """Heartbeats; notices a closed connection even while every connector is idle."""
        last_beat = time.monotonic()
        while not all(loop.done() for loop in loops):
            if not self.link.connected:
                raise ConnectionError(f"connection closed (code {self.link.close_code})")
            if time.monotonic() >= last_beat + self.heartbeat_interval():
                await self.link.heartbeat()
                last_beat = time.monotonic()
            await asyncio.sleep(0.2)

    @abc.abstractmethod
    async def _recover(self, connector: State) -> None:
        """After a (re)connect: end the session a lost connection interrupted; report the status."""

    async def _connector_loop(self, connector: State) -> None:
        pause = self.plan.pause * self.rng.uniform(0.1, 1.0)  # stagger the first sessions
        while not self.stop.is_set() and not self.connector_done(connector):
            if not self._requested(connector):
                await wait_any([self.stop, connector.start_wake], pause)
            if self.stop.is_set():
                return
            connector.start_wake.clear()
            await self._next_session(connector)
            pause = self.plan.pause

    @abc.abstractmethod
    def _requested(self, connector: State) -> bool:
        """Whether a remote start waits on ``connector``."""

    @abc.abstractmethod
    async def _next_session(self, connector: State) -> None:
        """A session: the remote start that waits, else a local one with a random tag."""

    def _local_tag(self) -> str:
        return f"TAG-{self.rng.randrange(1000, 9999)}"

    @abc.abstractmethod
    def report_interval(self) -> int | None:
        """Seconds between meter values during a transaction (0: none; None: at every step)."""

    @abc.abstractmethod
    def sampled_values(self, connector: State, context: str = "Sample.Periodic") -> list[JSONDict]:
        """The meter values to report now."""

    @abc.abstractmethod
    def _station_limit_now(self) -> float | None:
        """Watts the whole charger must stay under now (its maximum profile), None: no limit."""

    def offered_w(self, connector: State) -> float:
        """What the connector offers now: the charger's maximum within the limit in force on it and
        within its share of the charger's maximum profile (split among the connectors charging)."""
        model = self.smart_charging
        offered = model.max_power_w
        own = model.limit_now(connector.number)
        if own is not None:
            offered = min(offered, own)
        cap = self._station_limit_now()
        if cap is not None:
            sharing = sum(1 for other in self.connectors if other.transaction is not None or other is connector)
            offered = min(offered, cap / max(1, sharing))
        return max(0.0, offered)

    def vehicle_limit_w(self, connector: State, now: float) -> float:
        """The limit the vehicle follows at ``now`` (monotonic): what is offered, a lower offer only
        once it has held for ``ramp_down_delay`` seconds."""
        offered = self.offered_w(connector)
        delay = self.behaviour.ramp_down_delay
        if connector.following_w is None or offered >= connector.following_w or delay <= 0:
            connector.following_w, connector.lowered_at = offered, None
        elif connector.lowered_at is None:
            connector.lowered_at = now
        elif now - connector.lowered_at >= delay:
            connector.following_w, connector.lowered_at = offered, None
        return connector.following_w

    async def _charge(self, connector: State) -> str:
        """The session's samples, one every ``interval``, each charging the vehicle; meter values at
        each (or every ``report_interval()`` seconds); the stop reason."""
        last = last_report = time.monotonic()
        connector.following_w = connector.lowered_at = None
        next_step = last + self.plan.interval
        steps = 0
        while steps < self.plan.samples:
            every = self.report_interval()
            wake = next_step if not every else min(next_step, last_report + every)
            await wait_any([self.stop, connector.stop_wake], max(0.0, wake - time.monotonic()))
            if connector.stop_wake.is_set():
                return "Remote"
            if self.stop.is_set():
                return "Local"
            now = time.monotonic()
            assert connector.vehicle is not None and connector.transaction is not None  # noqa: S101
            limit = self.vehicle_limit_w(connector, now)
            connector.meter.charge(connector.vehicle, now - last, limit, self.rng)
            self._metered(connector)
            last = now
            stepped = now >= next_step
            if stepped:
                steps += 1
                next_step += self.plan.interval
            if stepped if every is None else (every > 0 and now >= last_report + every):
                last_report = now
                values = self.sampled_values(connector)
                if values:
                    await self._report(connector, values)
            if connector.vehicle.soc >= 100:
                return "EVDisconnected"
        return "Local"

    def _metered(self, connector: State) -> None:
        """After each step of charging: what the charger shows of its meter."""

    @abc.abstractmethod
    async def _report(self, connector: State, values: list[JSONDict]) -> None:
        """Send the meter ``values`` of the running transaction."""

    # -- answering the central system ---------------------------------------------------

    def _startable(self, connector: State, wanted: Any) -> bool:
        """Whether a remote start for connector ``wanted`` (None: any) may start on ``connector``."""
        idle = connector.status == "Available" and connector.transaction is None and not self._requested(connector)
        return idle and wanted in (None, connector.number) and not self.connector_done(connector)

    def _remote_profile(self, connector: State, body: Any) -> str:
        """The smart-charging model's answer to the TxProfile of a remote start."""
        try:
            return self.smart_charging.remote_start(connector.number, body)
        except SmartChargingError as error:
            raise AnswerCallError(error.code, error.description) from None

    def remote_stop(self, payload: JSONDict) -> JSONDict:
        """RemoteStopTransaction (1.6), RequestStopTransaction (2.0.1)."""
        for connector in self.connectors:
            if connector.transaction is not None and connector.transaction == payload.get("transactionId"):
                connector.stop_wake.set()
                return {"status": "Accepted"}
        return {"status": "Rejected"}


class Station(StationBase[ConnectorState]):
    """One simulated 1.6 charge point and its connectors, until its sessions are done or ``stop`` is set."""

    def __init__(
        self,
        url: str,
        cp_id: str,
        connectors: int,
        plan: SessionPlan,
        stop: asyncio.Event,
        password: str | None,
        behaviour: ChargerBehaviour | None = None,
        configuration: ConfigurationStore | None = None,
        smart_charging: SmartCharging | None = None,
    ) -> None:
        super().__init__(cp_id, connectors, plan, stop, behaviour)
        if configuration is None:
            configuration = self.behaviour.configuration(connectors, plan.interval)
        #: The charger's configuration keys (its GetConfiguration and ChangeConfiguration answers).
        self.configuration = configuration
        self.cp = SimulatedChargePoint(
            url,
            cp_id,
            answers=self._answers(),
            extra_headers=basic_auth_headers(cp_id, password),
            configuration=configuration,
            smart_charging=smart_charging,
            boot_trigger=self.behaviour.boot_trigger,
            boot_fields={
                "chargePointVendor": "BEMCom",
                "chargePointModel": "Simulator",
                "chargePointSerialNumber": cp_id[:25],
                "firmwareVersion": __version__,
            },
        )

    @property
    def link(self) -> SimulatedChargePoint:
        return self.cp

    @property
    def smart_charging(self) -> SmartCharging:
        """The charging profiles (by default a model of the configuration's smart-charging keys)."""
        return self.cp.smart_charging

    def _connector_state(self, number: int, meter: Meter, initial_wh: float) -> ConnectorState:
        return ConnectorState(number, meter, initial_wh=initial_wh)

    # -- running ------------------------------------------------------------------------

    async def _on_connected(self) -> None:
        await self.cp.status(0, "Available")

    def heartbeat_interval(self) -> float:
        """The BootNotification answer's interval on this connection, else ``HeartbeatInterval``, else 300 s."""
        result = self.cp.last_boot_result if self.cp.booted else None
        interval = result.get("interval") if result is not None else None
        if isinstance(interval, int | float) and interval > 0:
            return float(interval)
        return float(self.configuration.effective_int("HeartbeatInterval") or 300)

    async def _recover(self, connector: ConnectorState) -> None:
        """After a reconnect: end the session a lost connection interrupted."""
        if connector.transaction is not None:
            await self.cp.stop_transaction(
                connector.transaction, connector.meter.reading_wh, reason="PowerLoss", idTag=connector.id_tag
            )
            connector.transaction = None
            connector.sessions_done += 1
        connector.vehicle = None
        connector.meter.idle()
        connector.status = "Available"
        await self.cp.status(connector.number, connector.status)

    def _requested(self, connector: ConnectorState) -> bool:
        return connector.requested_tag is not None

    async def _next_session(self, connector: ConnectorState) -> None:
        remote, connector.requested_tag = connector.requested_tag, None
        await self._session(connector, remote or self._local_tag(), remote is not None)

    async def _set_status(self, connector: ConnectorState, status: str) -> None:
        connector.status = status
        await self.cp.status(connector.number, status)

    async def _session(self, connector: ConnectorState, id_tag: str, remote: bool) -> None:
        connector.vehicle = Vehicle.arriving(self.rng)
        await self._set_status(connector, "Preparing")
        if not remote:
            answer = await self.cp.authorize(id_tag)
            if answer.get("idTagInfo", {}).get("status") != "Accepted":
                connector.vehicle = None
                connector.sessions_done += 1
                await self._set_status(connector, "Available")
                return
        connector.id_tag = id_tag
        connector.session_start_wh = connector.meter.register_wh
        begin = {"timestamp": utc_now(), "sampledValue": [self._energy(connector, "Transaction.Begin")]}
        connector.transaction = await self.cp.start_transaction(connector.number, id_tag, connector.meter.reading_wh)
        await self._set_status(connector, "Charging")
        reason = await self._charge(connector)
        connector.meter.idle()
        end = {"timestamp": utc_now(), "sampledValue": [self._energy(connector, "Transaction.End")]}
        connector.stop_wake.clear()
        await self.cp.stop_transaction(
            connector.transaction,
            connector.meter.reading_wh,
            reason=reason,
            idTag=id_tag,
            transactionData=[begin, end],
        )
        connector.transaction = None
        connector.sessions_done += 1
        await self._set_status(connector, "Finishing")
        connector.vehicle = None
        await self._set_status(connector, "Available")

    def report_interval(self) -> int | None:
        """Seconds between MeterValues: the ``MeterValueSampleInterval`` in force (0: none), None
        without that key (then at every step of the session)."""
        return self.configuration.effective_int("MeterValueSampleInterval")

    def sampled_values(self, connector: ConnectorState, context: str = "Sample.Periodic") -> list[JSONDict]:
        """A MeterValues sampledValue list: the measurands ``MeterValuesSampledData`` names (in force),
        every measurand the meter has without that key."""
        values = self._wired(connector, connector.meter.sampled_values(connector.vehicle, context))
        wanted = self.configuration.effective_list("MeterValuesSampledData")
        if wanted is None:
            return values
        offered_w = self.offered_w(connector)
        phases = self.smart_charging.phases
        values += [
            sample(f"{offered_w:.1f}", "Power.Offered", "W", context),
            sample(f"{offered_w / (connector.meter.voltage * phases):.1f}", "Current.Offered", "A", context),
        ]
        return [value for value in values if value["measurand"] in wanted]

    def _wired(self, connector: ConnectorState, values: list[JSONDict]) -> list[JSONDict]:
        """A single-phase charger measures current and voltage on L1 only."""
        if self.smart_charging.phases != 1:
            return values
        wired = []
        for value in values:
            phase = value.get("phase")
            if phase in ("L2", "L3", "L2-N", "L3-N"):
                continue
            if phase == "L1" and value["measurand"] == "Current.Import":
                value = {**value, "value": f"{connector.meter.power_w / connector.meter.voltage:.2f}"}
            wired.append(value)
        return wired

    def _station_limit_now(self) -> float | None:
        return self.smart_charging.charge_point_limit_now()

    async def _report(self, connector: ConnectorState, values: list[JSONDict]) -> None:
        await self.cp.meter_values(connector.number, values, transaction_id=connector.transaction)

    @staticmethod
    def _energy(connector: ConnectorState, context: str) -> JSONDict:
        return sample(str(connector.meter.reading_wh), "Energy.Active.Import.Register", "Wh", context)

    # -- answering the central system ---------------------------------------------------

    def _answers(self) -> dict[str, AnswerSpec]:
        return {
            "RemoteStartTransaction": self.remote_start,
            "RemoteStopTransaction": self.remote_stop,
            "TriggerMessage": self.trigger,
        }

    def remote_start(self, payload: JSONDict) -> JSONDict:
        wanted = payload.get("connectorId")
        for connector in self.connectors:
            if self._startable(connector, wanted):
                if (
                    "chargingProfile" in payload
                    and self._remote_profile(connector, payload["chargingProfile"]) != "Accepted"
                ):
                    return {"status": "Rejected"}
                connector.requested_tag = str(payload.get("idTag", "REMOTE"))
                connector.start_wake.set()
                return {"status": "Accepted"}
        return {"status": "Rejected"}

    def trigger(self, payload: JSONDict) -> JSONDict:
        requested, number = payload.get("requestedMessage"), payload.get("connectorId")
        if requested == "BootNotification":
            return self.cp.answer_boot_trigger()
        chosen = [c for c in self.connectors if number in (None, c.number)]
        sends: dict[str, Callable[[], Awaitable[Any]]] = {
            "Heartbeat": self.cp.heartbeat,
            "StatusNotification": lambda: asyncio.gather(*(self.cp.status(c.number, c.status) for c in chosen)),
            "MeterValues": lambda: asyncio.gather(
                *(self.cp.meter_values(c.number, self.sampled_values(c, "Trigger")) for c in chosen)
            ),
        }
        send = sends.get(str(requested))
        if send is None or not chosen:
            return {"status": "Rejected" if send is not None else "NotImplemented"}
        self.cp.after_answer(send)  # once the answer to TriggerMessage has left
        return {"status": "Accepted"}
