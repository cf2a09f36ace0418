"""The onboarding storm: N charge points reconnecting within a few seconds (the connector's
restart), each onboarded, while they keep sending a light load whose answer latency is measured.

    .venv/bin/python -m bench.onboarding_storm [--charge-points 10000] [--connect-within 10]
                                               [--calls-per-second R] [--period 5]

Two runs in one invocation, each against a fresh connector (supervisord, gateway + bridge + raw
logger as shipped, a private mosquitto) and the same storm from the same load generator
(bench/storm_loadgen.py: charge points in processes of their own that connect spread evenly over
``--connect-within`` seconds, boot, answer GetConfiguration with a factory configuration, accept
ChangeConfiguration, and send a Heartbeat or a MeterValues every ``--period`` seconds):

1. *baseline*: ``OCPP_ONBOARDING=FALSE`` (each pass ends at once with ``off``): the answer
   latency of the storm without onboarding, over as long a window as onboarding is expected to
   take (``--connect-within`` + calls / rate);
2. *onboarding*: as shipped, with ``OCPP_ONBOARDING_CALLS_PER_SECOND`` from
   ``--calls-per-second`` (default: the setting's own, left unset).

Measured: the time from the first connect until the last ``Onboarding`` event (a plain ZeroMQ SUB
socket on ``event.Onboarding.``), how many were onboarded and how, what each charge point was
sent (GetConfiguration, ChangeConfiguration: counted by the load generator) and how many per
second, the answer latency p50/p99 of the light load during the storm (and of the
BootNotifications), the CPU of each process, and the machine. Writes
bench/results/onboarding_storm.{md,json} (``--out`` for another directory).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import zmq

from bench.actuator_latency import machine, percentile
from bench.harness import PROGRAMS, ROOT, Broker, Connector, wait_until
from bench.loadgen import raise_fd_limit
from bench.probes import CLOCK_TICKS, cpu_seconds, fd_limit, rss_bytes
from bench.storm_loadgen import (
    CHANGE_CONFIGURATION,
    FACTORY_CONFIGURATION,
    GET_CONFIGURATION,
    StormConfig,
    worker,
)
from common.bus import ALIVE_TOPIC, BusError, Event, Request, decode, decode_reply, encode_request, event_topic
from common.settings import OnboardingSettings, environment, load_gateway

RESULTS = Path(__file__).resolve().parent / "results"
ONBOARDING_PREFIX = event_topic("Onboarding", "")  # b"event.Onboarding."
#: The issue's target: the answer p99 during the storm.
P99_TARGET_MS = 1000.0
PROCESSES = ("gateway", "bridge", "rawlogger", "mosquitto")


def expected_changes(settings: OnboardingSettings) -> list[tuple[str, str]]:
    """The ChangeConfigurations a pass sends a charge point with FACTORY_CONFIGURATION that
    accepts them all: what differs from the wanted meter sampling, in the pass's order."""
    factory = {key: value for key, value, _ in FACTORY_CONFIGURATION}
    want = list(settings.measurands)[: int(factory["MeterValuesSampledDataMaxLength"])]
    changes: list[tuple[str, str]] = []
    if want and set(factory["MeterValuesSampledData"].split(",")) != set(want):
        changes.append(("MeterValuesSampledData", ",".join(want)))
    for key, seconds in (
        ("MeterValueSampleInterval", settings.meter_interval),
        ("ClockAlignedDataInterval", settings.clock_aligned_interval),
    ):
        if seconds > 0 and int(factory[key]) != seconds:
            changes.append((key, str(seconds)))
    return changes


class BusTap:
    """The gateway's ``Onboarding`` events, as they are published: a SUB socket in a thread.
    Ready once a ``gateway.alive`` came through (subscriptions take effect in order, so the
    Onboarding one is in place by then)."""

    def __init__(self, endpoint: str, expected: int) -> None:
        self.expected = expected
        self.statuses: dict[str, str] = {}
        self.times: dict[str, float] = {}
        self.events = 0
        self.ready = threading.Event()
        self.complete = threading.Event()
        self._stop = threading.Event()
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.RCVHWM, 0)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(endpoint)
        self._socket.subscribe(ONBOARDING_PREFIX)
        self._socket.subscribe(ALIVE_TOPIC)
        self._thread = threading.Thread(target=self._run, name="bus-tap", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(100):
                continue
            while True:
                try:
                    frames = self._socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now = time.perf_counter()
                if frames[0] == ALIVE_TOPIC:
                    self.ready.set()
                    continue
                try:
                    message = decode(frames)
                except BusError:
                    continue
                if isinstance(message, Event):
                    self.events += 1
                    self.statuses[message.cp] = str(message.payload.get("status"))
                    self.times[message.cp] = now
                    if len(self.statuses) >= self.expected:
                        self.complete.set()

    @property
    def onboarded(self) -> int:
        return len(self.statuses)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()
        self._context.term()


def gateway_status(endpoint: str, timeout: float = 30) -> dict[str, Any]:
    """The gateway's ``status`` command (connected charge points, dropped journal messages)."""
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    try:
        dealer.connect(endpoint)
        request = Request(id=uuid.uuid4().hex, command="status", args={}, timeout=timeout)
        dealer.send(encode_request(request))
        if not dealer.poll(int(timeout * 1000)):
            return {"error": "no reply"}
        reply = decode_reply(dealer.recv())
        return dict(reply.result) if reply.ok else {"error": reply.reason}
    finally:
        dealer.close()
        context.term()


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each process so far; a process that is gone (a connector process that
    crashed and was restarted: reported as ``restarted``) is left out."""
    used = {}
    for name, pid in pids.items():
        with suppress(OSError):
            used[name] = cpu_seconds(pid)
    return used


def machine_cpu() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine since boot, all cores (/proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full (machine-wide,
    TcpExt ListenOverflows): a server accepting too slowly for the rate clients connect at."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=True)).get("ListenOverflows", 0))
    return 0


def run_queue_wait(pid: int) -> float:
    """Seconds the process's main thread (the gateway's event loop) was ready to run but waited
    for a CPU (/proc/<pid>/schedstat): what other processes on a shared machine cost it."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except OSError:  # gone (restarted): its wait is not counted
        return 0.0


class Sampler:
    """Once a second: CPU of the connector's processes and of the whole machine, how long the
    gateway waited for a CPU, and how many were onboarded (the timeline)."""

    def __init__(self, pids: dict[str, int], tap: BusTap, start: float, label: str) -> None:
        self.pids, self.tap, self.start, self.label = pids, tap, start, label
        self.rows: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = cpu_of(self.pids)
        last_machine, last_wait = machine_cpu(), run_queue_wait(self.pids["gateway"])
        before = time.perf_counter()
        while not self._stop.wait(1.0):
            now = time.perf_counter()
            used = cpu_of(self.pids)
            machine, wait = machine_cpu(), run_queue_wait(self.pids["gateway"])
            seconds = now - before
            row: dict[str, Any] = {"t": round(now - self.start, 2), "onboarded": self.tap.onboarded}
            for name in self.pids:
                row[f"{name}_cpu"] = round((used.get(name, 0.0) - last.get(name, 0.0)) / seconds, 3)
            ours = sum(used.get(name, 0.0) - last.get(name, 0.0) for name in used)
            row["machine_cpu"] = round((machine[0] - last_machine[0]) / seconds, 3)
            row["others_cpu"] = round(max(0.0, machine[0] - last_machine[0] - ours) / seconds, 3)
            row["steal"] = round((machine[1] - last_machine[1]) / seconds, 3)
            row["gateway_run_queue_wait"] = round((wait - last_wait) / seconds, 3)
            self.rows.append(row)
            last, before, last_machine, last_wait = {**last, **used}, now, machine, wait
            if len(self.rows) % 10 == 0:  # progress, every 10 s
                print(
                    f"{self.label}: {row['t']:.0f} s, {row['onboarded']} onboarded, gateway "
                    f"{row['gateway_cpu']:.0%} of a core (waited for one {row['gateway_run_queue_wait']:.0%}), "
                    f"other processes {row['others_cpu']:.2f} cores",
                    flush=True,
                )

    def close(self) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join(5)
        return self.rows


@dataclass
class StormLoad:
    """The load generator's processes."""

    url: str
    ids: list[str]
    within: float
    period: float
    workers: int
    pipes: list[Connection] = field(default_factory=list)
    processes: list[Any] = field(default_factory=list)

    def open(self) -> None:
        parts = urlsplit(self.url)
        assert parts.hostname is not None and parts.port is not None
        context = multiprocessing.get_context("spawn")
        count = len(self.ids)
        workers = max(1, min(self.workers, count))
        offsets = [self.within * index / count for index in range(count)]  # evenly, interleaved
        for index in range(workers):
            config = StormConfig(
                parts.hostname,
                parts.port,
                parts.path.rstrip("/") or "/ocpp",
                self.ids[index::workers],
                offsets[index::workers],
                self.period,
                seed=index,
            )
            parent, child = context.Pipe()
            process = context.Process(target=worker, args=(child, config), daemon=True)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)
        for pipe in self.pipes:
            if not pipe.poll(60):
                raise RuntimeError("a load generator process did not start within 60 s")
            pipe.recv()

    @property
    def pids(self) -> dict[str, int]:
        return {f"load{index}": int(process.pid) for index, process in enumerate(self.processes)}

    def go(self, start: float) -> None:
        for pipe in self.pipes:
            pipe.send(("go", start))

    def stop(self) -> list[dict[str, Any]]:
        for pipe in self.pipes:
            pipe.send("stop")
        results = []
        for pipe in self.pipes:
            if not pipe.poll(120):
                raise RuntimeError("a load generator did not report within 120 s")
            _, result = pipe.recv()
            results.append(result)
        return results

    def close(self) -> None:
        for pipe in self.pipes:
            with suppress(OSError):  # the process is gone already
                pipe.send("close")
        for process in self.processes:
            process.join(30)
            if process.is_alive():
                process.kill()


def _floats(raw: bytes) -> list[float]:
    return list(memoryview(raw).cast("d"))


def latency_row(latencies_s: list[float], unanswered_s: list[float]) -> dict[str, Any]:
    """p50/p99/max in ms; calls unanswered at the end count with their age (a lower bound)."""
    values = [value * 1000 for value in latencies_s + unanswered_s]
    if not values:
        return {"answers": 0, "unanswered": len(unanswered_s), "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "answers": len(latencies_s),
        "unanswered": len(unanswered_s),
        "p50_ms": percentile(values, 0.5),
        "p99_ms": percentile(values, 0.99),
        "max_ms": max(values),
    }


def summarise(
    label: str,
    count: int,
    start: float,
    end: float,
    tap: BusTap,
    loads: list[dict[str, Any]],
    cpu: dict[str, float],
    changes: list[tuple[str, str]],
    within: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the run's figures, per charge point details for tests)."""
    sent: list[float] = []
    latencies: list[float] = []
    unanswered: list[float] = []
    received: list[float] = []
    actions = bytearray()
    errors: Counter[str] = Counter()
    failures: list[str] = []
    points: dict[str, Any] = {}
    for load in loads:
        sent += _floats(load["light_sent"])
        latencies += _floats(load["light_latency"])
        unanswered += load["unanswered"]
        received += _floats(load["cs_received"])
        actions += load["cs_actions"]
        errors.update(load["errors"])
        failures += load["failures"]
        points.update(load["charge_points"])
    duration = end - start
    booted = [p for p in points.values() if p["booted"]]
    statuses = Counter(tap.statuses.values())
    times = sorted(tap.times.values())
    get_configuration = actions.count(GET_CONFIGURATION)
    change_configuration = actions.count(CHANGE_CONFIGURATION)
    onboarding_calls = [
        t for t, a in zip(received, actions, strict=True) if a in (GET_CONFIGURATION, CHANGE_CONFIGURATION)
    ]
    per_second = Counter(int(t - start) for t in onboarding_calls)
    calls_span = (max(onboarding_calls) - min(onboarding_calls)) if len(onboarding_calls) > 1 else 0.0
    exact = sum(
        1 for p in points.values() if p["get_configuration"] == 1 and [tuple(c) for c in p["changes"]] == changes
    )
    # Light-load latency in 10 s windows by the moment the call was sent (the timeline).
    windows: dict[int, list[float]] = {}
    for at, latency in zip(sent, latencies, strict=True):
        windows.setdefault(int((at - start) // 10), []).append(latency * 1000)
    row = {
        "label": label,
        "charge_points": count,
        "storm_s": duration,
        "connected": len(booted),
        "connect_attempts": sum(p["attempts"] for p in points.values()),
        "connections_lost": sum(p["lost"] for p in points.values()),
        "last_boot_answered_s": (max(p["booted"] for p in booted) - start) if booted else None,
        "booted_in_time": sum(1 for p in booted if p["booted"] - start <= within + 5),
        # from its moment to connect until its BootNotification was answered (retries included), ms
        "connect_to_boot_s": latency_row([p["booted"] - p["scheduled"] for p in booted], []),
        "onboarding_events": tap.events,
        "onboarded": tap.onboarded,
        "statuses": dict(statuses),
        "first_onboarded_s": (times[0] - start) if times else None,
        "last_onboarded_s": (times[-1] - start) if times else None,
        "get_configuration": get_configuration,
        "change_configuration": change_configuration,
        "other_calls": len(actions) - get_configuration - change_configuration,
        "charge_points_exactly_as_expected": exact,
        "expected_changes": [list(c) for c in changes],
        "onboarding_calls_per_s": (len(onboarding_calls) / calls_span) if calls_span else 0.0,
        "onboarding_calls_peak_per_s": max(per_second.values()) if per_second else 0,
        "light": latency_row(latencies, unanswered),
        "boot": latency_row([p["boot_latency"] for p in booted], []),
        "light_p99_by_10s": {
            f"{10 * key}-{10 * key + 10}": round(percentile(values, 0.99), 1) for key, values in sorted(windows.items())
        },
        "cpu_s": {name: round(value, 2) for name, value in cpu.items()},
        "cpu_share_of_a_core": {name: round(value / duration, 3) for name, value in cpu.items()},
        "errors": dict(errors),
        "failures": failures[:10],
    }
    return row, points


def run_storm(
    directory: Path,
    label: str,
    count: int,
    within: float,
    period: float,
    workers: int,
    settings: dict[str, str],
    window: float,
    deadline: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One storm against a fresh connector. It ends once every charge point's Onboarding event
    came and at least ``window`` seconds after the first connect, or after ``deadline`` seconds."""
    directory.mkdir(parents=True, exist_ok=True)
    broker = Broker(directory)
    broker.start()
    connector = Connector(directory, broker.port, SEND_RAW_MESSAGE_TO_DB="", **settings)
    connector.use_private_control()
    onboarding = load_gateway(environment(connector.env)).onboarding
    changes = expected_changes(onboarding) if onboarding.enabled else []
    load = StormLoad(f"{connector.url}/ocpp", [f"S{index}" for index in range(count)], within, period, workers)
    tap: BusTap | None = None
    try:
        connector.start()
        pids = wait_until(
            lambda: len(connector.child_pids()) == 3 and connector.child_pids(), 20, "all three processes"
        )
        assert broker._process is not None
        pids["mosquitto"] = broker._process.pid
        if fd_limit(pids["gateway"]) < count + 100:
            raise RuntimeError(f"the gateway may open {fd_limit(pids['gateway'])} files, {count + 100} are needed")
        tap = BusTap(connector.env["BUS_EVENTS_ENDPOINT"], count)
        if not tap.ready.wait(20):
            raise RuntimeError("no gateway.alive on the bus within 20 s")
        load.open()
        measured = {**pids, **load.pids}
        cpu_before = cpu_of(measured)
        machine_before, overflows_before = machine_cpu(), listen_overflows()
        waits_before = {name: run_queue_wait(pid) for name, pid in measured.items()}
        start = time.perf_counter() + 0.5
        sampler = Sampler(pids, tap, start, label)
        print(f"{label}: {count} charge points connecting within {within:g} s", flush=True)
        load.go(start)
        tap.complete.wait(max(0.0, start + deadline - time.perf_counter()))
        remaining = start + window - time.perf_counter()
        if remaining > 0:
            threading.Event().wait(remaining)  # the baseline's window: as long as onboarding is expected to take
        end = time.perf_counter()
        loads = load.stop()
        cpu_after = cpu_of(measured)
        cpu = {name: cpu_after.get(name, cpu_before[name]) - cpu_before[name] for name in cpu_before}
        now_running = connector.child_pids()
        restarted = [name for name in PROGRAMS if now_running.get(name) != pids[name]]
        machine_after, overflows = machine_cpu(), listen_overflows() - overflows_before
        waits = {name: round(run_queue_wait(pid) - waits_before[name], 1) for name, pid in measured.items()}
        timeline = sampler.close()
        rss = {}
        for name, pid in {**pids, **now_running}.items():
            with suppress(OSError):  # gone
                rss[name] = rss_bytes(pid)
        status = gateway_status(connector.env["BUS_COMMANDS_ENDPOINT"])
        row, points = summarise(label, count, start, end, tap, loads, cpu, changes, within)
        row["settings"] = {
            "OCPP_ONBOARDING": "TRUE" if onboarding.enabled else "FALSE",
            "OCPP_ONBOARDING_CALLS_PER_SECOND": onboarding.calls_per_second,
            "OCPP_METER_MEASURANDS": ",".join(onboarding.measurands),
            "OCPP_METER_INTERVAL": onboarding.meter_interval,
        }
        row["restarted"] = restarted
        row["rss_mib"] = {name: round(value / 2**20, 1) for name, value in rss.items()}
        row["gateway_connected_at_end"] = len(status.get("charge_points", []))
        row["journal_dropped"] = status.get("dropped", status.get("error"))
        busy = machine_after[0] - machine_before[0]
        row["machine"] = {
            "busy_cores": round(busy / (end - start), 2),
            "other_processes_cores": round(max(0.0, busy - sum(cpu.values())) / (end - start), 2),
            "steal_cores": round((machine_after[1] - machine_before[1]) / (end - start), 2),
            "gateway_run_queue_wait_s": waits["gateway"],
            # each process's main thread: seconds it was ready to run but waited for a CPU
            "run_queue_wait_s": waits,
            "loadavg_after": " ".join(f"{value:.2f}" for value in os.getloadavg()),
            "listen_overflows": overflows,
        }
        row["timeline"] = timeline
        details = {"charge_points": points, "statuses": dict(tap.statuses)}
        return row, details
    finally:
        load.close()
        if tap is not None:
            tap.close()
        connector.stop()
        broker.stop()


# --------------------------------------------------------------------------- report


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}" if value is not None and base else "-"


def report_lines(results: dict[str, Any]) -> list[str]:
    config, base, on = results["config"], results["baseline"], results["onboarding"]
    count = config["charge_points"]
    lines = [
        f"# Onboarding storm, {results['date']}",
        "",
        f"Machine: {results['machine']} (nproc {results['nproc']}; load average before the runs "
        f"{results['loadavg_before']})",
        f"Command: `{results['command']}`; code: {results['code']}",
        "",
        f"{count} charge points connect evenly within {config['connect_within']:g} s, boot, are onboarded "
        f"(factory configuration of {len(FACTORY_CONFIGURATION)} keys: GetConfiguration, then "
        f"{len(on['expected_changes'])} ChangeConfiguration) and each send a Heartbeat or a MeterValues "
        f"every {config['period']:g} s. Baseline: the same storm with OCPP_ONBOARDING=FALSE, "
        f"measured for {config['window_s']:.0f} s (as long as onboarding is expected to take).",
        "",
        "| figure | onboarding | baseline | ratio |",
        "|---|---|---|---|",
        f"| OCPP_ONBOARDING_CALLS_PER_SECOND | {on['settings']['OCPP_ONBOARDING_CALLS_PER_SECOND']:g} | (off) | |",
        f"| storm measured, s (first connect to the last Onboarding event / the window) | {_s(on['storm_s'])} "
        f"| {_s(base['storm_s'])} | |",
        f"| last charge point booted, s after the first connect | {_s(on['last_boot_answered_s'])} "
        f"| {_s(base['last_boot_answered_s'])} | |",
        f"| first / last Onboarding event, s after the first connect | {_s(on['first_onboarded_s'])} / "
        f"{_s(on['last_onboarded_s'])} | {_s(base['first_onboarded_s'])} / {_s(base['last_onboarded_s'])} | |",
        f"| Onboarding events: charge points (statuses) | {on['onboarded']} of {count} ({_statuses(on)}) "
        f"| {base['onboarded']} of {count} ({_statuses(base)}) | |",
        f"| charge points with exactly 1 GetConfiguration and the expected ChangeConfigurations "
        f"| {on['charge_points_exactly_as_expected']} | | |",
        f"| GetConfiguration / ChangeConfiguration / other calls received | {on['get_configuration']} / "
        f"{on['change_configuration']} / {on['other_calls']} | {base['get_configuration']} / "
        f"{base['change_configuration']} / {base['other_calls']} | |",
        f"| onboarding calls per second sent (mean over their span / busiest second) "
        f"| {on['onboarding_calls_per_s']:.1f} / {on['onboarding_calls_peak_per_s']} | - | |",
        f"| light load answers (unanswered at the end) | {on['light']['answers']} ({on['light']['unanswered']}) "
        f"| {base['light']['answers']} ({base['light']['unanswered']}) | |",
        f"| light load answer p50 ms | {_ms(on['light']['p50_ms'])} | {_ms(base['light']['p50_ms'])} "
        f"| {_ratio(on['light']['p50_ms'], base['light']['p50_ms'])} |",
        f"| light load answer p99 ms | {_ms(on['light']['p99_ms'])} | {_ms(base['light']['p99_ms'])} "
        f"| {_ratio(on['light']['p99_ms'], base['light']['p99_ms'])} |",
        f"| light load answer max ms | {_ms(on['light']['max_ms'])} | {_ms(base['light']['max_ms'])} | |",
        f"| BootNotification answer p50 / p99 ms | {_ms(on['boot']['p50_ms'])} / {_ms(on['boot']['p99_ms'])} "
        f"| {_ms(base['boot']['p50_ms'])} / {_ms(base['boot']['p99_ms'])} "
        f"| {_ratio(on['boot']['p99_ms'], base['boot']['p99_ms'])} (p99) |",
    ]
    for name in PROCESSES:
        lines.append(
            f"| CPU {name}: s (share of one core over the storm) | {on['cpu_s'][name]:.1f} "
            f"({on['cpu_share_of_a_core'][name]:.0%}) | {base['cpu_s'][name]:.1f} "
            f"({base['cpu_share_of_a_core'][name]:.0%}) | |"
        )
    load_on = sum(v for k, v in on["cpu_s"].items() if k.startswith("load"))
    load_base = sum(v for k, v in base["cpu_s"].items() if k.startswith("load"))
    lines += [
        f"| CPU load generator s | {load_on:.1f} | {load_base:.1f} | |",
        f"| VmRSS gateway MiB at the end | {on['rss_mib'].get('gateway', '-')} "
        f"| {base['rss_mib'].get('gateway', '-')} | |",
        f"| connect attempts / connections lost | {on['connect_attempts']} / {on['connections_lost']} "
        f"| {base['connect_attempts']} / {base['connections_lost']} | |",
        f"| connections dropped by a full listen queue (kernel ListenOverflows, machine-wide) "
        f"| {on['machine']['listen_overflows']} | {base['machine']['listen_overflows']} | |",
        f"| connected and booted within --connect-within + 5 s | {on['booted_in_time']} | {base['booted_in_time']} | |",
        f"| from its moment to connect until booted, p50 / p99 s | {_boot_delay(on)} | {_boot_delay(base)} | |",
        f"| load generator errors | {_errors(on)} | {_errors(base)} | |",
        f"| connector processes that crashed and were restarted during the run "
        f"| {', '.join(on['restarted']) or 'none'} | {', '.join(base['restarted']) or 'none'} | |",
        f"| journal messages dropped | {on['journal_dropped']} | {base['journal_dropped']} | |",
        f"| machine: other processes' CPU, cores (shared machine) | {on['machine']['other_processes_cores']:.2f} "
        f"| {base['machine']['other_processes_cores']:.2f} | |",
        f"| machine: CPU stolen by the hypervisor, cores | {on['machine']['steal_cores']:.2f} "
        f"| {base['machine']['steal_cores']:.2f} | |",
        f"| gateway's event loop waiting for a CPU, s (share of the storm) | {_waited(on)} | {_waited(base)} | |",
        f"| load generator's event loops waiting for a CPU, s (each) | {_load_waited(on)} | {_load_waited(base)} | |",
        "",
        "Light load answer p99 ms by 10 s window (by when the call was sent, s after the first connect):",
        "",
        "| window | onboarding | baseline |",
        "|---|---|---|",
    ]
    windows = list(dict.fromkeys([*on["light_p99_by_10s"], *base["light_p99_by_10s"]]))
    for window in sorted(windows, key=lambda text: int(text.split("-")[0])):
        lines.append(
            f"| {window} | {on['light_p99_by_10s'].get(window, '-')} | {base['light_p99_by_10s'].get(window, '-')} |"
        )
    lines += ["", "## Targets", "", "| target | value | met |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {'yes' if met else 'NO'} |" for name, value, met in targets(results)]
    return lines


def _waited(row: dict[str, Any]) -> str:
    waited = row["machine"]["gateway_run_queue_wait_s"]
    return f"{waited:.1f} ({waited / row['storm_s']:.0%})"


def _boot_delay(row: dict[str, Any]) -> str:
    delay = row["connect_to_boot_s"]  # in ms, as every latency_row
    if delay["p50_ms"] is None:
        return "-"
    return f"{delay['p50_ms'] / 1000:.2f} / {delay['p99_ms'] / 1000:.2f}"


def _load_waited(row: dict[str, Any]) -> str:
    waits = row["machine"]["run_queue_wait_s"]
    return " / ".join(f"{value:.1f}" for name, value in sorted(waits.items()) if name.startswith("load"))


def _statuses(row: dict[str, Any]) -> str:
    return ", ".join(f"{status} {n}" for status, n in sorted(row["statuses"].items())) or "none"


def _errors(row: dict[str, Any]) -> str:
    return ", ".join(f"{kind}: {n}" for kind, n in sorted(row["errors"].items())) or "none"


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    on, count = results["onboarding"], results["config"]["charge_points"]
    p99 = on["light"]["p99_ms"]
    done = on["statuses"].get("done", 0)
    restarted = sorted(set(on["restarted"]) | set(results["baseline"]["restarted"]))
    return [
        ("no connector process crashed (either run)", ", ".join(restarted) or "none", not restarted),
        (f"all {count} charge points onboarded (status done)", f"{done} of {count}", done == count),
        (
            "each sent exactly 1 GetConfiguration and the expected ChangeConfigurations",
            f"{on['charge_points_exactly_as_expected']} of {count}",
            on["charge_points_exactly_as_expected"] == count,
        ),
        (
            f"answer p99 during the storm < {P99_TARGET_MS:g} ms",
            f"{_ms(p99)} ms",
            p99 is not None and p99 < P99_TARGET_MS,
        ),
    ]


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--charge-points", type=int, default=10_000)
    parser.add_argument("--connect-within", type=float, default=10.0, help="seconds over which they connect")
    parser.add_argument(
        "--calls-per-second",
        type=float,
        default=None,
        help="OCPP_ONBOARDING_CALLS_PER_SECOND (default: the setting's default, left unset)",
    )
    parser.add_argument("--period", type=float, default=5.0, help="seconds between two light-load calls of each")
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument(
        "--deadline", type=float, default=None, help="seconds a run may take (default: 4x expected + 60)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def source() -> str:
    """The code measured: its commit, and whether the checkout's processes differ from it."""
    recorded = ROOT / "SOURCE_COMMIT"  # a snapshot (git archive) names its commit here
    if recorded.is_file():
        return f"{recorded.read_text().strip()[:12]} (snapshot)"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "common", "processes", "supervisord.conf", ".env"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}{' with uncommitted changes in common/ or processes/' if changed else ''}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Both runs; the results (``details``: per charge point, not written to the JSON file)."""
    args = parse_args(argv)
    if raise_fd_limit() < args.charge_points // max(1, args.workers) + 100:
        raise RuntimeError("the load generator may open too few files: raise `ulimit -n`")
    settings = (
        {} if args.calls_per_second is None else {"OCPP_ONBOARDING_CALLS_PER_SECOND": f"{args.calls_per_second:g}"}
    )
    effective = load_gateway(environment({**os.environ, **settings})).onboarding
    calls = args.charge_points * (1 + len(expected_changes(effective)))
    window = args.connect_within + calls / effective.calls_per_second
    deadline = args.deadline if args.deadline is not None else 4 * window + 60
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "nproc": os.cpu_count(),
        "code": source(),
        "loadavg_before": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "command": ".venv/bin/python -m bench.onboarding_storm " + " ".join(sys.argv[1:] if argv is None else argv),
        "config": {
            "charge_points": args.charge_points,
            "connect_within": args.connect_within,
            "calls_per_second": effective.calls_per_second,
            "period": args.period,
            "workers": args.workers,
            "window_s": window,
            "deadline_s": deadline,
        },
    }
    common = (args.charge_points, args.connect_within, args.period, args.workers)
    details: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="storm-") as directory:
        root = Path(directory)
        results["baseline"], details["baseline"] = run_storm(
            root / "base", "baseline", *common, {"OCPP_ONBOARDING": "FALSE"}, window, deadline
        )
        results["onboarding"], details["onboarding"] = run_storm(
            root / "on", "onboarding", *common, {"OCPP_ONBOARDING": "TRUE", **settings}, 0.0, deadline
        )
    write(results, args.out)
    results["details"] = details
    return results


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    report = "\n".join(report_lines(results))
    print(report)
    (out / "onboarding_storm.md").write_text(report + "\n")
    (out / "onboarding_storm.json").write_text(json.dumps(results, indent=1) + "\n")


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # the runs' cleanup (connector, broker, load generator) still runs


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    main()
