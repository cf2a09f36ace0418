"""Throughput, latency, CPU and memory of the connector against a bare ``ocpp`` central system.

    .venv/bin/python -m bench.throughput            # the full run (about 4 minutes)
    .venv/bin/python -m bench.throughput --quick    # small sizes, a few seconds each

In one run, on one machine, under the same load from the same generator (charge points over
plain websockets in processes of their own, see bench/loadgen.py):

1. *answers*: N charge points (``--sizes``, default 10, 100, 1000) each send MeterValues with 4
   sampled values back to back, one outstanding call each, for ``--duration`` seconds: answers
   per second and answer latency p50/p99, of the baseline (bench/baseline.py) and of the
   connector (supervisord, gateway + bridge + raw logger, every datapoint of the bench charge
   points mapped, a private mosquitto), twice: with its defaults (no raw-message logging) and
   with ``SEND_RAW_MESSAGE_TO_DB=TRUE`` (every frame also to BEMCom's raw-message store);
2. *end to end*: sampled values per second arriving at a plain MQTT subscriber (its own
   process), from the start of the load until the last one arrived;
3. *CPU*: microseconds of CPU per answered message of each process (/proc/<pid>/stat);
4. *many charge points*: ``--many`` (10,000) charge points connected at once, each sending a
   Heartbeat and a MeterValues once per ``--period`` seconds, spread out: answer latency p99 and
   resident memory of each process, and memory per charge point;
5. *actuators*: MQTT value -> OCPP call at the charge point, p50/p99, with ``--actuator-load``
   (1,000) charge points connected and sending meter values; the baseline is one MQTT hop.

Writes bench/results/throughput.{md,json,png} (``--out`` for another directory; the chart only
with matplotlib, which `make venv-dev` installs and `make run`'s .venv has not).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench import baseline as baseline_server
from bench.actuator_latency import ChargePoints, machine, mqtt_client, percentile, write_limits
from bench.harness import Broker, Connector, free_port, port_open, wait_until
from bench.loadgen import (
    METER_VALUES,
    SAMPLES_PER_METER_VALUES,
    TRANSACTION_EVENT,
    V16,
    V201,
    WorkerConfig,
    raise_fd_limit,
    worker,
)
from bench.probes import ArrivalCounter, Control, CpuMeter, fd_limit, rss_bytes

RESULTS = Path(__file__).resolve().parent / "results"
MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage")
#: The connector's per-charge-point rate limit would refuse a closed loop; the bench lifts it.
CONNECTOR_SETTINGS = {"OCPP_MAX_CALLS_PER_SECOND": "100000", "SEND_RAW_MESSAGE_TO_DB": ""}
#: The answers phase runs the connector in each of these configurations (results key -> settings).
CONFIGURATIONS = {
    "connector": {},  # the defaults: raw messages are not logged
    "connector_raw": {"SEND_RAW_MESSAGE_TO_DB": "TRUE"},
}
LABELS = {"connector": "connector", "connector_raw": "connector, raw logging"}


@dataclass(frozen=True)
class Run:
    """One closed-loop run: ``size`` charge points named ``prefix{index}`` speaking ``protocol``
    and sending ``message`` (bench/loadgen.py)."""

    prefix: str
    size: int
    protocol: str = V16
    message: str = METER_VALUES

    @property
    def ids(self) -> list[str]:
        return [f"{self.prefix}{index}" for index in range(self.size)]


#: The 2.0.1 phase: its loads (results key -> (protocol, message)), the first the 1.6 reference.
V201_LOADS = {
    "meter_values_16": (V16, METER_VALUES),
    "meter_values": (V201, METER_VALUES),
    "transaction_event": (V201, TRANSACTION_EVENT),
}
V201_LABELS = {
    "meter_values_16": "1.6 MeterValues (reference)",
    "meter_values": "2.0.1 MeterValues",
    "transaction_event": "2.0.1 TransactionEvent Updated",
}
V201_BASELINES = {
    "meter_values_16": "ocpp v16, MeterValues",
    "meter_values": "ocpp v201, MeterValues",
    "transaction_event": "ocpp v201, TransactionEvent",
}
#: Phases of a run (``--only``, ``--skip``).
PHASES = ("answers", "v201", "many", "actuator")


def v201_runs(size: int, prefix: str, reference: bool) -> dict[str, Run]:
    """The runs of the 2.0.1 phase (with the 1.6 reference when ``reference``)."""
    return {
        key: Run(f"{prefix}{letter}{size}-", size, protocol, message)
        for letter, (key, (protocol, message)) in zip("RVX", V201_LOADS.items(), strict=True)
        if reference or protocol == V201
    }


@dataclass
class LoadResult:
    answered: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    call_errors: int = 0  # answers that were CALLERRORs

    @property
    def rate(self) -> float:
        return self.answered / self.seconds

    def p(self, fraction: float) -> float:
        return percentile(self.latencies_ms, fraction) if self.latencies_ms else float("nan")


class Load:
    """Charge points in ``workers`` processes; open on construction (``wait=False``: started, and
    ``ready()`` waits until they are open), run with ``run()``."""

    def __init__(
        self,
        url: str,
        ids: list[str],
        mode: str,
        workers: int,
        period: float = 10.0,
        protocol: str = V16,
        message: str = METER_VALUES,
        wait: bool = True,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self._processes: list[Any] = []
        workers = max(1, min(workers, len(ids)))
        for index in range(workers):
            config = WorkerConfig(url, ids[index::workers], mode, period, protocol=protocol, message=message)
            parent, child = context.Pipe()
            process = context.Process(target=worker, args=(child, config), daemon=True)
            process.start()
            self._pipes.append(parent)
            self._processes.append(process)
        self.connected = 0
        self._stopped = False
        self._ready = False
        self._started = False
        self._closed = False
        if wait:
            self.ready()

    @classmethod
    def of(cls, url: str, run: Run, workers: int, wait: bool = True) -> Load:
        """The closed-loop load of ``run``."""
        return cls(url, run.ids, "closed", workers, protocol=run.protocol, message=run.message, wait=wait)

    def ready(self) -> None:
        if self._ready:
            return
        for pipe in self._pipes:
            if not pipe.poll(600):
                raise RuntimeError("a load generator did not connect its charge points within 600 s")
            _, count = pipe.recv()
            self.connected += count
        self._ready = True

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes]

    def start(self, duration: float, delay: float = 0.5) -> tuple[float, float]:
        self.ready()
        start = time.perf_counter() + delay
        self._started = True
        for pipe in self._pipes:
            pipe.send(("go", start, start + duration))
        return start, start + duration

    def results(self, seconds: float) -> LoadResult:
        answered = errors = call_errors = 0
        latencies: list[float] = []
        for pipe in self._pipes:
            _, count, failed, raw, refused = pipe.recv()
            answered += count
            errors += failed
            call_errors += refused
            values = memoryview(raw).cast("d")
            latencies.extend(value * 1000 for value in values)
        return LoadResult(answered, errors, seconds, latencies, call_errors)

    def run(self, duration: float) -> LoadResult:
        self.start(duration)
        return self.results(duration)

    def stop(self) -> LoadResult:
        """End a run early; the result's rate is meaningless then, its latencies are not."""
        for pipe in self._pipes:
            pipe.send("stop")
        self._stopped = True
        return self.results(1.0)

    def close(self) -> None:
        """Close the charge points (again: nothing); a load never started or never ready is killed."""
        if self._closed:
            return
        self._closed = True
        if not (self._started and self._ready):
            for process in self._processes:
                process.kill()
        elif not self._stopped:
            for pipe in self._pipes:
                pipe.send("close")
        for process in self._processes:
            process.join(30)
            if process.is_alive():
                process.kill()


@contextmanager
def baseline_process(protocols: tuple[str, ...] = baseline_server.PROTOCOLS) -> Iterator[tuple[str, int]]:
    """The baseline central system (bench/baseline.py) serving ``protocols``: (url, pid)."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=baseline_server.main, args=(port, protocols), daemon=True
    )
    process.start()
    try:
        wait_until(lambda: port_open(port), 20, "the baseline central system to listen")
        assert process.pid is not None
        yield f"ws://127.0.0.1:{port}/ocpp", process.pid
    finally:
        process.kill()
        process.join(10)


#: Lines of the connector's log that say nothing about the run (supervisord as root, plain ws://).
BENIGN_LOG = ("CRIT Supervisor is running as root", "CRIT Server 'unix_http_server'", "over plain ws://")
LOG_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL|CRIT)\b|Traceback")
BENCH_CHARGE_POINT = re.compile(r"\b[A-Z]{1,2}\d+-\d+\b")
LOG_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")


def log_problems(text: str, limit: int = 20) -> list[str]:
    """The warnings and errors of a connector log, alike lines counted once (the bench's charge
    point ids and the timestamps taken out): ``"<count> x <line>"``, most frequent first."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if not LOG_PROBLEM.search(line) or any(benign in line for benign in BENIGN_LOG):
            continue
        line = BENCH_CHARGE_POINT.sub("<cp>", LOG_TIME.sub("", line))
        counts[line[:400]] = counts.get(line[:400], 0) + 1
    ordered = sorted(counts.items(), key=lambda item: -item[1])
    return [f"{count} x {line}" for line, count in ordered[:limit]]


@contextmanager
def connector_system(directory: Path, **settings: str) -> Iterator[tuple[Broker, Connector, Control]]:
    broker = Broker(directory)
    broker.start()
    connector = Connector(directory, broker.port, **{**CONNECTOR_SETTINGS, **settings})
    connector.use_private_control()  # its supervisord socket in ``directory``: other runs of the checkout go on
    connector.start()
    control = Control(broker.port, connector.name)
    try:
        yield broker, connector, control
    finally:
        control.close()
        connector.stop()
        broker.stop()


def process_pids(broker: Broker, connector: Connector) -> dict[str, int]:
    pids = wait_until(lambda: len(connector.child_pids()) == 3 and connector.child_pids(), 20, "all three processes")
    assert broker._process is not None
    return {**pids, "mosquitto": broker._process.pid}


def is_sampled_value_key(key: str) -> bool:
    """``{cp}__{c}__{measurand}[__{phase}][__{location}]__{unit}`` of one of the bench's measurands."""
    parts = key.split("__")
    return len(parts) >= 4 and parts[2] in MEASURANDS


def meter_keys_known(prefix: str, count: int) -> Any:
    def known(sensors: dict[str, Any]) -> bool:
        keys = [key for key in sensors if key.startswith(prefix) and is_sampled_value_key(key)]
        return len(keys) >= count * len(MEASURANDS)

    return known


def values_topic(connector_name: str) -> str:
    """The topic filter of the sampled values :func:`map_everything` maps (what arrivals count)."""
    return f"{connector_name}/bench/v/#"


def map_everything(control: Control, actuators: dict[str, str] | None = None) -> int:
    """Map every sensor the connector knows to a topic under ``bench/``: the sampled values under
    ``bench/v/`` (:func:`values_topic`), every other sensor (transaction keys, status, ...) under
    ``bench/o/``."""
    sensors = {
        key: f"{control.name}/bench/{'v' if is_sampled_value_key(key) else 'o'}/{index}"
        for index, key in enumerate(sorted(control.sensors()))
    }
    control.map_datapoints(sensors, actuators or {})
    return len(sensors)


# --------------------------------------------------------------------------- phases


def baseline_runs(url: str, pid: int, runs: dict[str, Run], duration: float, workers: int) -> dict[str, dict[str, Any]]:
    """Each run in turn against the baseline (their charge points all connected first)."""
    loads = {key: Load.of(url, run, workers, wait=False) for key, run in runs.items()}
    rows: dict[str, dict[str, Any]] = {}
    try:
        for key, load in loads.items():
            load.ready()
            cpu = CpuMeter({"baseline": pid, **{f"load{i}": p for i, p in enumerate(load.pids)}})
            cpu.start()
            result = load.run(duration)
            used = cpu.stop()
            load.close()
            rows[key] = answer_row(result, used)
    finally:
        for load in loads.values():
            load.close()
    return rows


def baseline_answers(
    sizes: list[int],
    duration: float,
    workers: int,
    v201: dict[str, Run] | None = None,
    v201_duration: float | None = None,
) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The baseline's rows per size (1.6 MeterValues), and of the 2.0.1 phase's ``v201`` runs
    (``v201_duration`` seconds each, default ``duration``)."""
    rows: dict[int, dict[str, Any]] = {}
    v201_rows: dict[str, dict[str, Any]] = {}
    with baseline_process() as (url, pid):
        for size in sizes:
            rows[size] = baseline_runs(url, pid, {"run": Run(f"B{size}-", size)}, duration, workers)["run"]
            print(f"baseline N={size}: {rows[size]['rate']:.0f}/s p99 {rows[size]['p99_ms']:.1f} ms", flush=True)
        if v201:
            v201_rows = baseline_runs(url, pid, v201, v201_duration or duration, workers)
            for key, row in v201_rows.items():
                print(
                    f"baseline ({V201_BASELINES[key]}) N={v201[key].size}: {row['rate']:.0f}/s "
                    f"p99 {row['p99_ms']:.1f} ms",
                    flush=True,
                )
    return rows, v201_rows


def answer_row(result: LoadResult, cpu: dict[str, float]) -> dict[str, Any]:
    per_message = {name: used * 1e6 / max(1, result.answered) for name, used in cpu.items()}
    return {
        "answered": result.answered,
        "errors": result.errors,
        "call_errors": result.call_errors,
        "rate": result.rate,
        "p50_ms": result.p(0.5),
        "p99_ms": result.p(0.99),
        "cpu_us_per_message": per_message,
    }


def connector_runs(
    connector: Connector,
    control: Control,
    counter: ArrivalCounter,
    pids: dict[str, int],
    runs: dict[str, Run],
    duration: float,
    workers: int,
) -> dict[str, dict[str, Any]]:
    """Each run in turn against the connector: their charge points all connected first, every
    sensor mapped once, then run by run the answers, CPU and the sampled values arriving at MQTT."""
    loads = {key: Load.of(connector.url, run, workers, wait=False) for key, run in runs.items()}
    rows: dict[str, dict[str, Any]] = {}
    try:
        for load in loads.values():
            load.ready()
        for run in runs.values():
            control.wait_for_sensors(meter_keys_known(run.prefix, run.size), 120, f"the meter keys of {run.prefix}*")
        mapped = map_everything(control)
        before, _ = counter.settle(10**12, quiet=1.0, timeout=30)  # values of the map itself
        for key, load in loads.items():
            cpu = CpuMeter({**pids, "subscriber": counter.pid, **{f"load{i}": p for i, p in enumerate(load.pids)}})
            cpu.start()
            start, _ = load.start(duration)
            result = load.results(duration)
            expected = SAMPLES_PER_METER_VALUES * result.answered
            arrived, last = counter.settle(before + expected)
            used = cpu.stop()
            load.close()
            row = answer_row(result, used)
            values = arrived - before
            row["mapped"] = mapped
            row["values_delivered"] = values
            row["values_expected"] = expected
            row["e2e_values_per_s"] = values / max(duration, last - start)
            row["e2e_messages_per_s"] = row["e2e_values_per_s"] / SAMPLES_PER_METER_VALUES
            rows[key] = row
            before = arrived
    finally:
        for load in loads.values():
            load.close()
    return rows


def connector_answers(
    directory: Path,
    sizes: list[int],
    duration: float,
    workers: int,
    label: str = "connector",
    v201: dict[str, Run] | None = None,
    log: list[str] | None = None,
    v201_duration: float | None = None,
    **settings: str,
) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The connector's rows per size (1.6 MeterValues), then of the 2.0.1 phase's ``v201`` runs
    on the same connector (``v201_duration`` seconds each, default ``duration``); ``log`` gets the
    warnings and errors of its log (:func:`log_problems`)."""
    rows: dict[int, dict[str, Any]] = {}
    v201_rows: dict[str, dict[str, Any]] = {}
    with connector_system(directory, **settings) as (broker, connector, control):
        pids = process_pids(broker, connector)
        counter = ArrivalCounter(broker.port, values_topic(connector.name))
        try:
            for size in sizes:
                run = Run(f"T{size}-", size)
                row = connector_runs(connector, control, counter, pids, {"run": run}, duration, workers)["run"]
                rows[size] = row
                print(
                    f"{label} N={size}: {row['rate']:.0f}/s p99 {row['p99_ms']:.1f} ms, "
                    f"e2e {row['e2e_values_per_s']:.0f} values/s ({row['values_delivered']}/{row['values_expected']})",
                    flush=True,
                )
            if v201:
                v201_rows = connector_runs(connector, control, counter, pids, v201, v201_duration or duration, workers)
                for key, row in v201_rows.items():
                    print(
                        f"{label}, {V201_LABELS[key]} N={v201[key].size}: {row['rate']:.0f}/s "
                        f"p99 {row['p99_ms']:.1f} ms, e2e {row['e2e_values_per_s']:.0f} values/s "
                        f"({row['values_delivered']}/{row['values_expected']}), CALLERRORs {row['call_errors']}",
                        flush=True,
                    )
        finally:
            counter.close()
    if log is not None:
        log.extend(log_problems(connector.output()))
    return rows, v201_rows


def memory(pids: dict[str, int]) -> dict[str, int]:
    return {name: rss_bytes(pid) for name, pid in pids.items()}


#: The many phase measures the steady state: it starts once the system under test has absorbed
#: the connection of every charge point (BootNotification, StatusNotification, a MeterValues
#: each; for the connector also the bridge announcing some 300,000 new keys): when its processes
#: used less than SETTLED_CPU of a core over SETTLE_WINDOW seconds (at most SETTLE_LIMIT seconds).
SETTLED_CPU = 0.15
SETTLE_WINDOW = 1.0
SETTLE_LIMIT = 180.0


def settle(pids: dict[str, int]) -> float:
    """Seconds until the processes are quiet (see SETTLED_CPU)."""
    began = time.perf_counter()
    while time.perf_counter() - began < SETTLE_LIMIT:
        meter = CpuMeter(pids)
        meter.start()
        time.sleep(SETTLE_WINDOW)
        if sum(meter.stop().values()) < SETTLED_CPU * SETTLE_WINDOW:
            break
    return time.perf_counter() - began


def many_baseline(count: int, period: float, duration: float, workers: int) -> dict[str, Any]:
    with baseline_process() as (url, pid):
        idle = rss_bytes(pid)
        load = Load(url, [f"M{index}" for index in range(count)], "periodic", workers, period)
        settled = settle({"baseline": pid})
        result = load.run(duration)
        loaded = rss_bytes(pid)
        load.close()
    return many_row(count, result, {"baseline": idle}, {"baseline": loaded}, settled)


def many_row(
    count: int, result: LoadResult, idle: dict[str, int], loaded: dict[str, int], settled: float
) -> dict[str, Any]:
    total_growth = sum(loaded.values()) - sum(idle.values())
    return {
        "charge_points": count,
        "settle_s": settled,
        "answered": result.answered,
        "errors": result.errors,
        "rate": result.rate,
        "p50_ms": result.p(0.5),
        "p99_ms": result.p(0.99),
        "rss_idle": idle,
        "rss_loaded": loaded,
        "bytes_per_charge_point": total_growth / count,
    }


def many_connector(directory: Path, count: int, period: float, duration: float, workers: int) -> dict[str, Any]:
    with connector_system(directory) as (broker, connector, _control):
        pids = process_pids(broker, connector)
        needed = count // max(1, workers) + 100
        if fd_limit(pids["gateway"]) < count + 100:
            raise RuntimeError(f"the gateway may open {fd_limit(pids['gateway'])} files, {count + 100} are needed")
        if raise_fd_limit() < needed:
            raise RuntimeError(f"the load generator may open fewer than {needed} files: raise `ulimit -n`")
        idle = memory(pids)
        load = Load(connector.url, [f"M{index}" for index in range(count)], "periodic", workers, period)
        settled = settle(pids)
        result = load.run(duration)
        loaded = memory(pids)
        load.close()
    return many_row(count, result, idle, loaded, settled)


def actuator_phase(directory: Path, load_count: int, targets: int, samples: int, rate: float, period: float) -> Any:
    import asyncio

    from bench.actuator_latency import baseline

    with connector_system(directory) as (broker, connector, control):
        base = baseline(broker.port, samples, rate)
        load = Load(connector.url, [f"L{index}" for index in range(load_count)], "periodic", 2, period)
        load.start(3600)  # meter values flow until closed

        async def measure() -> list[float]:
            points = ChargePoints(connector.url, targets)
            stop = asyncio.Event()
            tasks = [asyncio.create_task(points.one(index, stop)) for index in range(targets)]
            await points.all_ready.wait()
            keys = [f"CP_{index}__1__execute_send_charging_profile" for index in range(targets)]
            await asyncio.to_thread(wait_until, lambda: set(keys) <= set(control.actuators()), 60, "the actuators", 0.2)
            topics = {key: f"{connector.name}/bench/{key}" for key in keys}
            await asyncio.to_thread(map_everything, control, {t: k for k, t in topics.items()})
            publisher = mqtt_client(broker.port)
            latencies = await write_limits(publisher, [topics[key] for key in keys], points, samples, rate)
            stop.set()
            await asyncio.gather(*tasks)
            publisher.loop_stop()
            return latencies

        latencies = asyncio.run(measure())
        background = load.stop()
        load.close()
    return {
        "charge_points": load_count + targets,
        "samples": samples,
        "baseline_p50_ms": percentile(base, 0.5),
        "baseline_p99_ms": percentile(base, 0.99),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "meter_answers": background.answered,
        "meter_answer_p99_ms": background.p(0.99),
    }


# --------------------------------------------------------------------------- report


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "-"


def report_lines(results: dict[str, Any]) -> list[str]:
    lines = [
        f"# Throughput benchmark, {results['date']}",
        "",
        f"Machine: {results['machine']}",
        f"Command: `{results['command']}`",
    ]
    sources = results.get("provenance") or {}
    earlier = {
        (run["date"], run["command"], run["machine"]): [p for p, r in sources.items() if r == run]
        for run in sources.values()
        if run.get("command") != results["command"] or run.get("date") != results["date"]
    }
    for (date, command, host), phases in earlier.items():
        lines.append(f"Phases {', '.join(phases)}: from the run of {date} on {host}: `{command}`")
    if any(results["answers"].get(key) for key in CONFIGURATIONS):
        lines += answers_lines(results)
    if results.get("v201"):
        lines += v201_lines(results)
    lines += other_lines(results)
    lines += ["", "## Targets", "", "| target | value | met |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {'yes' if met else 'NO'} |" for name, value, met in targets(results)]
    return lines


def v201_lines(results: dict[str, Any]) -> list[str]:
    """The 2.0.1 section: each load against the bare ``ocpp`` central system of its version, and
    the connector's 2.0.1 figures against its 1.6 MeterValues of the same run."""
    v = results["v201"]
    m = v["machine"]
    base, conn = v["baseline"], v["connector"]
    keys = [key for key in V201_LOADS if key in conn and key in base]
    lines = [
        "",
        f"## OCPP 2.0.1: {v['size']} charge points, back to back, one outstanding call, {v['duration']:g} s per load",
        "",
        f"Machine: nproc {m['nproc']}, {m['cpu_model']}, load average {' '.join(m['load_average'])} before the run, "
        f"{' '.join(m['load_average_after'])} after the 2.0.1 phase. Each load against the bare `ocpp` central "
        "system of its version (bench/baseline.py: v16 or v201 `ChargePoint`, answering only) under the same "
        f"load; the 1.6 reference is {v['reference']}. MeterValues: `evseId` 1, one meterValue with 4 sampled "
        "values (numbers, `unitOfMeasure`); TransactionEvent: `Updated`, trigger `MeterValuePeriodic`, `seqNo` "
        "counting, the same 4 sampled values in `meterValue`, one transaction per charge point (started once).",
        "",
        "| load | connector answers/s | baseline answers/s | ratio | connector p50 ms | baseline p50 ms "
        "| connector p99 ms | baseline p99 ms | p99 ratio | CALLERRORs (connector / baseline) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        c, b = conn[key], base[key]
        lines.append(
            f"| {V201_LABELS[key]} | {c['rate']:.0f} | {b['rate']:.0f} ({V201_BASELINES[key]}) "
            f"| {ratio(c['rate'], b['rate'])} | {c['p50_ms']:.2f} | {b['p50_ms']:.2f} | {c['p99_ms']:.2f} "
            f"| {b['p99_ms']:.2f} | {ratio(c['p99_ms'], b['p99_ms'])} "
            f"| {c.get('call_errors', 0)} / {b.get('call_errors', 0)} |"
        )
    lines += [
        "",
        "CPU microseconds per answered message:",
        "",
        "| load | gateway | bridge | rawlogger | mosquitto | connector total | baseline | ratio "
        "| connector total / 1.6 reference | load generator (connector / baseline) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    reference = conn.get("meter_values_16")
    for key in keys:
        c, b = conn[key]["cpu_us_per_message"], base[key]["cpu_us_per_message"]
        total = connector_cpu(c)
        versus = ratio(total, connector_cpu(reference["cpu_us_per_message"])) if reference else "-"
        load_c = sum(value for name, value in c.items() if name.startswith("load"))
        load_b = sum(value for name, value in b.items() if name.startswith("load"))
        lines.append(
            f"| {V201_LABELS[key]} | {c['gateway']:.0f} | {c['bridge']:.0f} | {c['rawlogger']:.0f} "
            f"| {c['mosquitto']:.0f} | {total:.0f} | {b['baseline']:.0f} | {ratio(total, b['baseline'])} "
            f"| {versus} | {load_c:.0f} / {load_b:.0f} |"
        )
    lines += [
        "",
        "End to end: sampled values arriving at an MQTT subscriber (every datapoint mapped; transaction "
        "and status keys are published too, not counted):",
        "",
        "| load | values/s | messages/s | baseline answers/s | ratio | delivered / expected |",
        "|---|---|---|---|---|---|",
    ]
    for key in keys:
        c, b = conn[key], base[key]
        lines.append(
            f"| {V201_LABELS[key]} | {c['e2e_values_per_s']:.0f} | {c['e2e_messages_per_s']:.0f} | {b['rate']:.0f} "
            f"| {ratio(c['e2e_messages_per_s'], b['rate'])} | {c['values_delivered']} / {c['values_expected']} |"
        )
    problems = v.get("connector_log")
    if problems is not None:
        lines += ["", "Warnings and errors in the connector's log over this phase's connector (alike lines once):", ""]
        lines += [f"    {line}" for line in problems] if problems else ["    none"]
    return lines


def connector_cpu(per_message: dict[str, float]) -> float:
    return sum(per_message.get(name, 0.0) for name in ("gateway", "bridge", "rawlogger", "mosquitto"))


def answers_lines(results: dict[str, Any]) -> list[str]:
    config = results["config"]
    lines = [
        "",
        f"## Answers: MeterValues (4 sampled values) back to back, one outstanding call, {config['duration']:g} s",
        "",
        "| N | configuration: answers/s | baseline answers/s | ratio | connector p50 ms | baseline p50 ms "
        "| connector p99 ms | baseline p99 ms | p99 ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    baseline = results["answers"]["baseline"]
    systems = [(key, results["answers"][key]) for key in CONFIGURATIONS if results["answers"].get(key)]
    for size in config["sizes"]:
        b = baseline[str(size)]
        for key, rows in systems:
            c = rows[str(size)]
            lines.append(
                f"| {size} | {LABELS[key]}: {c['rate']:.0f} | {b['rate']:.0f} | {ratio(c['rate'], b['rate'])} "
                f"| {c['p50_ms']:.2f} | {b['p50_ms']:.2f} | {c['p99_ms']:.2f} | {b['p99_ms']:.2f} "
                f"| {ratio(c['p99_ms'], b['p99_ms'])} |"
            )
    lines += [
        "",
        "## End to end: sampled values arriving at an MQTT subscriber (every datapoint mapped)",
        "",
        "| N | configuration | values/s | MeterValues/s | baseline answers/s | ratio | delivered / expected |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in config["sizes"]:
        b = baseline[str(size)]
        for key, rows in systems:
            c = rows[str(size)]
            lines.append(
                f"| {size} | {LABELS[key]} | {c['e2e_values_per_s']:.0f} | {c['e2e_messages_per_s']:.0f} "
                f"| {b['rate']:.0f} | {ratio(c['e2e_messages_per_s'], b['rate'])} "
                f"| {c['values_delivered']} / {c['values_expected']} |"
            )
    lines += [
        "",
        "## CPU microseconds per answered message",
        "",
        "| N | configuration | gateway | bridge | rawlogger | mosquitto | connector total | baseline | ratio "
        "| load generator (connector / baseline) | MQTT subscriber |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in config["sizes"]:
        b = baseline[str(size)]["cpu_us_per_message"]
        load_b = sum(value for name, value in b.items() if name.startswith("load"))
        for key, rows in systems:
            c = rows[str(size)]["cpu_us_per_message"]
            total = sum(c.get(name, 0.0) for name in ("gateway", "bridge", "rawlogger", "mosquitto"))
            load_c = sum(value for name, value in c.items() if name.startswith("load"))
            lines.append(
                f"| {size} | {LABELS[key]} | {c['gateway']:.0f} | {c['bridge']:.0f} | {c['rawlogger']:.0f} "
                f"| {c['mosquitto']:.0f} | {total:.0f} | {b['baseline']:.0f} | {ratio(total, b['baseline'])} "
                f"| {load_c:.0f} / {load_b:.0f} | {c.get('subscriber', float('nan')):.0f} |"
            )
    return lines


def other_lines(results: dict[str, Any]) -> list[str]:
    """The sections of the many and the actuator phases."""
    config = results["config"]
    lines: list[str] = []
    many = results.get("many")
    if many:
        c, b = many["connector"], many["baseline"]
        mib = 1024 * 1024
        lines += [
            "",
            f"## {c['charge_points']} charge points connected, Heartbeat + MeterValues each every "
            f"{config['period']:g} s, spread out, {config['many_duration']:g} s",
            "",
            "| | connector | baseline | ratio |",
            "|---|---|---|---|",
            f"| answers/s | {c['rate']:.0f} | {b['rate']:.0f} | {ratio(c['rate'], b['rate'])} |",
            f"| answer p50 ms | {c['p50_ms']:.2f} | {b['p50_ms']:.2f} | {ratio(c['p50_ms'], b['p50_ms'])} |",
            f"| answer p99 ms | {c['p99_ms']:.2f} | {b['p99_ms']:.2f} | {ratio(c['p99_ms'], b['p99_ms'])} |",
            f"| errors (charge points whose run failed) | {c['errors']} | {b['errors']} | |",
            f"| seconds until quiet after they all connected (then measured) | {c['settle_s']:.1f} "
            f"| {b['settle_s']:.1f} | |",
        ]
        for name in ("gateway", "bridge", "rawlogger", "mosquitto"):
            lines.append(
                f"| VmRSS {name} MiB (idle -> loaded) | {c['rss_idle'][name] / mib:.1f} -> "
                f"{c['rss_loaded'][name] / mib:.1f} | | |"
            )
        c_total, b_total = sum(c["rss_loaded"].values()), sum(b["rss_loaded"].values())
        lines += [
            f"| VmRSS total MiB, loaded | {c_total / mib:.1f} | {b_total / mib:.1f} | {ratio(c_total, b_total)} |",
            f"| memory per charge point KiB | {c['bytes_per_charge_point'] / 1024:.1f} "
            f"| {b['bytes_per_charge_point'] / 1024:.1f} "
            f"| {ratio(c['bytes_per_charge_point'], b['bytes_per_charge_point'])} |",
        ]
    actuator = results.get("actuator")
    if actuator:
        a = actuator
        lines += [
            "",
            f"## Actuator latency: MQTT value -> OCPP call, {a['charge_points']} charge points connected, "
            f"meter values flowing ({a['meter_answers']} answered meanwhile, p99 {a['meter_answer_p99_ms']:.1f} ms)",
            "",
            "| | connector | baseline: one MQTT hop | ratio |",
            "|---|---|---|---|",
            f"| p50 ms | {a['p50_ms']:.2f} | {a['baseline_p50_ms']:.2f} | {ratio(a['p50_ms'], a['baseline_p50_ms'])} |",
            f"| p99 ms | {a['p99_ms']:.2f} | {a['baseline_p99_ms']:.2f} | {ratio(a['p99_ms'], a['baseline_p99_ms'])} |",
        ]
    return lines


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    rows: list[tuple[str, str, bool]] = []
    baseline = results["answers"]["baseline"]
    for key in CONFIGURATIONS:
        connector = results["answers"].get(key)
        if not connector or not baseline:
            continue
        size = "100" if "100" in connector else str(results["config"]["sizes"][-1])
        c, b = connector[size], baseline[size]
        rows.append(
            (
                f"{LABELS[key]}: answers/s >= 4x baseline at N={size}",
                f"{c['rate'] / b['rate']:.2f}x",
                c["rate"] >= 4 * b["rate"],
            )
        )
        best = max(row["e2e_messages_per_s"] for row in connector.values())
        base = max(row["rate"] for row in baseline.values())
        rows.append(
            (
                f"{LABELS[key]}: e2e MeterValues/s >= 1.5x baseline answers/s (best N each)",
                f"{best / base:.2f}x",
                best >= 1.5 * base,
            )
        )
    if results.get("v201"):
        rows += v201_targets(results["v201"])
    if results.get("many"):
        many = results["many"]["connector"]
        rows.append(
            (
                f"{many['charge_points']} charge points: answer p99 < 100 ms",
                f"{many['p99_ms']:.1f} ms",
                many["p99_ms"] < 100,
            )
        )
    if results.get("actuator"):
        actuator = results["actuator"]
        rows.append(
            ("actuator latency p99 < 50 ms under load", f"{actuator['p99_ms']:.1f} ms", actuator["p99_ms"] < 50)
        )
    return rows


def v201_targets(v201: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The 1.6 targets for the 2.0.1 loads (against the bare v201 central system under the same
    load), and 2.0.1 costing the connector at most 1.5x the CPU per message of 1.6."""
    rows: list[tuple[str, str, bool]] = []
    base, conn, size = v201["baseline"], v201["connector"], v201["size"]
    reference = conn.get("meter_values_16")
    for key in ("meter_values", "transaction_event"):
        if key not in conn or key not in base:
            continue
        c, b = conn[key], base[key]
        label = V201_LABELS[key]
        answers = c["rate"] / b["rate"]
        rows.append((f"{label}: answers/s >= 4x baseline at N={size}", f"{answers:.2f}x", answers >= 4))
        e2e = c["e2e_messages_per_s"] / b["rate"]
        rows.append((f"{label}: e2e messages/s >= 1.5x baseline answers/s at N={size}", f"{e2e:.2f}x", e2e >= 1.5))
        if reference:
            cpu = connector_cpu(c["cpu_us_per_message"]) / connector_cpu(reference["cpu_us_per_message"])
            rows.append((f"{label}: connector CPU per message <= 1.5x 1.6 MeterValues", f"{cpu:.2f}x", cpu <= 1.5))
    return rows


def chart_available() -> bool:
    """matplotlib is a development requirement; `make run`'s .venv has none (the tables suffice)."""
    return importlib.util.find_spec("matplotlib") is not None


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = results["config"]["sizes"]
    connector, baseline = results["answers"]["connector"], results["answers"]["baseline"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(sizes, [connector[str(n)]["rate"] for n in sizes], "o-", label="connector: answers/s")
    left.plot(
        sizes, [connector[str(n)]["e2e_messages_per_s"] for n in sizes], "s--", label="connector: MeterValues/s on MQTT"
    )
    raw = results["answers"].get("connector_raw")
    if raw:
        left.plot(sizes, [raw[str(n)]["rate"] for n in sizes], "v-", label="connector, raw logging: answers/s")
    left.plot(sizes, [baseline[str(n)]["rate"] for n in sizes], "^-", label="baseline (ocpp library): answers/s")
    left.set(xscale="log", xlabel="charge points N", ylabel="messages per second", title="Throughput")
    left.legend(fontsize=8)
    left.grid(True, alpha=0.3)
    for name, rows, marker in (("connector", connector, "o"), ("baseline", baseline, "^")):
        right.plot(sizes, [rows[str(n)]["p50_ms"] for n in sizes], marker + "-", label=f"{name} p50")
        right.plot(sizes, [rows[str(n)]["p99_ms"] for n in sizes], marker + ":", label=f"{name} p99")
    right.set(xscale="log", yscale="log", xlabel="charge points N", ylabel="answer latency ms", title="Latency")
    right.legend(fontsize=8)
    right.grid(True, alpha=0.3)
    date = (results.get("provenance") or {}).get("answers", {}).get("date", results["date"])  # --merge
    figure.suptitle(f"OCPP connector vs bare ocpp central system, {date}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds each (tests use it)")
    parser.add_argument("--sizes", type=lambda text: [int(n) for n in text.split(",")], default=None)
    parser.add_argument("--duration", type=float, default=None, help="seconds of load per size")
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument("--many", type=int, default=None, help="charge points connected at once (0: skip)")
    parser.add_argument("--period", type=float, default=None, help="seconds between two calls of each of --many")
    parser.add_argument("--many-duration", type=float, default=None)
    parser.add_argument("--actuator-load", type=int, default=None, help="charge points sending meter values (0: skip)")
    parser.add_argument("--actuator-samples", type=int, default=None)
    parser.add_argument("--actuator-rate", type=float, default=50.0, help="actuator writes per second")
    parser.add_argument("--actuator-period", type=float, default=2.0, help="seconds between meter values meanwhile")
    parser.add_argument("--skip", default="", help="comma-separated phases to skip: answers,v201,many,actuator")
    parser.add_argument(
        "--only",
        type=lambda text: [phase for phase in text.split(",") if phase],
        default=None,
        help="comma-separated phases to run, no other: answers,v201,many,actuator (e.g. --only v201)",
    )
    parser.add_argument(
        "--v201-duration",
        type=float,
        default=None,
        help="seconds of each load of the 2.0.1 phase (default: --duration; --quick 1)",
    )
    parser.add_argument(
        "--v201-size",
        type=int,
        default=None,
        help="charge points of the 2.0.1 phase (default: the middle one of --sizes: 100, --quick 10)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="take the phases not run now from the results already in --out (e.g. --only v201 --merge)",
    )
    parser.add_argument(
        "--configurations",
        type=lambda text: text.split(","),
        default=list(CONFIGURATIONS),
        help="connector configurations of the answers phase: connector (defaults), connector_raw "
        "(SEND_RAW_MESSAGE_TO_DB=TRUE); comma-separated",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "sizes": [2, 10] if quick else [10, 100, 1000],
        "duration": 2.0 if quick else 10.0,
        "many": 100 if quick else 10_000,
        "period": 2.0 if quick else 10.0,
        "many_duration": 4.0 if quick else 30.0,
        "actuator_load": 20 if quick else 990,
        "actuator_samples": 20 if quick else 1000,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.v201_size is None:
        args.v201_size = args.sizes[len(args.sizes) // 2]
    if args.v201_duration is None:
        args.v201_duration = 1.0 if quick else args.duration
    unknown = (set(args.only or ()) | set(filter(None, args.skip.split(",")))) - set(PHASES)
    if unknown:
        parser.error(f"no phase {', '.join(sorted(unknown))}: the phases are {', '.join(PHASES)}")
    return args


def machine_now() -> dict[str, Any]:
    """What the figures depend on besides the code: cores, CPU model, load average (/proc)."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "unknown")
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
    }


def v201_phase(root: Path, size: int, duration: float, workers: int) -> dict[str, Any]:
    """The 2.0.1 phase on its own baseline process and connector, with its own 1.6 reference
    (when the answers phase does not run the connector with its defaults)."""
    _, baseline_rows = baseline_answers([], duration, workers, v201_runs(size, "B", reference=True))
    (root / "v201").mkdir()
    log: list[str] = []
    _, connector_rows = connector_answers(
        root / "v201", [], duration, workers, "connector", v201=v201_runs(size, "T", reference=True), log=log
    )
    return {
        "baseline": baseline_rows,
        "connector": connector_rows,
        "reference": "measured in this phase",
        "connector_log": log,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    raise_fd_limit()
    skip = set(filter(None, args.skip.split(",")))
    phases = [phase for phase in PHASES if phase in (args.only or PHASES) and phase not in skip]
    machine_before = machine_now()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "command": ".venv/bin/python -m bench.throughput " + " ".join(sys.argv[1:] if argv is None else argv),
        "phases": phases,
        "config": {
            "sizes": args.sizes,
            "duration": args.duration,
            "period": args.period,
            "many_duration": args.many_duration,
            "workers": args.workers,
            "v201_size": args.v201_size,
            "v201_duration": args.v201_duration,
        },
        "answers": {"connector": {}, "baseline": {}},
    }
    v201: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        if "answers" in phases:
            # The 2.0.1 phase rides along: the same baseline process and the same connector (its
            # defaults) as the 1.6 rows, after them; the 1.6 row of its size is its reference.
            along = "v201" in phases and "connector" in args.configurations
            reference = args.v201_size not in args.sizes
            runs = {
                side: v201_runs(args.v201_size, prefix, reference) if along else None
                for side, prefix in (("baseline", "B"), ("connector", "T"))
            }
            base, base201 = baseline_answers(
                args.sizes, args.duration, args.workers, runs["baseline"], args.v201_duration
            )
            results["answers"] = {"baseline": {str(k): v for k, v in base.items()}}
            for key, settings in CONFIGURATIONS.items():
                if key not in args.configurations:
                    continue
                (root / key).mkdir()
                extra = runs["connector"] if key == "connector" else None
                log: list[str] = []
                rows, rows201 = connector_answers(
                    root / key,
                    args.sizes,
                    args.duration,
                    args.workers,
                    LABELS[key],
                    extra,
                    log,
                    args.v201_duration,
                    **settings,
                )
                results["answers"][key] = {str(k): v for k, v in rows.items()}
                if extra:
                    v201 = {
                        "baseline": base201,
                        "connector": rows201,
                        "reference": "measured in this phase",
                        "connector_log": log,
                    }
                    if not reference:
                        v201["baseline"] = {"meter_values_16": base[args.v201_size], **base201}
                        v201["connector"] = {"meter_values_16": rows[args.v201_size], **rows201}
                        v201["reference"] = (
                            f"the answers phase's row N={args.v201_size} ({args.duration:g} s, the same baseline "
                            "process and connector, just before)"
                        )
        if "v201" in phases and v201 is None:
            v201 = v201_phase(root, args.v201_size, args.v201_duration, args.workers)
        if v201 is not None:
            results["v201"] = {
                "size": args.v201_size,
                "duration": args.v201_duration,
                "machine": {**machine_before, "load_average_after": machine_now()["load_average"]},
                **v201,
            }
        if args.many and "many" in phases:
            (root / "many").mkdir()
            results["many"] = {
                "baseline": many_baseline(args.many, args.period, args.many_duration, args.workers),
                "connector": many_connector(root / "many", args.many, args.period, args.many_duration, args.workers),
            }
            print(f"many: {results['many']['connector']['p99_ms']:.1f} ms p99", flush=True)
        if args.actuator_load and "actuator" in phases:
            (root / "actuator").mkdir()
            results["actuator"] = actuator_phase(
                root / "actuator",
                args.actuator_load,
                10,
                args.actuator_samples,
                args.actuator_rate,
                args.actuator_period,
            )
    if args.merge:
        results = merged(results, args.out / "throughput.json")
    write(results, args.out)
    return results


#: Where each phase's results are in the results (``--merge``).
PHASE_KEYS = {"answers": "answers", "v201": "v201", "many": "many", "actuator": "actuator"}


def provenance(results: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Phase -> the run it comes from (date, command, machine)."""
    if "provenance" in results:
        return dict(results["provenance"])
    run = {name: results.get(name, "") for name in ("date", "command", "machine")}
    present = [phase for phase, key in PHASE_KEYS.items() if results.get(key) and any(results[key].values())]
    return {phase: run for phase in results.get("phases", present)}


def merged(results: dict[str, Any], earlier_path: Path) -> dict[str, Any]:
    """``results`` with the phases it did not run taken from an earlier results file."""
    if not earlier_path.exists():
        return results
    earlier = json.loads(earlier_path.read_text())
    sources = provenance(earlier)
    mine = provenance(results)
    for phase, key in PHASE_KEYS.items():
        if phase in results["phases"] or phase not in sources or not earlier.get(key):
            continue
        results[key] = earlier[key]
        mine[phase] = sources[phase]
        if phase == "answers":
            for name in ("sizes", "duration"):
                results["config"][name] = earlier["config"][name]
        if phase == "many":
            for name in ("period", "many_duration"):
                results["config"][name] = earlier["config"][name]
    results["provenance"] = mine
    return results


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    answered = any(results["answers"].get(key) for key in CONFIGURATIONS)
    report = "\n".join(report_lines(results))
    print(report)
    (out / "throughput.md").write_text(report + "\n")
    (out / "throughput.json").write_text(json.dumps(results, indent=1) + "\n")
    if answered and results["answers"].get("connector"):
        if chart_available():
            chart(results, out / "throughput.png")
        else:
            print(f"bench.throughput: no chart ({out / 'throughput.png'}): matplotlib is not installed (make venv-dev)")


if __name__ == "__main__":
    main()
