"""What the throughput benchmark reads besides answers: process CPU and memory from /proc, MQTT
arrivals counted in a subscriber process of their own, and a lean control client for the
connector's BEMCom topics (the harness Observer decodes every message, too heavy under load)."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.harness import wait_until

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its threads included), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def fd_limit(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    return 0


class CpuMeter:
    """CPU seconds of named processes between ``start()`` and ``stop()``."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        self.used = {name: cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()}
        return self.used


def _count_arrivals(pipe: Connection, port: int, topic: str) -> None:
    count = 0
    last = 0.0
    lock = threading.Lock()

    def on_message(_client: paho.Client, _userdata: Any, _message: paho.MQTTMessage) -> None:
        nonlocal count, last
        with lock:
            count += 1
            last = time.perf_counter()

    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: c.subscribe(topic, 0)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    subscribed.wait(10)
    pipe.send("subscribed")
    while True:
        command = pipe.recv()
        if command == "stop":
            break
        with lock:
            pipe.send((count, last))
    client.loop_stop()


class ArrivalCounter:
    """A plain MQTT subscriber in its own process that counts what arrives on a topic filter."""

    def __init__(self, port: int, topic: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_count_arrivals, args=(child, port, topic), daemon=True)
        self._process.start()
        if not self._pipe.poll(20) or self._pipe.recv() != "subscribed":
            raise RuntimeError("the MQTT arrival counter did not subscribe")

    def read(self) -> tuple[int, float]:
        """(messages so far, perf_counter of the last one)."""
        self._pipe.send("read")
        count, last = self._pipe.recv()
        return int(count), float(last)

    def settle(self, expected: int, quiet: float = 2.0, timeout: float = 120.0) -> tuple[int, float]:
        """Wait until ``expected`` messages arrived, or none for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        count, last = self.read()
        while count < expected and time.monotonic() < deadline:
            time.sleep(0.1)
            count, last = self.read()
            if count < expected and last and time.perf_counter() - last > quiet:
                break
        return count, last

    def close(self) -> None:
        self._pipe.send("stop")
        self._process.join(10)


class Control:
    """The connector's ``available_datapoints`` and ``logs``, and publishing a datapoint map."""

    def __init__(self, port: int, connector_name: str) -> None:
        self.name = connector_name
        self.available: dict[str, Any] = {"sensor": {}, "actuator": {}}
        self.logs: list[str] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe(
            [(f"{connector_name}/available_datapoints", 1), (f"{connector_name}/logs", 1)]
        )
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("control client could not subscribe")

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        payload = json.loads(message.payload)
        with self._lock:
            if message.topic.endswith("/available_datapoints"):
                self.available = payload
            else:
                self.logs.append(str(payload.get("msg", "")))

    def sensors(self) -> dict[str, Any]:
        with self._lock:
            return dict(self.available.get("sensor", {}))

    def actuators(self) -> dict[str, Any]:
        with self._lock:
            return dict(self.available.get("actuator", {}))

    def wait_for_sensors(self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> None:
        wait_until(lambda: predicate(self.sensors()), timeout, what, interval=0.2)

    def map_datapoints(self, sensor: dict[str, str], actuator: dict[str, str], timeout: float = 60) -> None:
        """Publish a datapoint map and wait until the bridge says it applied it."""
        with self._lock:
            self.logs.clear()
        body = json.dumps({"sensor": sensor, "actuator": actuator})
        self.client.publish(f"{self.name}/datapoint_map", body, qos=2, retain=True).wait_for_publish(10)
        expected = f"Datapoint map: {len(sensor)} sensors, {len(actuator)} actuators mapped"

        def applied() -> bool:
            with self._lock:
                return any(expected in line for line in self.logs)

        wait_until(applied, timeout, expected, interval=0.1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
