"""Real parts for the end-to-end tests and the benchmarks: a mosquitto on a free port, the
connector under supervisord with the repository's own supervisord.conf, and an MQTT observer.

Development code, not test code: tests/ and bench/ both import it from here (bench/ never imports
tests/). It is not part of the image (tools/ is, for operators): it needs mosquitto and the
checkout's supervisord.conf, which only a development machine has."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ("gateway", "bridge", "rawlogger")

__all__ = [
    "PROGRAMS",
    "ROOT",
    "Broker",
    "Connector",
    "Observer",
    "Received",
    "free_port",
    "mosquitto_binary",
    "port_open",
    "running",
    "wait_until",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if found is None:
        raise RuntimeError("mosquitto is not installed: run `make test`, which installs it")
    return found


class Broker:
    """A private mosquitto; stop() and start() keep the port (for broker restart tests)."""

    def __init__(self, directory: Path, persistence: bool = False) -> None:
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"persistence {str(persistence).lower()}",
            "max_queued_messages 100000",  # the default (1000) drops for an observer that reconnects late
            "set_tcp_nodelay true",  # as recommended in the README (Nagle delays messages by ~30 ms)
        ]
        if persistence:  # sessions, queued and retained messages survive a restart (saved on SIGTERM)
            lines.append(f"persistence_location {directory}/")
            if os.geteuid() == 0:  # else mosquitto drops to user "mosquitto", who cannot write there
                lines.append("user root")
        self.config.write_text("\n".join(lines) + "\n")
        self.log = directory / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> None:
        """Start mosquitto and wait until it says it is running (its listener is open by then).

        Another program may have taken the port while this broker was stopped: then mosquitto
        exits instead, and this fails loudly. (``wait`` is accepted for symmetry with
        Connector.start; the broker is always waited for.)"""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            process = subprocess.Popen([mosquitto_binary(), "-c", str(self.config)], stdout=log, stderr=log)
        self._process = process

        def running() -> bool:
            said = self.log.read_bytes()[offset:]
            if process.poll() is not None:
                raise RuntimeError(f"mosquitto could not listen on {self.port}: {said.decode(errors='replace')[-500:]}")
            return b" running" in said  # "mosquitto version 2.0.11 running", after the listener opened

        wait_until(running, 10, "mosquitto to report it is running")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None


@dataclass
class Received:
    topic: str
    payload: Any
    retain: bool
    qos: int = 0
    at: float = field(default_factory=time.monotonic)
    dup: bool = False  # the broker's DUP flag: it sent this message to us before
    mid: int = 0  # the broker's message id towards us (QoS 1 and 2)


class Observer:
    """Subscribes to everything of one connector and records it, decoded as JSON."""

    def __init__(self, port: int, connector_name: str, persistent: bool = False, qos: int = 2) -> None:
        """``persistent``: a session the broker keeps (and queues for) while this observer is away;
        ``qos``: of its subscription (messages arrive with the lower of it and their own)."""
        self.connector_name = connector_name
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"observer-{uuid.uuid4().hex[:6]}", clean_session=not persistent
        )
        self.client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        self.client.on_connect = lambda client, *_: client.subscribe(f"{connector_name}/#", qos=qos)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("observer could not subscribe")

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            payload = json.loads(message.payload)
        except ValueError:
            payload = ("NOT JSON", message.payload)
        with self._lock:
            received = Received(message.topic, payload, bool(message.retain), message.qos)
            received.dup, received.mid = bool(message.dup), message.mid
            self.messages.append(received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def on(self, suffix: str) -> list[Received]:
        topic = f"{self.connector_name}/{suffix}"
        with self._lock:
            return [message for message in self.messages if message.topic == topic]

    def wait_for(self, suffix: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = 10) -> Any:
        """The payload of the first message on the topic that satisfies the predicate."""

        def find() -> Any:
            for message in self.on(suffix):
                if predicate(message.payload):
                    return message
            return None

        return wait_until(find, timeout, f"a matching message on {self.connector_name}/{suffix}").payload

    def first_since(self, prefix: str, since: float) -> float | None:
        """When the first message on a topic starting with ``prefix`` (after the connector's name)
        arrived at or after ``since`` (``time.monotonic()``), or None."""
        start = f"{self.connector_name}/{prefix}"
        with self._lock:
            times = [m.at for m in self.messages if m.at >= since and m.topic.startswith(start)]
        return min(times) if times else None

    def latest(self, suffix: str) -> Any:
        messages = self.on(suffix)
        return messages[-1].payload if messages else None

    def publish(self, suffix: str, payload: Any, qos: int = 0, retain: bool = False) -> None:
        text = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
        self.client.publish(f"{self.connector_name}/{suffix}", text, qos=qos, retain=retain).wait_for_publish(5)


class Connector:
    """The connector as an operator runs it: supervisord with the repository's config."""

    def __init__(self, directory: Path, broker_port: int, **settings: str) -> None:
        self.directory = directory
        self.name = f"test-{uuid.uuid4().hex[:8]}"
        self.ocpp_port = free_port()
        self.env = dict(os.environ)
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        self.env.update(
            CONNECTOR_NAME=self.name,
            MQTT_BROKER_HOST="127.0.0.1",
            MQTT_BROKER_PORT=str(broker_port),
            OCPP_PORT=str(self.ocpp_port),
            OCPP_HOST="127.0.0.1",
            BUS_EVENTS_ENDPOINT=f"ipc://{directory}/events.ipc",
            BUS_COMMANDS_ENDPOINT=f"ipc://{directory}/commands.ipc",
            BUS_HEARTBEAT_INTERVAL="0.2",
            BEMCOM_HEARTBEAT_INTERVAL="1",
            MQTT_RECONNECT_MAX_DELAY="1",
            JOURNAL_PATH=str(directory / "gateway.sqlite3"),
            SEND_RAW_MESSAGE_TO_DB="TRUE",
        )
        self.env.update(settings)
        self.log = directory / "connector.log"
        #: The supervisord configuration it runs: the repository's (see ``use_private_control``).
        self.config = ROOT / "supervisord.conf"
        self._process: subprocess.Popen[bytes] | None = None

    def use_private_control(self) -> None:
        """Run the repository's supervisord.conf with its control socket and pid file in
        ``directory`` instead of the checkout's var/: the programs, their order and their
        settings stay the same, and this connector starts even while another one runs from the
        same checkout (a second supervisord would find the socket taken and exit)."""
        text = (ROOT / "supervisord.conf").read_text()
        for name in ("supervisor.sock", "supervisord.pid"):
            text = text.replace(f"%(here)s/var/{name}", str(self.directory / name))
        self.config = self.directory / "supervisord.conf"
        self.config.write_text(text.replace("%(here)s", str(ROOT)))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}"

    def start(self, wait: bool = True) -> None:
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [str(Path(sys.executable).parent / "supervisord"), "-n", "-c", str(self.config)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            wait_until(lambda: port_open(self.ocpp_port), 20, "the gateway to listen")

    def stop(self) -> None:
        """SIGTERM to supervisord, and at once to its programs too: supervisord stops them one
        priority group after the other, a second each; signalled together they stop within one."""
        if self._process is None:
            return
        try:
            pids = self.child_pids() if self._process.poll() is None else {}
        except OSError:  # supervisord ended meanwhile
            pids = {}
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(signal.SIGTERM)
        for pid in pids.values():  # each program is its process group's leader (stopasgroup)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
        try:
            self._process.wait(45)  # each program stops within its deadline (common/process.py)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(5)
        self._process = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def child_pids(self) -> dict[str, int]:
        """Program name -> pid of the processes supervisord runs now."""
        assert self._process is not None
        pids: dict[str, int] = {}
        for child in Path(f"/proc/{self._process.pid}/task/{self._process.pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
                for program in PROGRAMS:
                    if f"processes.{program}".encode() in cmdline:
                        pids[program] = int(child)
        return pids


@contextlib.contextmanager
def running(connector: Connector) -> Iterator[Connector]:
    connector.start()
    try:
        yield connector
    finally:
        connector.stop()
