"""The load generator: charge points over plain websockets, in their own processes.

Each worker process runs its own event loop (uvloop when installed) and opens its share of the
charge points with the ``websockets`` client (``compression=None``). Frames are pre-encoded: a
call is fixed parts with a counter between them (its message id, and for TransactionEvent its
``seqNo``), so the generator spends its time on the socket, not on JSON.

What the charge points speak (``WorkerConfig.protocol``, ``WorkerConfig.message``):

- ``ocpp1.6`` ``MeterValues``: connector 1, one meterValue with 4 sampled values (numbers as
  strings, ``unit``), after BootNotification, StatusNotification and one MeterValues;
- ``ocpp2.0.1`` ``MeterValues``: the same 4 sampled values as 2.0.1 has them (``evseId`` 1,
  numbers, ``unitOfMeasure``), after BootNotification, StatusNotification and one MeterValues;
- ``ocpp2.0.1`` ``TransactionEvent``: a transaction started once (``Started``, EVSE 1, its start
  register in ``meterValue``), then ``Updated`` events (trigger ``MeterValuePeriodic``, ``seqNo``
  counting, the transaction id only, the same 4 sampled values in ``meterValue``).

Calls of the central system (onboarding's GetConfiguration, GetBaseReport, ...) are answered with
a CALLERROR ``NotSupported`` at once (and never taken for an answer). Two modes:

- ``closed``: every charge point sends its calls back to back with one outstanding call (as
  OCPP requires) until the deadline, and notes each answer's latency. After the handshake and
  the boot, the connection is handed to :class:`ClosedLoop`, a plain asyncio protocol that
  writes each call as a ready websocket frame (masked with a zero key, which RFC 6455 allows)
  and reads the answers' frame headers only: the ``websockets`` client's per-message work
  (a task wake-up, masking, UTF-8 decoding) cost the machine under test more CPU than some
  of the processes measured;
- ``periodic``: every charge point sends a Heartbeat and a MeterValues once per ``period``
  seconds, spread evenly over the period, and notes each answer's latency.

Workers talk to the orchestrator over a multiprocessing pipe: ``ready`` once every charge point
is connected and booted, then ``go`` with the start and end times (``time.perf_counter``, which
is CLOCK_MONOTONIC and so comparable across processes), then the results.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import random
import resource
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

#: A timestamp for every meter value of a run: the bridge publishes it, nothing checks its age.
METER_TIMESTAMP = "2026-01-01T00:00:00.000Z"

V16 = "ocpp1.6"
V201 = "ocpp2.0.1"
METER_VALUES = "MeterValues"
TRANSACTION_EVENT = "TransactionEvent"
#: (subprotocol, message) a charge point can load a central system with.
LOADS = ((V16, METER_VALUES), (V201, METER_VALUES), (V201, TRANSACTION_EVENT))

#: MeterValues with 4 sampled values, as a charging station reports them every interval.
SAMPLED_VALUES = (
    '{"value":"%d","measurand":"Energy.Active.Import.Register","unit":"Wh"},'
    '{"value":"7360","measurand":"Power.Active.Import","unit":"W"},'
    '{"value":"16.0","measurand":"Current.Import","phase":"L1","unit":"A"},'
    '{"value":"230.1","measurand":"Voltage","phase":"L1-N","unit":"V"}'
)
SAMPLES_PER_METER_VALUES = 4


def meter_values_suffix(energy: int) -> str:
    sampled = SAMPLED_VALUES % energy
    meter_value = f'{{"timestamp":"{METER_TIMESTAMP}","sampledValue":[{sampled}]}}'
    return f'","MeterValues",{{"connectorId":1,"meterValue":[{meter_value}]}}]'


BOOT = '[2,"boot","BootNotification",{"chargePointVendor":"bench","chargePointModel":"bench"}]'
STATUS = '[2,"status","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Charging"}]'
HEARTBEAT_SUFFIX = '","Heartbeat",{}]'

#: The same 4 sampled values as OCPP 2.0.1 has them: numbers, ``unitOfMeasure``.
SAMPLED_VALUES_201 = (
    '{"value":%d,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}},'
    '{"value":7360,"measurand":"Power.Active.Import","unitOfMeasure":{"unit":"W"}},'
    '{"value":16.0,"measurand":"Current.Import","phase":"L1","unitOfMeasure":{"unit":"A"}},'
    '{"value":230.1,"measurand":"Voltage","phase":"L1-N","unitOfMeasure":{"unit":"V"}}'
)
BOOT_201 = '[2,"boot","BootNotification",{"reason":"PowerUp","chargingStation":{"vendorName":"bench","model":"bench"}}]'
STATUS_201 = (
    f'[2,"status","StatusNotification",{{"timestamp":"{METER_TIMESTAMP}","connectorStatus":"Occupied",'
    '"evseId":1,"connectorId":1}]'
)


def meter_value_201(energy: int, context: str | None = None) -> str:
    """A 2.0.1 ``meterValue`` list of one element with the 4 sampled values (``context`` on each)."""
    sampled = SAMPLED_VALUES_201 % energy
    if context is not None:
        sampled = sampled.replace('"measurand"', f'"context":"{context}","measurand"')
    return f'[{{"timestamp":"{METER_TIMESTAMP}","sampledValue":[{sampled}]}}]'


def meter_values_201_suffix(energy: int) -> str:
    return f'","MeterValues",{{"evseId":1,"meterValue":{meter_value_201(energy)}}}]'


def transaction_id(cp_id: str) -> str:
    """The one transaction of a charge point of the TransactionEvent load (at most 36 characters)."""
    return f"bench-{cp_id}"[:36]


def transaction_started(cp_id: str) -> str:
    """The ``Started`` event (``seqNo`` 0) of the charge point's transaction, on EVSE 1."""
    payload = (
        f'{{"eventType":"Started","timestamp":"{METER_TIMESTAMP}","triggerReason":"CablePluggedIn","seqNo":0,'
        f'"transactionInfo":{{"transactionId":"{transaction_id(cp_id)}","chargingState":"Charging"}},'
        f'"evse":{{"id":1,"connectorId":1}},"meterValue":{meter_value_201(0, "Transaction.Begin")}}}'
    )
    return f'[2,"start","TransactionEvent",{payload}]'


def transaction_updated_parts(cp_id: str, energy: int) -> tuple[str, str, str]:
    """An ``Updated`` event around its counter (message id, then ``seqNo``): trigger
    MeterValuePeriodic, the transaction id only, the 4 sampled values."""
    return (
        '[2,"',
        f'","TransactionEvent",{{"eventType":"Updated","timestamp":"{METER_TIMESTAMP}",'
        '"triggerReason":"MeterValuePeriodic","seqNo":',
        f',"transactionInfo":{{"transactionId":"{transaction_id(cp_id)}"}},"meterValue":{meter_value_201(energy)}}}]',
    )


def handshake(protocol: str, message: str, cp_id: str) -> list[str]:
    """The calls of a charge point before its load: boot, status and one message with every
    sampled value (so every key of the charge point is known before the run)."""
    if protocol == V16:
        return [BOOT, STATUS, '[2,"first' + meter_values_suffix(0)]
    first = transaction_started(cp_id) if message == TRANSACTION_EVENT else '[2,"first' + meter_values_201_suffix(0)
    return [BOOT_201, STATUS_201, first]


def call_parts(protocol: str, message: str, cp_id: str) -> tuple[bytes, ...]:
    """The load's call as its fixed parts: the counter goes between each two of them."""
    if (protocol, message) not in LOADS:
        raise ValueError(f"no {message} load for {protocol}: one of {LOADS}")
    if protocol == V16:
        parts: tuple[str, ...] = ('[2,"', meter_values_suffix(1000))
    elif message == METER_VALUES:
        parts = ('[2,"', meter_values_201_suffix(1000))
    else:
        parts = transaction_updated_parts(cp_id, 1000)
    return tuple(part.encode() for part in parts)


def call_frame(parts: tuple[bytes, ...], counter: int) -> bytes:
    return str(counter).encode().join(parts)


def is_call(frame: str | bytes) -> bool:
    """A CALL (message type 2) of the central system (compact JSON, as every server sends it)."""
    return frame[1:2] in ("2", b"2")


def not_supported(frame: str | bytes) -> str:
    """The CALLERROR answering a call of the central system (NotSupported: valid in 1.6 and 2.0.1)."""
    unique_id = json.loads(frame)[1]
    return json.dumps([4, unique_id, "NotSupported", "a bench charge point answers no calls", {}])


@dataclass
class WorkerConfig:
    url: str
    ids: list[str]
    mode: str  # "closed" or "periodic"
    period: float = 10.0
    protocol: str = V16  # the subprotocol: "ocpp1.6" or "ocpp2.0.1"
    message: str = METER_VALUES  # the load: "MeterValues", or (2.0.1) "TransactionEvent" Updated
    connect_concurrency: int = 200
    extra: dict[str, Any] = field(default_factory=dict)


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


ZERO_MASK = b"\x00\x00\x00\x00"
CLOSE_FRAME = b"\x88\x82" + ZERO_MASK + (1000).to_bytes(2, "big")  # masked with zeros: as is


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A final client-to-server websocket frame (RFC 6455, 5.2), masked with the zero key."""
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    return header + ZERO_MASK + payload


class ClosedLoop(asyncio.Protocol):
    """One charge point in closed mode, after the handshake: a call, its answer, the next call,
    from the transport's callbacks (no coroutine per call). The call is ``parts`` with the counter
    (from 1) between them; ``call_errors`` counts the answers that were CALLERRORs."""

    def __init__(
        self, transport: asyncio.Transport, parts: tuple[bytes, ...], latencies: array[float], end: float
    ) -> None:
        self.transport = transport
        self.parts = parts
        self.latencies = latencies
        self.end = end
        self.counter = 1
        self.call_errors = 0
        self.sent = 0.0
        self.buffer = bytearray()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def begin(self) -> None:
        self._call()

    def _call(self) -> None:
        now = time.perf_counter()
        if now >= self.end:
            self.stop()
            return
        self.sent = now
        self.transport.write(client_frame(str(self.counter).encode().join(self.parts)))

    def stop(self, error: BaseException | None = None) -> None:
        if not self.done.done():
            if error is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(error)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 2:
            size, start = buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, start = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + size:
                return
            opcode = buffer[0] & 0x0F
            kind = buffer[start + 1] if size > 1 else 0  # the message type digit of "[2,", "[3,", "[4,"
            if opcode == 0x1 and kind != 0x32:  # an answer (CALLRESULT or CALLERROR): the next call
                if kind == 0x34:
                    self.call_errors += 1
                del buffer[: start + size]
                self.latencies.append(time.perf_counter() - self.sent)
                self.counter += 1
                if not self.done.done():
                    self._call()
                continue
            payload = bytes(buffer[start : start + size])
            del buffer[: start + size]
            if opcode == 0x1:  # a call of the central system (onboarding): refused, not counted
                self.transport.write(client_frame(not_supported(payload).encode()))
            elif opcode == 0x9:  # ping
                self.transport.write(client_frame(payload, 0xA))
            elif opcode == 0x8:
                self.stop(ConnectionError(f"the server closed the connection: {payload!r}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop(exc or ConnectionError("connection lost"))

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(CLOSE_FRAME)
            self.transport.close()


class ChargePointLoad:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.latencies = array("d")
        self.answered = 0
        self.errors = 0
        self.call_errors = 0
        self.sockets: dict[str, ClientConnection] = {}

    async def open(self, cp_id: str, slots: asyncio.Semaphore) -> None:
        async with slots:
            for attempt in range(20):
                try:
                    ws = await connect(
                        f"{self.config.url}/{cp_id}",
                        subprotocols=[self.config.protocol],  # type: ignore[list-item]
                        compression=None,
                        open_timeout=60,
                        ping_interval=None,
                        max_queue=4,
                    )
                    break
                except (OSError, TimeoutError, Exception):
                    if attempt == 19:
                        raise
                    await asyncio.sleep(0.2 + random.random())
            for frame in handshake(self.config.protocol, self.config.message, cp_id):
                await ws.send(frame)
                answer = await self.answer(ws)
                if not answer.startswith("[3"):
                    raise RuntimeError(f"{cp_id}: {frame[:60]}... was answered {answer[:300]}")
            self.sockets[cp_id] = ws

    @staticmethod
    async def answer(ws: ClientConnection) -> str:
        """The next answer on ``ws``; the central system's calls meanwhile are refused."""
        while True:
            frame = await ws.recv()
            text = frame if isinstance(frame, str) else frame.decode()
            if not is_call(text):
                return text
            await ws.send(not_supported(text))

    def closed_loops(self, end: float) -> list[ClosedLoop]:
        """Every connection handed from the ``websockets`` client to a :class:`ClosedLoop`."""
        loops = []
        for cp_id, ws in self.sockets.items():
            transport = ws.transport
            parts = call_parts(self.config.protocol, self.config.message, cp_id)
            loop = ClosedLoop(transport, parts, self.latencies, end)
            transport.set_protocol(loop)
            loops.append(loop)
        return loops

    async def periodic(self, cp_id: str, ws: ClientConnection, offset: float, start: float, end: float) -> None:
        period = self.config.period
        measured = call_parts(self.config.protocol, self.config.message, cp_id)
        heartbeat = ('[2,"h', HEARTBEAT_SUFFIX)
        latencies, now = self.latencies, time.perf_counter
        counter = 1
        due = start + offset
        while due < end:
            await asyncio.sleep(max(0.0, due - now()))
            for frame in (str(counter).join(heartbeat), call_frame(measured, counter).decode()):
                sent = now()
                await ws.send(frame)
                answer = await self.answer(ws)
                latencies.append(now() - sent)
                if answer.startswith("[4"):
                    self.call_errors += 1
            counter += 1
            due += period

    async def run(self, pipe: Connection) -> None:
        slots = asyncio.Semaphore(self.config.connect_concurrency)
        await asyncio.gather(*(self.open(cp_id, slots) for cp_id in self.config.ids))
        # Thousands of connections are long-lived objects: without this, a full collection of
        # this process (tens of ms) would show up as answer latency of the system under test.
        gc.collect()
        gc.freeze()
        pipe.send(("ready", len(self.sockets)))
        loop = asyncio.get_running_loop()
        _, start, end = await loop.run_in_executor(None, pipe.recv)
        count = len(self.sockets)
        closed_loops: list[ClosedLoop] = []
        if self.config.mode == "closed":
            closed_loops = self.closed_loops(end)
            await asyncio.sleep(max(0.0, start - time.perf_counter()))
            for closed_loop in closed_loops:
                closed_loop.begin()
            waits: list[asyncio.Future[None]] = [closed_loop.done for closed_loop in closed_loops]
        else:
            period = self.config.period
            waits = [
                asyncio.ensure_future(self.periodic(cp_id, ws, period * index / count, start, end))
                for index, (cp_id, ws) in enumerate(self.sockets.items())
            ]
        everything = asyncio.gather(*waits, return_exceptions=True)
        orders = loop.run_in_executor(None, pipe.recv)  # "stop" early, or "close" after the results
        await asyncio.wait({everything, orders}, return_when=asyncio.FIRST_COMPLETED)
        if orders.done():
            for closed_loop in closed_loops:
                closed_loop.stop()
            for wait in waits:
                wait.cancel()
        results = await everything
        self.errors = sum(
            1 for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
        )
        self.call_errors += sum(closed_loop.call_errors for closed_loop in closed_loops)
        pipe.send(("done", len(self.latencies), self.errors, self.latencies.tobytes(), self.call_errors))
        await orders
        for closed_loop in closed_loops:
            closed_loop.close()
        if not closed_loops:
            for ws in self.sockets.values():
                with contextlib.suppress(Exception):
                    await ws.close()


def worker(pipe: Connection, config: WorkerConfig) -> None:
    """Entry point of a load generator process."""
    raise_fd_limit()
    load = ChargePointLoad(config)
    try:
        import uvloop

        uvloop.run(load.run(pipe))
    except ImportError:
        asyncio.run(load.run(pipe))
