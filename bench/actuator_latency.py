"""Actuator latency: from a power limit written on MQTT to the SetChargingProfile calls arriving at
the charge point, to its outcome (``__result``) and to the limit read back
(``effective_limit__W``) on MQTT, with N charge points connected and sending meter values.

    .venv/bin/python -m bench.actuator_latency [--charge-points 1000] [--samples 2000] [--rate 100]
        [--targets 100] [--period 2] [--workers 2] [--no-onboarding] [--out DIR]

Runs the real connector (supervisord, the repository's supervisord.conf, its control socket in a
temporary directory) against a private mosquitto on a free port, with its defaults (onboarding on;
``--no-onboarding`` sets ``OCPP_ONBOARDING=FALSE``).

Charge points, ``--charge-points`` in all, every one a charger fresh from the factory
(bench/storm_loadgen.py's configuration: Current and Power, 8 stack levels, one connector, three
phases): it answers onboarding's GetConfiguration and ChangeConfiguration, and SetChargingProfile,
ClearChargingProfile and GetCompositeSchedule from the smart-charging model of
tools/smart_charging.py (its composite schedule is the limit of the last profile it accepted, in
amperes), and sends a Heartbeat and a MeterValues (4 sampled values) every ``--period`` seconds:

- ``--targets`` of them in this process (``websockets`` client, :class:`ChargePoints`) receive
  the power limits on ``{cp}__1__execute_send_charging_profile``; every second one has a
  transaction running on connector 1 (StartTransaction after its boot), so its limits go as
  TxDefaultProfile and as TxProfile: two SetChargingProfile calls, measured to the last one;
- the others in ``--workers`` processes (bench/storm_loadgen.py's lean charge points, one call
  every ``period / 2`` seconds, Heartbeat and MeterValues in turn) are the load.

Every boot is followed by onboarding and the bridge's read-back (GetCompositeSchedule of
connectors 0 and 1); the writes start once every charge point has been read back, and once a
datapoint map names every sensor known then (so the bridge publishes every meter value, as
bench.throughput does), the targets' ``__result`` and ``effective_limit__W`` under topics of
their own, and the targets' actuators. One warm-up limit per target, then ``--samples`` writes
at ``--rate`` per second, round-robin over the targets (half of them with a transaction).

Measured, per write (``time.perf_counter``, CLOCK_MONOTONIC, comparable across processes): its
publication; each SetChargingProfile with its limit arriving at the charge point; its
``__result`` and ``effective_limit__W`` arriving at an MQTT subscriber in a process of its own
(matched to the writes in order per charge point, and checked: ``Accepted``, a limit within one
0.1 A step below the one written). Baselines, in the same run on the same broker: one MQTT hop
(a value published to a topic until a plain subscriber receives it, the floor any connector
stands on) before the charge points connect, as this bench always measured it, and one hop
during the writes (published between them, received by the same subscriber as the results).
Results go to stdout and ``bench/results/actuator_latency.{md,json}``.

:class:`ChargePoints`, :func:`write_limits`, :func:`baseline`, :func:`mqtt_client`,
:func:`percentile` and :func:`machine` are also bench.throughput's (its actuator phase).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import multiprocessing
import os
import platform
import random
import tempfile
import threading
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.harness import Broker, Connector, wait_until
from bench.loadgen import client_frame, raise_fd_limit
from bench.probes import Control
from bench.storm_loadgen import (
    ANSWERS,
    FACTORY_CONFIGURATION,
    Fleet,
    StormChargePoint,
    StormConfig,
    get_configuration_answer,
)
from tools.smart_charging import SmartCharging, SmartChargingError

RESULTS = Path(__file__).resolve().parent / "results"
#: The central system's calls the smart-charging model answers.
SMART_CHARGING = ("SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule")
#: Seconds a charge point of this process waits for the answer to one of its calls.
CALL_TIMEOUT = 60.0
#: Charge points of the load connecting per second (spread over the workers).
CONNECT_RATE = 500.0
#: Written before the measured writes (one per target), and the first measured limit: distinct.
WARM_UP_W, FIRST_W = 5_000, 10_000
#: Seconds of the meter load alone before the writes, to tell what the writes cost.
QUIET_SECONDS = 5.0
#: The key onboarding changes last on a factory charger (its meter interval: 60 s, wanted 15 s).
LAST_ONBOARDING_KEY = "MeterValueSampleInterval"
#: The factory's amperes-to-watts step of a read-back (0.1 A on three phases at 230 V).
READ_BACK_STEP_W = 0.1 * 3 * 230


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), platform.processor())
    cores = len([line for line in cpuinfo if line.startswith("processor")])
    return f"{cores} x {model}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- the charger model


def factory_configuration() -> dict[str, tuple[str, bool]]:
    """A charger's configuration as it left the factory: key -> (value, read-only)."""
    return {key: (value, readonly) for key, value, readonly in FACTORY_CONFIGURATION}


def factory_model() -> SmartCharging:
    """The smart charging of a factory charger (its configuration's limits)."""
    values = {key: value for key, value, _ in FACTORY_CONFIGURATION}
    return SmartCharging(
        connectors=int(values["NumberOfConnectors"]),
        max_stack_level=int(values["ChargeProfileMaxStackLevel"]),
        rate_units=values["ChargingScheduleAllowedChargingRateUnit"].split(","),
        max_periods=int(values["ChargingScheduleMaxPeriods"]),
        max_profiles=int(values["MaxChargingProfilesInstalled"]),
        phases=3,
    )


def smart_charging_frame(unique: str, action: str, payload: dict[str, Any], model: SmartCharging) -> list[Any]:
    """The CALLRESULT (or CALLERROR) of a smart-charging call, from the model."""
    try:
        answer = model.answer(action, payload)
    except SmartChargingError as error:
        return [4, unique, error.code, error.description, {}]
    return [3, unique, answer if answer is not None else {}]


def answer_frame(
    unique: str, action: str, payload: dict[str, Any], configuration: dict[str, tuple[str, bool]], model: SmartCharging
) -> list[Any]:
    """What a factory charger answers a call of the central system."""
    if action in SMART_CHARGING:
        return smart_charging_frame(unique, action, payload, model)
    answer: dict[str, Any] | None
    if action == "GetConfiguration":
        answer = get_configuration_answer(configuration, payload.get("key"))
    elif action == "ChangeConfiguration":
        key, value = str(payload.get("key")), str(payload.get("value"))
        current = configuration.get(key)
        if current is None:
            answer = {"status": "NotSupported"}
        elif current[1]:
            answer = {"status": "Rejected"}
        else:
            configuration[key] = (value, False)
            answer = {"status": "Accepted"}
    else:
        answer = ANSWERS.get(action)
    if answer is None:
        return [4, unique, "NotImplemented", f"{action} is not implemented by this charge point", {}]
    return [3, unique, answer]


def meter_values(connector: int, transaction: int | None, watts: float, energy: int) -> dict[str, Any]:
    """MeterValues with 4 sampled values, now, within the limit in force."""
    sampled = [
        {"value": str(energy), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": f"{watts:.0f}", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": f"{watts / 690:.1f}", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
        {"value": "230.1", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
    ]
    body: dict[str, Any] = {"connectorId": connector, "meterValue": [{"timestamp": now_iso(), "sampledValue": sampled}]}
    if transaction is not None:
        body["transactionId"] = transaction
    return body


# --------------------------------------------------------------------------- targets (this process)


class ChargePoints:
    """``count`` charge points in this process (``websockets`` client, ids ``CP_<index>``): boot,
    report connector 1, answer every call as a factory charger does (:func:`answer_frame`), and
    note when each SetChargingProfile arrives, keyed by its limit (``arrivals``: the last one of a
    limit, ``first_arrivals``: the first). The ones in ``transactions`` start a transaction on
    connector 1 after booting; with a ``period`` each sends a Heartbeat and a MeterValues every
    ``period`` seconds (in turn, from a random phase)."""

    def __init__(self, url: str, count: int, transactions: Iterable[int] = (), period: float | None = None) -> None:
        self.url = url
        self.count = count
        self.transactions = set(transactions)
        self.period = period
        self.arrivals: dict[float, float] = {}
        self.first_arrivals: dict[float, float] = {}
        self.calls_per_limit: dict[float, int] = {}
        #: GetCompositeSchedule calls each charge point answered (the bridge's read-backs).
        self.read_backs = [0] * count
        #: Whether each charge point had onboarding's last change (:data:`LAST_ONBOARDING_KEY`).
        self.onboarded = [False] * count
        self.transaction_ids: dict[int, int] = {}
        self.answered: list[float] = []  # latency of the charge points' own periodic calls, seconds
        self.ready = 0
        self.all_ready = asyncio.Event()

    async def one(self, index: int, stop: asyncio.Event) -> None:
        async with connect(f"{self.url}/CP_{index}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            pending: dict[str, asyncio.Future[Any]] = {}
            model = factory_model()
            reader = asyncio.create_task(self._read(ws, index, factory_configuration(), model, pending))
            counter = itertools.count()
            loop = asyncio.get_running_loop()

            async def call(action: str, payload: dict[str, Any]) -> Any:
                unique = f"c{next(counter)}"
                future = pending[unique] = loop.create_future()
                await ws.send(json.dumps([2, unique, action, payload]))
                return await asyncio.wait_for(future, CALL_TIMEOUT)

            await call("BootNotification", {"chargePointVendor": "bench", "chargePointModel": "bench"})
            status = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
            await call("StatusNotification", status)
            transaction: int | None = None
            if index in self.transactions:
                start = {"connectorId": 1, "idTag": "BENCH", "meterStart": 0, "timestamp": now_iso()}
                transaction = int((await call("StartTransaction", start))["transactionId"])
                self.transaction_ids[index] = transaction
                model.transaction_started(1, transaction)
                await call("StatusNotification", {**status, "status": "Charging"})
            self.ready += 1
            if self.ready == self.count:
                self.all_ready.set()
            try:
                if self.period is None:
                    await stop.wait()
                else:
                    await self._periodic(call, model, transaction, stop)
            finally:
                await ws.close()
                with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
                    await reader

    async def _periodic(self, call: Any, model: SmartCharging, transaction: int | None, stop: asyncio.Event) -> None:
        assert self.period is not None
        half = self.period / 2
        delay, energy = random.random() * half, 0
        for turn in itertools.count():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            sent = time.perf_counter()
            if turn % 2:
                watts = model.limit_now(1) if transaction is not None else 0.0
                watts = min(11_000.0, 11_000.0 if watts is None else watts)
                energy += int(watts * self.period / 3600)
                await call("MeterValues", meter_values(1, transaction, watts, energy))
            else:
                await call("Heartbeat", {})
            self.answered.append(time.perf_counter() - sent)
            delay = max(0.0, sent + half - time.perf_counter())

    async def _read(
        self,
        ws: ClientConnection,
        index: int,
        configuration: dict[str, tuple[str, bool]],
        model: SmartCharging,
        pending: dict[str, asyncio.Future[Any]],
    ) -> None:
        async for text in ws:
            now = time.perf_counter()
            frame = json.loads(text)
            if frame[0] in (3, 4):
                future = pending.pop(frame[1], None)
                if future is not None and not future.done():
                    if frame[0] == 3:
                        future.set_result(frame[2])
                    else:
                        future.set_exception(RuntimeError(f"CP_{index}: CALLERROR {frame[2:]}"))
                continue
            if frame[0] != 2:
                continue
            unique, action, payload = frame[1], frame[2], frame[3]
            if action == "SetChargingProfile":
                schedule = payload["csChargingProfiles"]["chargingSchedule"]
                limit = float(schedule["chargingSchedulePeriod"][0]["limit"])
                self.arrivals[limit] = now
                self.first_arrivals.setdefault(limit, now)
                self.calls_per_limit[limit] = self.calls_per_limit.get(limit, 0) + 1
            elif action == "GetCompositeSchedule":
                self.read_backs[index] += 1
            elif action == "ChangeConfiguration" and payload.get("key") == LAST_ONBOARDING_KEY:
                self.onboarded[index] = True
            await ws.send(json.dumps(answer_frame(unique, action, payload, configuration, model)))


# --------------------------------------------------------------------------- the load (workers)


class LoadChargePoint(StormChargePoint):
    """A storm charge point (bench/storm_loadgen.py) that answers smart charging from its model."""

    def _answer(self, unique: str, action: str, payload: dict[str, Any]) -> None:
        if action not in SMART_CHARGING:
            super()._answer(unique, action, payload)
            return
        fleet = cast(LoadFleet, self.fleet)
        if action == "GetCompositeSchedule":
            fleet.read_backs[self.cp] += 1
        frame = smart_charging_frame(unique, action, payload, fleet.models[self.cp])
        self._write(client_frame(json.dumps(frame, separators=(",", ":")).encode()))


class LoadFleet(Fleet):
    def __init__(self, config: StormConfig) -> None:
        super().__init__(config)
        self.models = {cp: factory_model() for cp in config.ids}
        self.read_backs = dict.fromkeys(config.ids, 0)

    async def _connect(self, cp: str) -> None:
        config = self.config
        try:
            await self.loop.create_connection(lambda: LoadChargePoint(self, cp), config.host, config.port)
        except OSError as error:
            self.error("connect failed", f"{cp}: {error}")
            self.retry(cp)
        except Exception as error:  # a bug of this module: reported, not retried
            self.error("connect crashed", f"{cp}: {error!r}")

    def status(self, read_backs: int) -> dict[str, int]:
        return {
            "booted": sum(1 for record in self.records.values() if record.booted),
            "read_back": sum(1 for count in self.read_backs.values() if count >= read_backs),
            "onboarded": sum(
                1 for record in self.records.values() if any(key == LAST_ONBOARDING_KEY for key, _ in record.changes)
            ),
            # A call of the light load skipped because the one before was not answered yet is
            # reported with the results; anything else (connections, answers) ends the run.
            "failed": sum(count for kind, count in self.errors.items() if not kind.startswith("light call skipped")),
        }


async def load_run(pipe: Connection, config: StormConfig) -> None:
    """Orders from the orchestrator: ("go", start), ("status", read-backs), ("stop",), ("close",)."""
    fleet = LoadFleet(config)
    loop = asyncio.get_running_loop()
    pipe.send(("ready",))
    while True:
        order = await loop.run_in_executor(None, pipe.recv)
        if order[0] == "go":
            fleet.start(order[1])
        elif order[0] == "status":
            pipe.send(("status", fleet.status(order[1])))
        elif order[0] == "stop":
            unanswered = fleet.stop()
            sent, latency = fleet.light_sent.tobytes(), fleet.light_latency.tobytes()
            pipe.send(("results", sent, latency, len(unanswered), dict(fleet.errors), list(fleet.failures)))
        else:
            break
    fleet.stop()
    closed = fleet.close()
    if closed is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closed, 5)


def load_worker(pipe: Connection, config: StormConfig) -> None:
    """Entry point of a load process."""
    raise_fd_limit()
    gc.disable()  # as bench/storm_loadgen.py: its collections would show up as the system's latency
    try:
        import uvloop
    except ImportError:
        asyncio.run(load_run(pipe, config))
    else:
        uvloop.run(load_run(pipe, config))


@dataclass
class LoadResult:
    answered: int
    latencies_ms: list[float]
    unanswered: int
    errors: dict[str, int]
    failures: list[str]


class Load:
    """The load's charge points in ``workers`` processes; they connect on :meth:`go`."""

    def __init__(self, url: str, ids: list[str], workers: int, period: float) -> None:
        address = urlparse(url)
        host, port = address.hostname or "127.0.0.1", address.port or 80
        context = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self._processes: list[Any] = []
        workers = max(1, min(workers, len(ids)))
        for index in range(workers):
            mine = ids[index::workers]
            offsets = [(index + workers * position) / CONNECT_RATE for position in range(len(mine))]
            config = StormConfig(host, port, address.path.rstrip("/"), mine, offsets, period / 2, seed=index)
            parent, child = context.Pipe()
            process = context.Process(target=load_worker, args=(child, config), daemon=True)
            process.start()
            self._pipes.append(parent)
            self._processes.append(process)
        for pipe in self._pipes:
            if not pipe.poll(60):
                raise RuntimeError("a load process did not start within 60 s")
            pipe.recv()

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes]

    def go(self) -> None:
        start = time.perf_counter() + 0.2
        for pipe in self._pipes:
            pipe.send(("go", start))

    def status(self, read_backs: int) -> dict[str, int]:
        total = {"booted": 0, "read_back": 0, "onboarded": 0, "failed": 0}
        for pipe in self._pipes:
            pipe.send(("status", read_backs))
        for pipe in self._pipes:
            _, status = pipe.recv()
            for key in total:
                total[key] += status[key]
        return total

    def stop(self, since: float, until: float) -> LoadResult:
        """End the load; the answers to its calls sent from ``since`` to ``until``."""
        result = LoadResult(0, [], 0, {}, [])
        for pipe in self._pipes:
            pipe.send(("stop",))
        for pipe in self._pipes:
            _, sent, latency, unanswered, errors, failures = pipe.recv()
            for at, seconds in zip(array("d", sent), array("d", latency), strict=True):
                if since <= at <= until:
                    result.answered += 1
                    result.latencies_ms.append(seconds * 1000)
            result.unanswered += unanswered
            for kind, count in errors.items():
                result.errors[kind] = result.errors.get(kind, 0) + count
            result.failures += failures
        return result

    def close(self) -> None:
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(("close",))
        for process in self._processes:
            process.join(15)
            if process.is_alive():
                process.kill()


# --------------------------------------------------------------------------- MQTT


def mqtt_client(port: int) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def baseline(port: int, samples: int, rate: float) -> list[float]:
    """One MQTT hop on the same broker: publish -> a subscriber's on_message."""
    received: dict[str, float] = {}
    subscribed = threading.Event()
    subscriber = paho.Client(CallbackAPIVersion.VERSION2)
    subscriber.on_connect = lambda client, *_: client.subscribe("bench/baseline", 2)
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.on_message = lambda _c, _u, message: received.__setitem__(message.payload.decode(), time.perf_counter())
    subscriber.connect("127.0.0.1", port)
    subscriber.loop_start()
    subscribed.wait(10)
    publisher = mqtt_client(port)
    sent: dict[str, float] = {}
    for index in range(samples):
        value = json.dumps({"value": index, "timestamp": 0})
        sent[value] = time.perf_counter()
        publisher.publish("bench/baseline", value, qos=0)
        time.sleep(1 / rate)
    wait_until(lambda: len(received) >= samples, 30, "baseline messages")
    subscriber.loop_stop()
    publisher.loop_stop()
    return [(received[key] - sent[key]) * 1000 for key in sent]


def record_arrivals(pipe: Connection, port: int, topics: list[str]) -> None:
    """A process of its own: every message on ``topics`` (not retained ones), with the moment
    paho handed it over. Orders: "count" (how many so far), "results" (all of them), "close"."""
    received: list[tuple[float, str, bytes]] = []
    subscribed = threading.Event()

    def on_message(_client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        if not message.retain:
            received.append((now, message.topic, bytes(message.payload)))

    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: c.subscribe([(topic, 1) for topic in topics])
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("the recorder could not subscribe")
    pipe.send("ready")
    while True:
        order = pipe.recv()
        if order == "count":
            pipe.send(len(received))
        elif order == "results":
            pipe.send(list(received))
        else:
            break
    client.disconnect()
    client.loop_stop()


class Recorder:
    def __init__(self, port: int, topics: list[str]) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=record_arrivals, args=(child, port, topics), daemon=True)
        self._process.start()
        if not self._pipe.poll(30):
            raise RuntimeError("the recorder did not subscribe within 30 s")
        self._pipe.recv()

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def count(self) -> int:
        self._pipe.send("count")
        return int(self._pipe.recv())

    def results(self) -> list[tuple[float, str, bytes]]:
        self._pipe.send("results")
        return cast(list[tuple[float, str, bytes]], self._pipe.recv())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send("close")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


async def write_limits(
    publisher: paho.Client, topics: list[str], points: ChargePoints, samples: int, rate: float
) -> list[float]:
    """Write ``samples`` distinct limits round-robin to the actuator topics, ``rate`` a second;
    the milliseconds from each publication until its SetChargingProfile reached the charge point.
    (bench.throughput's actuator phase.)"""
    # Warm up: the first limit of each charge point (on a connector that did not onboard it: its rate unit).
    for index, topic in enumerate(topics):
        publisher.publish(topic, json.dumps({"value": 100 + index, "timestamp": 0}))
    await asyncio.to_thread(wait_until, lambda: len(points.arrivals) >= len(topics), 30, "warm-up")
    sent: dict[float, float] = {}
    for sample in range(samples):
        limit = float(10_000 + sample)
        sent[limit] = time.perf_counter()
        publisher.publish(topics[sample % len(topics)], json.dumps({"value": limit, "timestamp": 0}))
        await asyncio.sleep(1 / rate)
    await asyncio.to_thread(wait_until, lambda: all(limit in points.arrivals for limit in sent), 60, "all calls")
    return [(points.arrivals[limit] - start) * 1000 for limit, start in sent.items()]


# --------------------------------------------------------------------------- CPU


def task_times(pid: int) -> tuple[float, float]:
    """Seconds on a CPU and waiting on a run queue, all threads of a process (schedstat)."""
    ran = waited = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            fields = (task / "schedstat").read_text().split()
            ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return ran / 1e9, waited / 1e9


def machine_times() -> tuple[float, float]:
    """(busy, all) CPU seconds of the machine since it started, every core (/proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


@dataclass
class Usage:
    """What the machine and the processes measured did over the writes."""

    at: float
    processes: dict[str, tuple[float, float]]
    bench: float
    machine: tuple[float, float]

    @classmethod
    def now(cls, pids: dict[str, int], bench: list[int]) -> Usage:
        return cls(
            time.perf_counter(),
            {name: task_times(pid) for name, pid in pids.items()},
            sum(task_times(pid)[0] for pid in bench),
            machine_times(),
        )

    def since(self, before: Usage, writes: int, quiet: tuple[Usage, Usage]) -> dict[str, Any]:
        """Per process: CPU and run-queue wait in ms per write, net of what it did in the
        ``quiet`` window (the same load, no writes) in as much time; the machine's cores busy (of
        ``nproc``), and how much of that was neither the connector, mosquitto nor this bench."""
        seconds = self.at - before.at
        calm = (quiet[1].at - quiet[0].at) or 1.0

        def rate(usage: Usage, earlier: Usage, name: str, field: int) -> float:
            return usage.processes[name][field] - earlier.processes[name][field]

        processes = {
            name: {
                field: (rate(self, before, name, index) - rate(quiet[1], quiet[0], name, index) * seconds / calm)
                * 1000
                / writes
                for index, field in enumerate(("cpu_ms_per_write", "run_queue_wait_ms_per_write"))
            }
            | {"cores_without_writes": rate(quiet[1], quiet[0], name, 0) / calm}
            for name in self.processes
        }
        busy = (self.machine[0] - before.machine[0]) / seconds
        measured = sum(rate(self, before, name, 0) for name in self.processes) + self.bench - before.bench
        return {
            "seconds": seconds,
            "writes_per_s": writes / seconds,
            "quiet_seconds": calm,
            "processes": processes,
            "cores": os.cpu_count(),
            "cores_busy": busy,
            "cores_busy_without_writes": (quiet[1].machine[0] - quiet[0].machine[0]) / calm,
            "cores_busy_other_work": max(0.0, busy - measured / seconds),
            "load_average": Path("/proc/loadavg").read_text().split()[:3],
        }


# --------------------------------------------------------------------------- the run


@dataclass
class Write:
    target: int
    transaction: bool
    limit: float
    sent: float


def result_key(index: int) -> str:
    return f"CP_{index}__1__execute_send_charging_profile__result"


def effective_key(index: int) -> str:
    return f"CP_{index}__1__effective_limit__W"


def actuator_key(index: int) -> str:
    return f"CP_{index}__1__execute_send_charging_profile"


@dataclass
class Settings:
    charge_points: int
    samples: int
    rate: float
    targets: int
    period: float
    workers: int
    onboarding: bool
    #: Whether the connector reads limits back (False: one from before power limits were fitted).
    read_back: bool = True


async def measure(connector: Connector, control: Control, broker: Broker, settings: Settings) -> dict[str, Any]:
    targets = settings.targets
    name = connector.name
    transactions = range(1, targets, 2)  # every second target: a transaction on connector 1
    points = ChargePoints(connector.url, targets, transactions, settings.period or None)
    load_ids = [f"L{index}" for index in range(settings.charge_points - targets)]
    load = await asyncio.to_thread(Load, connector.url, load_ids, settings.workers, settings.period or 3600.0)
    stop = asyncio.Event()
    begun = time.perf_counter()
    load.go()
    tasks = [asyncio.create_task(points.one(index, stop)) for index in range(targets)]
    recorder: Recorder | None = None
    try:
        await asyncio.wait_for(points.all_ready.wait(), 120)
        # Onboarding, then the bridge's read-back after the boot (connectors 0 and 1; without
        # onboarding the bridge knows connector 0 only by then): once every charge point answered
        # them. A connector without read-back: once onboarding's last change reached every one.
        read_backs = 2 if settings.onboarding else 1

        def all_ready() -> bool:
            status = load.status(read_backs)
            if status["failed"]:
                raise RuntimeError(f"the load's charge points failed: {status}")
            if settings.read_back:
                done = status["read_back"] + sum(1 for n in points.read_backs if n >= read_backs)
            elif settings.onboarding:
                done = status["onboarded"] + sum(points.onboarded)
            else:
                done = status["booted"] + points.ready
            return done == settings.charge_points

        await asyncio.to_thread(wait_until, all_ready, 900, "every charge point onboarded and read back", 0.2)
        ready_after = time.perf_counter() - begun
        await asyncio.sleep(1.0 if settings.read_back else 3.0)

        keys = (result_key, effective_key) if settings.read_back else (result_key,)
        measured = {key(index) for index in range(targets) for key in keys}
        actuators = {actuator_key(index) for index in range(targets)}

        def known(sensors: dict[str, Any]) -> bool:
            power = sum(1 for key in sensors if "__Power.Active.Import" in key)
            every = power >= settings.charge_points if settings.period else True
            return every and measured <= set(sensors) and actuators <= set(control.actuators())

        await asyncio.to_thread(control.wait_for_sensors, known, 120, "every datapoint announced")
        sensors = sorted(control.sensors())
        sensor_map = {
            key: f"{name}/measure/{key}" if key in measured else f"{name}/bench/s{index}"
            for index, key in enumerate(sensors)
        }
        actuator_map = {f"{name}/bench/{key}": key for key in sorted(actuators)}
        await asyncio.to_thread(control.map_datapoints, sensor_map, actuator_map)
        hop_topic = f"{name}/hop"
        recorder = await asyncio.to_thread(Recorder, broker.port, [f"{name}/measure/#", hop_topic])
        publisher = mqtt_client(broker.port)
        topics = [f"{name}/bench/{actuator_key(index)}" for index in range(targets)]

        # Warm-up: one limit per target, until its read-back arrived.
        for index, topic in enumerate(topics):
            publisher.publish(topic, json.dumps({"value": WARM_UP_W + index, "timestamp": 0}))
        warm = (1 + settings.read_back) * targets
        await asyncio.to_thread(wait_until, lambda: recorder is not None and recorder.count() >= warm, 60, "warm-up")
        await asyncio.sleep(1.0)

        assert broker._process is not None
        ours = {**connector.child_pids(), "mosquitto": broker._process.pid}
        bench = [os.getpid(), recorder.pid, *load.pids]
        quiet = Usage.now(ours, bench)
        await asyncio.sleep(QUIET_SECONDS)  # the meter load alone, for what the writes add
        before = Usage.now(ours, bench)
        writes: list[Write] = []
        hops: dict[str, float] = {}
        half = 0.5 / settings.rate
        for sample in range(settings.samples):
            hop = str(sample)
            hops[hop] = time.perf_counter()
            publisher.publish(hop_topic, hop, qos=0)
            await asyncio.sleep(half)
            target = sample % targets
            limit = float(FIRST_W + sample)
            writes.append(Write(target, target in points.transactions, limit, time.perf_counter()))
            publisher.publish(topics[target], json.dumps({"value": limit, "timestamp": 0}))
            await asyncio.sleep(half)
        last = time.perf_counter()
        expected = warm + (2 + settings.read_back) * settings.samples
        with contextlib.suppress(AssertionError):  # what is missing is reported
            await asyncio.to_thread(
                wait_until, lambda: all(w.limit in points.arrivals for w in writes), 60, "every SetChargingProfile"
            )
            await asyncio.to_thread(
                wait_until, lambda: recorder is not None and recorder.count() >= expected, 60, "all"
            )
        await asyncio.sleep(0.5)  # anything beyond (a second publication) is reported too
        usage = Usage.now(ours, bench).since(before, len(writes), (quiet, before))
        received = await asyncio.to_thread(recorder.results)
        background = await asyncio.to_thread(load.stop, writes[0].sent, last)
        publisher.loop_stop()
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if recorder is not None:
            await asyncio.to_thread(recorder.close)
        await asyncio.to_thread(load.close)
    return {**analyse(name, points, writes, hops, received, background, ready_after), "usage": usage}


def analyse(
    name: str,
    points: ChargePoints,
    writes: list[Write],
    hops: dict[str, float],
    received: list[tuple[float, str, bytes]],
    background: LoadResult,
    ready_after: float,
) -> dict[str, Any]:
    start = writes[0].sent
    by_topic: dict[str, list[tuple[float, Any]]] = {}
    hop_ms: list[float] = []
    for at, topic, payload in received:
        if topic == f"{name}/hop":
            hop_ms.append((at - hops[payload.decode()]) * 1000)
        elif at >= start:
            by_topic.setdefault(topic, []).append((at, json.loads(payload)["value"]))
    paths: dict[str, list[float]] = {}
    samples: list[dict[str, Any]] = []  # each write: when (s after the first), its target, latencies
    absent: dict[str, int] = {}
    calls_per_write: dict[str, int] = {}
    not_accepted = read_back_off = 0

    def add(path: str, value: float) -> float:
        paths.setdefault(path, []).append(value)
        return round(value, 3)

    def missing(path: str) -> None:
        absent[path] = absent.get(path, 0) + 1

    for index in range(points.count):
        mine = [write for write in writes if write.target == index]
        results = by_topic.get(f"{name}/measure/{result_key(index)}", [])
        effective = by_topic.get(f"{name}/measure/{effective_key(index)}", [])
        for number, write in enumerate(mine):
            case = "transaction" if write.transaction else "idle"
            sample: dict[str, Any] = {"at_s": round(write.sent - start, 4), "target": index, "case": case}
            samples.append(sample)
            calls = points.calls_per_limit.get(write.limit, 0)
            calls_per_write[f"{case}: {calls}"] = calls_per_write.get(f"{case}: {calls}", 0) + 1
            if write.limit in points.arrivals:
                sample["call_ms"] = add(f"call {case}", (points.arrivals[write.limit] - write.sent) * 1000)
                sample["first_call_ms"] = add(
                    f"first call {case}", (points.first_arrivals[write.limit] - write.sent) * 1000
                )
            else:
                missing(f"call {case}")
            if number < len(results):
                at, outcome = results[number]
                sample["result_ms"] = add(f"result {case}", (at - write.sent) * 1000)
                not_accepted += outcome != "Accepted"
            else:
                missing(f"result {case}")
            if number < len(effective):
                at, watts = effective[number]
                sample["effective_ms"] = add(f"effective {case}", (at - write.sent) * 1000)
                fits = isinstance(watts, int | float) and write.limit - READ_BACK_STEP_W - 0.5 <= watts <= write.limit
                read_back_off += not fits
            else:
                missing(f"effective {case}")
        for path, found in (("result", results), ("effective", effective)):
            if len(found) > len(mine):
                missing(f"{path}: more than writes")
    checks = {
        "writes": len(writes),
        "calls_per_write": calls_per_write,
        "missing": absent,
        "not_accepted": not_accepted,
        "read_back_off": read_back_off,
    }
    return {
        "paths": paths,
        "hop_during_ms": hop_ms,
        "checks": checks,
        "meter_answers": background.answered,
        "meter_answer_p50_ms": percentile(background.latencies_ms, 0.5) if background.latencies_ms else None,
        "meter_answer_p99_ms": percentile(background.latencies_ms, 0.99) if background.latencies_ms else None,
        "load_errors": background.errors,
        "load_failures": background.failures[:5],
        "ready_after_s": ready_after,
        "samples": sorted(samples, key=lambda sample: float(sample["at_s"])),
    }


# --------------------------------------------------------------------------- report

ROWS = (
    ("call idle", "connector: MQTT value -> OCPP call, {n} charge points (SetChargingProfile, no transaction)"),
    ("first call transaction", "write -> first SetChargingProfile (TxDefaultProfile), transaction running"),
    ("call transaction", "write -> last SetChargingProfile (TxProfile), transaction running"),
    ("result idle", "write -> `__result` on MQTT, no transaction"),
    ("result transaction", "write -> `__result` on MQTT, transaction running"),
    ("effective idle", "write -> `effective_limit__W` on MQTT, no transaction"),
    ("effective transaction", "write -> `effective_limit__W` on MQTT, transaction running"),
)


def report(settings: Settings, base: list[float], outcome: dict[str, Any], command: str) -> tuple[str, dict[str, Any]]:
    hop = outcome["hop_during_ms"]
    base50, base99 = percentile(base, 0.5), percentile(base, 0.99)
    hop50, hop99 = (percentile(hop, 0.5), percentile(hop, 0.99)) if hop else (float("nan"), float("nan"))
    figures: dict[str, Any] = {}
    lines = [
        f"Actuator latency with read-back, {settings.samples} writes at {settings.rate:g}/s to {settings.targets} "
        f"charge points (every second one with a transaction on connector 1), {settings.charge_points} charge points "
        f"connected, meter values flowing (a Heartbeat and a MeterValues every {settings.period:g} s each), "
        f"onboarding {'on' if settings.onboarding else 'off (OCPP_ONBOARDING=FALSE)'}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}",
        f"Machine: {machine()}",
        "",
        "| path | p50 ms | p99 ms | max ms | p50 ratio to baseline | p99 ratio to baseline "
        "| p50 ratio to hop during writes | p99 ratio to hop during writes |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def row(label: str, key: str, values: list[float]) -> None:
        if not values:
            lines.append(f"| {label} | - | - | - | | | | |")
            return
        p50, p99, top = percentile(values, 0.5), percentile(values, 0.99), max(values)
        figures[key] = {"p50_ms": p50, "p99_ms": p99, "max_ms": top, "count": len(values)}
        lines.append(
            f"| {label} | {p50:.2f} | {p99:.2f} | {top:.2f} | {p50 / base50:.1f} | {p99 / base99:.1f} "
            f"| {p50 / hop50:.1f} | {p99 / hop99:.1f} |"
        )

    row("baseline: one MQTT hop (before the charge points connect)", "baseline", base)
    row("one MQTT hop during the writes (the subscriber of the results)", "hop_during_writes", hop)
    for key, label in ROWS:
        row(label.format(n=settings.charge_points), key.replace(" ", "_"), outcome["paths"].get(key, []))
    checks = outcome["checks"]
    p99 = outcome["meter_answer_p99_ms"]
    meter_p99 = f"p99 {p99:.1f} ms" if p99 is not None else "none"
    lines += [
        "",
        f"SetChargingProfile calls per write (case: calls -> writes): "
        f"{json.dumps(checks['calls_per_write'], sort_keys=True)}; `__result` not Accepted: {checks['not_accepted']}; "
        f"`effective_limit__W` not within one 0.1 A step below the limit written: {checks['read_back_off']}; "
        f"missing: {json.dumps(checks['missing'], sort_keys=True)}.",
        f"Meter load meanwhile: {outcome['meter_answers']} calls of the load's charge points answered during the "
        f"writes ({meter_p99})" + (f"; {outcome['load_errors']}" if outcome["load_errors"] else "") + ".",
        f"Every charge point connected, onboarded and read back after {outcome['ready_after_s']:.1f} s; "
        "the writes began after that.",
        usage_line(outcome["usage"]),
        "",
        f"Command: {command}",
    ]
    data = {
        "settings": settings.__dict__,
        "machine": machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "figures": figures,
        **{key: value for key, value in outcome.items() if key not in ("paths", "hop_during_ms")},
    }
    return "\n".join(lines), data


def usage_line(usage: dict[str, Any]) -> str:
    processes = "; ".join(
        f"{name} {figures['cpu_ms_per_write']:.2f} / {figures['run_queue_wait_ms_per_write']:.2f} "
        f"({figures['cores_without_writes']:.2f} cores without writes)"
        for name, figures in usage["processes"].items()
    )
    return (
        f"During the writes ({usage['seconds']:.0f} s, {usage['writes_per_s']:.0f} writes/s): "
        f"{usage['cores_busy']:.2f} of {usage['cores']} cores busy ({usage['cores_busy_without_writes']:.2f} in "
        f"{usage['quiet_seconds']:.0f} s of the meter load alone before), {usage['cores_busy_other_work']:.2f} of "
        f"them other work than this bench and the connector; load average {' '.join(usage['load_average'])}. "
        f"What the writes added, CPU / run-queue wait in ms per write (net of the meter load alone): {processes}."
    )


def results_json(data: dict[str, Any]) -> str:
    """The results as JSON, indented, with one line per write."""
    samples = data.get("samples", [])
    head = json.dumps({key: value for key, value in data.items() if key != "samples"}, indent=1)
    lines = ",\n".join(f"  {json.dumps(sample)}" for sample in samples)
    return f'{head[:-2]},\n "samples": [\n{lines}\n ]\n}}\n'


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--charge-points", type=int, default=1000, help="charge points connected, targets included")
    parser.add_argument("--samples", type=int, default=2000, help="measured writes in all, half of them each case")
    parser.add_argument("--rate", type=float, default=100.0, help="actuator writes per second")
    parser.add_argument("--targets", type=int, default=100, help="charge points written to (half with a transaction)")
    parser.add_argument("--period", type=float, default=2.0, help="s between a charge point's meter values (0: none)")
    parser.add_argument("--workers", type=int, default=2, help="processes of the load's charge points")
    parser.add_argument("--no-onboarding", action="store_true", help="run the connector with OCPP_ONBOARDING=FALSE")
    parser.add_argument(
        "--no-read-back",
        action="store_true",
        help="for a connector from before power limits were read back (effective_limit__W): not waited for",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory of actuator_latency.{md,json}")
    args = parser.parse_args(argv)
    args.targets = max(2, min(args.targets, args.charge_points))
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    settings = Settings(
        args.charge_points,
        args.samples,
        args.rate,
        args.targets,
        args.period,
        args.workers,
        not args.no_onboarding,
        not args.no_read_back,
    )
    command = (
        f".venv/bin/python -m bench.actuator_latency --charge-points {args.charge_points} --samples {args.samples} "
        f"--rate {args.rate:g} --targets {args.targets} --period {args.period:g} --workers {args.workers}"
        + (" --no-onboarding" if args.no_onboarding else "")
        + (" --no-read-back" if args.no_read_back else "")
    )
    raise_fd_limit()
    with tempfile.TemporaryDirectory() as directory:
        broker = Broker(Path(directory))
        broker.start()
        extra = {"OCPP_ONBOARDING": "FALSE"} if args.no_onboarding else {}
        connector = Connector(Path(directory), broker.port, SEND_RAW_MESSAGE_TO_DB="", **extra)
        connector.use_private_control()
        connector.start()
        control = Control(broker.port, connector.name)
        try:
            base = baseline(broker.port, max(100, args.samples // 2), args.rate)
            outcome = asyncio.run(measure(connector, control, broker, settings))
        finally:
            control.close()
            connector.stop()
            broker.stop()
    text, data = report(settings, base, outcome, command)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "actuator_latency.md").write_text(text + "\n")
    (args.out / "actuator_latency.json").write_text(results_json(data))
    return data


if __name__ == "__main__":
    main()
