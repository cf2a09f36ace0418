"""The load generator: charge points over plain websockets, in their own processes.

Each worker process runs its own event loop (uvloop when installed) and opens its share of the
charge points with the ``websockets`` client (``compression=None``). Frames are pre-encoded: a
call is a fixed prefix, a counter and a fixed suffix, so the generator spends its time on the
socket, not on JSON. Two modes:

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


@dataclass
class WorkerConfig:
    url: str
    ids: list[str]
    mode: str  # "closed" or "periodic"
    period: float = 10.0
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
    from the transport's callbacks (no coroutine per call)."""

    def __init__(self, transport: asyncio.Transport, suffix: bytes, latencies: array[float], end: float) -> None:
        self.transport = transport
        self.suffix = suffix
        self.latencies = latencies
        self.end = end
        self.counter = 0
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
        self.transport.write(client_frame(b'[2,"' + str(self.counter).encode() + self.suffix))

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
            if opcode == 0x1:  # an answer (CALLRESULT or CALLERROR): the next call
                del buffer[: start + size]
                self.latencies.append(time.perf_counter() - self.sent)
                self.counter += 1
                if not self.done.done():
                    self._call()
                continue
            payload = bytes(buffer[start : start + size])
            del buffer[: start + size]
            if opcode == 0x9:  # ping
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
        self.sockets: dict[str, ClientConnection] = {}

    async def open(self, cp_id: str, slots: asyncio.Semaphore) -> None:
        async with slots:
            for attempt in range(20):
                try:
                    ws = await connect(
                        f"{self.config.url}/{cp_id}",
                        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
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
            await ws.send(BOOT)
            await ws.recv()
            await ws.send(STATUS)
            await ws.recv()
            # One MeterValues, so every key of this charge point is known before the run.
            await ws.send('[2,"first' + meter_values_suffix(0))
            await ws.recv()
            self.sockets[cp_id] = ws

    def closed_loops(self, end: float) -> list[ClosedLoop]:
        """Every connection handed from the ``websockets`` client to a :class:`ClosedLoop`."""
        suffix = meter_values_suffix(1000).encode()
        loops = []
        for ws in self.sockets.values():
            transport = ws.transport
            loop = ClosedLoop(transport, suffix, self.latencies, end)
            transport.set_protocol(loop)
            loops.append(loop)
        return loops

    async def periodic(self, ws: ClientConnection, offset: float, start: float, end: float) -> None:
        period = self.config.period
        meter = meter_values_suffix(1000)
        latencies, now = self.latencies, time.perf_counter
        counter = 0
        due = start + offset
        while due < end:
            await asyncio.sleep(max(0.0, due - now()))
            for suffix in (HEARTBEAT_SUFFIX, meter):
                sent = now()
                await ws.send('[2,"' + str(counter) + suffix)
                await ws.recv()
                latencies.append(now() - sent)
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
                asyncio.ensure_future(self.periodic(ws, period * index / count, start, end))
                for index, ws in enumerate(self.sockets.values())
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
        pipe.send(("done", len(self.latencies), self.errors, self.latencies.tobytes()))
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
