"""The load generator: charge points over plain websockets, in their own processes.

Each worker process runs its own event loop (uvloop when installed) and opens its share of the
charge points with the ``websockets`` client (``compression=None``). Frames are pre-encoded: a
call is a fixed prefix, a counter and a fixed suffix, so the generator spends its time on the
socket, not on JSON. Two modes:

- ``closed``: every charge point sends its calls back to back with one outstanding call (as
  OCPP requires) until the deadline, and notes each answer's latency;
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

    async def closed(self, ws: ClientConnection, start: float, end: float) -> None:
        prefix, suffix = '[2,"', meter_values_suffix(1000)
        latencies, now = self.latencies, time.perf_counter
        send, recv = ws.send, ws.recv
        counter = 0
        await asyncio.sleep(max(0.0, start - now()))
        while True:
            sent = now()
            if sent >= end:
                return
            await send(prefix + str(counter) + suffix)
            await recv()
            latencies.append(now() - sent)
            counter += 1

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
        if self.config.mode == "closed":
            runs = [self.closed(ws, start, end) for ws in self.sockets.values()]
        else:
            period = self.config.period
            runs = [
                self.periodic(ws, period * index / count, start, end) for index, ws in enumerate(self.sockets.values())
            ]
        tasks = [asyncio.ensure_future(run) for run in runs]
        everything = asyncio.gather(*tasks, return_exceptions=True)
        orders = loop.run_in_executor(None, pipe.recv)  # "stop" early, or "close" after the results
        await asyncio.wait({everything, orders}, return_when=asyncio.FIRST_COMPLETED)
        if orders.done():
            for task in tasks:
                task.cancel()
        results = await everything
        self.errors = sum(
            1 for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
        )
        pipe.send(("done", len(self.latencies), self.errors, self.latencies.tobytes()))
        await orders
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
