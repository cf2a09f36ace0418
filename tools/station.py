"""A simulated charge point with connectors that run charging sessions (``python -m tools.simulate``).

Each connector repeats: Available → Preparing, Authorize, StartTransaction, Charging with
MeterValues every interval, StopTransaction with transactionData, Finishing → Available.
Central-system calls are answered: SetChargingProfile / ClearChargingProfile cap the power,
RemoteStartTransaction / RemoteStopTransaction start and stop sessions, TriggerMessage sends
what it asks for; everything else gets the simulated charge point's defaults. A lost
connection is re-established with back-off; a session it interrupted ends with PowerLoss.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import WebSocketException

from common import __version__
from tools.chargepoint import SimulatedChargePoint
from tools.charging import ChargingProfiles, Meter, Vehicle, sample
from tools.ocppj import AnswerSpec, CallErrorReceived, JSONDict, utc_now

log = logging.getLogger(__name__)

#: What ends a connection attempt or a connected run (and is retried).
CONNECTION_ERRORS = (OSError, WebSocketException, TimeoutError, CallErrorReceived, ValueError, KeyError)
MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class SessionPlan:
    sessions: int  # per connector; 0 = forever
    interval: float  # seconds between meter values
    samples: int  # meter values per session
    pause: float  # idle seconds between sessions


@dataclass
class ConnectorState:
    number: int
    meter: Meter
    initial_wh: float
    status: str = "Available"
    transaction: int | None = None
    id_tag: str = ""
    vehicle: Vehicle | None = None
    session_start_wh: float = 0.0
    sessions_done: int = 0
    requested_tag: str | None = None
    start_wake: asyncio.Event = field(default_factory=asyncio.Event)
    stop_wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def session_wh(self) -> float:
        return self.meter.register_wh - self.session_start_wh if self.transaction is not None else 0.0


async def wait_any(events: list[asyncio.Event], timeout: float) -> None:  # noqa: ASYNC109
    """Until one of ``events`` is set or ``timeout`` seconds have passed."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class Station:
    """One simulated charge point and its connectors, until its sessions are done or ``stop`` is set."""

    def __init__(
        self, url: str, cp_id: str, connectors: int, plan: SessionPlan, stop: asyncio.Event, password: str | None
    ) -> None:
        self.cp_id = cp_id
        self.plan = plan
        self.stop = stop
        self.rng = random.Random(cp_id)  # noqa: S311 - simulation, not cryptography
        self.profiles = ChargingProfiles()
        self.connectors = [self._new_connector(number) for number in range(1, connectors + 1)]
        self.state = "starting"
        self.errors = 0
        self._tasks: set[asyncio.Task[None]] = set()
        headers = None
        if password is not None:
            token = base64.b64encode(f"{cp_id}:{password}".encode()).decode()
            headers = {"Authorization": f"Basic {token}"}
        self.cp = SimulatedChargePoint(url, cp_id, answers=self._answers(), extra_headers=headers)

    def _new_connector(self, number: int) -> ConnectorState:
        register = round(self.rng.uniform(100_000, 2_000_000), 1)
        return ConnectorState(number, Meter(register_wh=register), initial_wh=register)

    def connector_done(self, connector: ConnectorState) -> bool:
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
                log.info("%s: %s", self.cp_id, self.state)
                await wait_any([self.stop], backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
            finally:
                await self.cp.close()
        self.state = "done" if self.done else "stopped"

    async def _connected_run(self) -> None:
        self.state = "connecting"
        await self.cp.connect()
        boot = await self.cp.boot(
            chargePointVendor="BEMCom",
            chargePointModel="Simulator",
            chargePointSerialNumber=self.cp_id[:25],
            firmwareVersion=__version__,
        )
        if boot.get("status") != "Accepted":
            raise ValueError(f"BootNotification answered {boot.get('status')}")
        self.state = "connected"
        await self.cp.status(0, "Available")
        for connector in self.connectors:
            await self._recover(connector)
        loops = [asyncio.create_task(self._connector_loop(c), name=f"{self.cp_id}-{c.number}") for c in self.connectors]
        keep_alive = asyncio.create_task(self._keep_alive(float(boot.get("interval") or 300), loops))
        try:
            done, _ = await asyncio.wait([*loops, keep_alive], return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in [*loops, keep_alive]:
                task.cancel()
            await asyncio.gather(*loops, keep_alive, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _keep_alive(self, interval: float, loops: list[asyncio.Task[None]]) -> None:
        """Heartbeats; notices a closed connection even while every connector is idle."""
        next_beat = time.monotonic() + interval
        while not all(loop.done() for loop in loops):
            if not self.cp.connected:
                raise ConnectionError(f"connection closed (code {self.cp.close_code})")
            if time.monotonic() >= next_beat:
                await self.cp.heartbeat()
                next_beat = time.monotonic() + interval
            await asyncio.sleep(0.2)

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

    async def _connector_loop(self, connector: ConnectorState) -> None:
        pause = self.plan.pause * self.rng.uniform(0.1, 1.0)  # stagger the first sessions
        while not self.stop.is_set() and not self.connector_done(connector):
            if connector.requested_tag is None:
                await wait_any([self.stop, connector.start_wake], pause)
            if self.stop.is_set():
                return
            connector.start_wake.clear()
            remote, connector.requested_tag = connector.requested_tag, None
            await self._session(connector, remote or f"TAG-{self.rng.randrange(1000, 9999)}", remote is not None)
            pause = self.plan.pause

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

    async def _charge(self, connector: ConnectorState) -> str:
        """Meter values every interval until the session's samples are sent; the stop reason."""
        last = time.monotonic()
        for _ in range(self.plan.samples):
            await wait_any([self.stop, connector.stop_wake], self.plan.interval)
            if connector.stop_wake.is_set():
                return "Remote"
            if self.stop.is_set():
                return "Local"
            now = time.monotonic()
            assert connector.vehicle is not None and connector.transaction is not None  # noqa: S101
            limit = self.profiles.limit_w(connector.number, time.time())
            connector.meter.charge(connector.vehicle, now - last, limit, self.rng)
            last = now
            values = connector.meter.sampled_values(connector.vehicle)
            await self.cp.meter_values(connector.number, values, transaction_id=connector.transaction)
            if connector.vehicle.soc >= 100:
                return "EVDisconnected"
        return "Local"

    @staticmethod
    def _energy(connector: ConnectorState, context: str) -> JSONDict:
        return sample(str(connector.meter.reading_wh), "Energy.Active.Import.Register", "Wh", context)

    # -- answering the central system ---------------------------------------------------

    def _answers(self) -> dict[str, AnswerSpec]:
        return {
            "SetChargingProfile": lambda payload: {"status": self.profiles.set(payload, time.time())},
            "ClearChargingProfile": lambda payload: {"status": self.profiles.clear(payload)},
            "RemoteStartTransaction": self.remote_start,
            "RemoteStopTransaction": self.remote_stop,
            "TriggerMessage": self.trigger,
        }

    def remote_start(self, payload: JSONDict) -> JSONDict:
        wanted = payload.get("connectorId")
        for connector in self.connectors:
            idle = connector.status == "Available" and connector.transaction is None and connector.requested_tag is None
            if idle and wanted in (None, connector.number) and not self.connector_done(connector):
                connector.requested_tag = str(payload.get("idTag", "REMOTE"))
                connector.start_wake.set()
                return {"status": "Accepted"}
        return {"status": "Rejected"}

    def remote_stop(self, payload: JSONDict) -> JSONDict:
        for connector in self.connectors:
            if connector.transaction is not None and connector.transaction == payload.get("transactionId"):
                connector.stop_wake.set()
                return {"status": "Accepted"}
        return {"status": "Rejected"}

    def trigger(self, payload: JSONDict) -> JSONDict:
        requested, number = payload.get("requestedMessage"), payload.get("connectorId")
        chosen = [c for c in self.connectors if number in (None, c.number)]
        sends: dict[str, Callable[[], Awaitable[Any]]] = {
            "Heartbeat": self.cp.heartbeat,
            "StatusNotification": lambda: asyncio.gather(*(self.cp.status(c.number, c.status) for c in chosen)),
            "MeterValues": lambda: asyncio.gather(
                *(self.cp.meter_values(c.number, c.meter.sampled_values(c.vehicle)) for c in chosen)
            ),
        }
        send = sends.get(str(requested))
        if send is None or not chosen:
            return {"status": "Rejected" if send is not None else "NotImplemented"}
        task = asyncio.create_task(self._after_answer(send), name=f"{self.cp_id}-trigger")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {"status": "Accepted"}

    async def _after_answer(self, send: Callable[[], Awaitable[Any]]) -> None:
        await asyncio.sleep(0.05)  # let the answer to TriggerMessage leave first
        with contextlib.suppress(*CONNECTION_ERRORS):
            await send()
