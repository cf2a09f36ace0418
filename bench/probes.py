"""What the throughput benchmark reads besides answers: process CPU and memory from /proc, MQTT
arrivals counted in a subscriber process of their own, and a lean control client for the
connector's BEMCom topics (the harness Observer decodes every message, too heavy under load)."""

from __future__ import annotations

import json
import multiprocessing
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.harness import wait_until
from common.bemcom_topics import Topics

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


def _mqtt_string(text: str) -> bytes:
    encoded = text.encode()
    return len(encoded).to_bytes(2, "big") + encoded


def _mqtt_packet(first: int, body: bytes) -> bytes:
    length, header = len(body), bytearray((first,))
    while True:
        digit, length = length & 0x7F, length >> 7
        header.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(header) + body


def count_publish_packets(buffer: bytearray) -> tuple[int, int]:
    """(PUBLISH packets among the complete packets at the start of ``buffer``, bytes they take)."""
    count = pos = 0
    size = len(buffer)
    while pos + 2 <= size:
        length = shift = 0
        index = pos + 1
        while True:
            if index >= size:
                return count, pos  # the length is not all here yet
            byte = buffer[index]
            length |= (byte & 0x7F) << shift
            index += 1
            if byte < 0x80:
                break
            shift += 7
        if index + length > size:
            break
        if buffer[pos] >> 4 == 3:
            count += 1
        pos = index + length
    return count, pos


#: Seconds the arrival counter sleeps after reading messages (arrival times are that coarse).
GATHER = 0.005


def _count_arrivals(pipe: Connection, port: int, topic: str) -> None:
    """A lean MQTT 3.1.1 subscriber (QoS 0, a blocking socket, no client library): it only
    counts PUBLISH packets, so that it takes next to no CPU from the system it measures (paho
    spent more per message than the connector's bridge)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connect = b"\x00\x04MQTT\x04\x02\x00\x00" + _mqtt_string(f"bench-arrivals-{os.getpid()}")
    sock.sendall(_mqtt_packet(0x10, connect))  # clean session, no keepalive
    sock.sendall(_mqtt_packet(0x82, b"\x00\x01" + _mqtt_string(topic) + b"\x00"))
    buffer = bytearray()
    while len(buffer) < 9:  # CONNACK (4 bytes) and SUBACK (5 bytes)
        data = sock.recv(64)
        if not data:
            raise RuntimeError("the broker closed the arrival counter's connection")
        buffer += data
    if buffer[0] != 0x20 or buffer[3] != 0 or buffer[4] != 0x90 or buffer[8] != 0:
        raise RuntimeError(f"the broker refused the arrival counter: {bytes(buffer[:9])!r}")
    del buffer[:9]
    pipe.send("subscribed")
    count, last = 0, 0.0
    while True:
        watched: list[socket.socket | Connection] = [sock, pipe]
        readable, _, _ = select.select(watched, [], [])
        if sock in readable:
            data = sock.recv(1 << 20)
            if not data:
                break
            buffer += data
            arrived, used = count_publish_packets(buffer)
            del buffer[:used]
            if arrived:
                count += arrived
                last = time.perf_counter()
                time.sleep(GATHER)  # let the next ones gather: one wake-up for many messages
        if pipe in readable:
            if pipe.recv() == "stop":
                break
            pipe.send((count, last))
    sock.close()


class ArrivalCounter:
    """A plain MQTT subscriber in its own process that counts what arrives on a topic filter."""

    def __init__(self, port: int, topic: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_count_arrivals, args=(child, port, topic), daemon=True)
        self._process.start()
        if not self._pipe.poll(20) or self._pipe.recv() != "subscribed":
            raise RuntimeError("the MQTT arrival counter did not subscribe")

    @property
    def pid(self) -> int:
        return int(self._process.pid or 0)

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
        self.topics = topics = Topics(connector_name)
        self.available: dict[str, Any] = {"sensor": {}, "actuator": {}}
        self.logs: list[str] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe([(topics.available_datapoints, 1), (topics.logs, 1)])
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("control client could not subscribe")

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        payload = json.loads(message.payload)
        with self._lock:
            if message.topic == self.topics.available_datapoints:
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
        self.client.publish(self.topics.datapoint_map, body, qos=2, retain=True).wait_for_publish(10)
        expected = f"Datapoint map: {len(sensor)} sensors, {len(actuator)} actuators mapped"

        def applied() -> bool:
            with self._lock:
                return any(expected in line for line in self.logs)

        wait_until(applied, timeout, expected, interval=0.1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
