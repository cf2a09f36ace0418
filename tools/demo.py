"""``python -m tools.demo`` (``make demo``): the connector at work, in one command.

Starts a private mosquitto on a free loopback port (scripts/ensure-broker.sh), the connector
under supervisord (as ``make run`` does, with its bus, journal and logs in a temporary
directory), and simulated charge points charging vehicles (``tools.simulate``). Plays BEMCom:
publishes a ``datapoint_map`` for a few interesting keys and prints every value that arrives,
one line each; after a while it writes a power limit for the first charge point and shows the
charge point's answer and the power dropping. Stops after ``--duration`` seconds or on Ctrl-C
and cleans up everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from common.bemcom_topics import Topics
from common.settings import PROJECT_ROOT

CONNECTOR_NAME = "ocpp-demo"
#: Sensor keys shown for connector 1 of every charge point, and the actuator the demo writes.
SHOWN = (
    "StatusNotification__status",
    "Power.Active.Import__W",
    "Energy.Active.Import.Register__Wh",
    "SoC__EV__Percent",
    "transaction__id",
    "transaction__energy",
)
LIMIT_W = 3680
LIMIT_AFTER = 0.4  # of the duration


def supervisord_running(root: Path = PROJECT_ROOT) -> int | None:
    """The pid of a supervisord already running from this checkout (var/supervisord.pid), if any."""
    with contextlib.suppress(OSError, ValueError):
        pid = int((root / "var" / "supervisord.pid").read_text().strip())
        os.kill(pid, 0)
        return pid
    return None


def free_port(preferred: int | None = None) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred or 0))
        except OSError:
            probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float, alive: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
        time.sleep(0.1)
    return False


class Printer:
    """Plays BEMCom on MQTT: maps interesting keys to value topics and prints their values."""

    def __init__(self, port: int, charge_points: Sequence[str]) -> None:
        self.prefix = CONNECTOR_NAME
        self.bemcom = Topics(CONNECTOR_NAME)
        self.wanted = [f"{cp}__1__{suffix}" for cp in charge_points for suffix in SHOWN]
        self.actuator = f"{charge_points[0]}__1__execute_send_charging_profile"
        self.wanted.append(self.actuator + "__result")
        self.topics: dict[str, str] = {}  # value topic -> key
        self.mapped: set[str] = set()
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"demo-bemcom-{os.getpid()}")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client: paho.Client, *_: Any) -> None:
        client.subscribe([(self.bemcom.available_datapoints, 1), (f"{self.prefix}/messages/+/value", 1)])

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        if message.topic == self.bemcom.available_datapoints:
            self._map(body)
        elif message.topic in self.topics:
            key = self.topics[message.topic]
            stamp = time.strftime("%H:%M:%S", time.localtime(body.get("timestamp", 0) / 1000))
            print(f"{stamp}  {key:<50} {json.dumps(body.get('value'))}", flush=True)

    def _map(self, available: dict[str, Any]) -> None:
        known = set(available.get("sensor", {})) | set(available.get("actuator", {}))
        with self._lock:
            new = [key for key in self.wanted if key in known and key not in self.mapped]
            if not new and (self.actuator in self.mapped or self.actuator not in known):
                return
            self.mapped.update(new)
            if self.actuator in known:
                self.mapped.add(self.actuator)
            sensors = {
                key: f"{self.prefix}/messages/{i}/value" for i, key in enumerate(self.wanted) if key in self.mapped
            }
            self.topics = {topic: key for key, topic in sensors.items()}
            actuators = {f"{self.prefix}/messages/limit/value": self.actuator} if self.actuator in self.mapped else {}
        payload = json.dumps({"sensor": sensors, "actuator": actuators})
        self.client.publish(self.bemcom.datapoint_map, payload, qos=2, retain=True)
        print(f"demo: datapoint_map now maps {len(sensors)} sensors and {len(actuators)} actuator", flush=True)

    def limit(self, watts: int) -> bool:
        if self.actuator not in self.mapped:
            return False
        print(f"demo: BEMCom writes {watts} W to {self.actuator}", flush=True)
        value = json.dumps({"value": watts, "timestamp": int(time.time() * 1000)})
        self.client.publish(f"{self.prefix}/messages/limit/value", value, qos=0)
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Demo:
    """Everything the demo starts, so that ``close()`` can stop it all."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="ocpp-demo-"))
        self.python = Path(sys.executable)
        self.broker_port = free_port()
        self.ocpp_port = free_port(9000)
        self.broker_pid: int | None = None
        self.connector: subprocess.Popen[bytes] | None = None
        self.simulator: subprocess.Popen[bytes] | None = None
        self.printer: Printer | None = None
        self.ids = [f"CP_{number}" for number in range(1, args.charge_points + 1)]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{self.python.parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(
            CONNECTOR_NAME=CONNECTOR_NAME,
            MQTT_BROKER_HOST="127.0.0.1",
            MQTT_BROKER_PORT=str(self.broker_port),
            OCPP_HOST="127.0.0.1",
            OCPP_PORT=str(self.ocpp_port),
            BUS_EVENTS_ENDPOINT=f"ipc://{self.workdir}/events.ipc",
            BUS_COMMANDS_ENDPOINT=f"ipc://{self.workdir}/commands.ipc",
            JOURNAL_PATH=str(self.workdir / "gateway.sqlite3"),
        )
        return env

    def start_broker(self) -> None:
        script = PROJECT_ROOT / "scripts" / "ensure-broker.sh"
        subprocess.run(["bash", str(script)], env=self.env(), check=True, timeout=300)  # noqa: S603, S607
        pidfile = PROJECT_ROOT / "var" / f"mosquitto-{self.broker_port}.pid"
        self.broker_pid = int(pidfile.read_text().strip())

    def start_connector(self) -> None:
        log = (self.workdir / "connector.log").open("ab")
        command = [str(self.python.parent / "supervisord"), "-n", "-c", str(PROJECT_ROOT / "supervisord.conf")]
        self.connector = subprocess.Popen(  # noqa: S603
            command, cwd=PROJECT_ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if not wait_for_port(self.ocpp_port, 30, self.connector):
            raise RuntimeError(f"the connector did not start; see {self.workdir / 'connector.log'}")
        print(f"demo: connector listening on ws://127.0.0.1:{self.ocpp_port}/<id>", flush=True)

    def start_simulator(self) -> None:
        log = (self.workdir / "simulator.log").open("ab")
        command = [str(self.python), "-m", "tools.simulate", f"ws://127.0.0.1:{self.ocpp_port}/ocpp"]
        command += ["--charge-points", str(len(self.ids)), "--sessions", "0", "--interval", str(self.args.interval)]
        command += ["--samples", "20", "--pause", str(self.args.interval), "--report", "5"]
        self.simulator = subprocess.Popen(  # noqa: S603
            command, cwd=PROJECT_ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def run(self, stop: threading.Event) -> None:
        print(f"demo: broker on 127.0.0.1:{self.broker_port}, logs in {self.workdir}", flush=True)
        self.start_broker()
        self.printer = Printer(self.broker_port, self.ids)
        self.start_connector()
        self.start_simulator()
        print(f"demo: {len(self.ids)} simulated charge points; values for {self.args.duration:g} s (Ctrl-C stops)")
        started = time.monotonic()
        limited = False
        while not stop.wait(0.2):
            elapsed = time.monotonic() - started
            if elapsed >= self.args.duration:
                break
            if not limited and elapsed >= LIMIT_AFTER * self.args.duration:
                limited = self.printer.limit(LIMIT_W)
            for name, process in (("connector", self.connector), ("simulator", self.simulator)):
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"the {name} stopped (exit code {process.returncode}); see {self.workdir}")

    def close(self) -> None:
        """Stop what was started, newest first; remove the temporary directory."""
        print("demo: cleaning up", flush=True)
        for process, signum, grace in ((self.simulator, signal.SIGINT, 15), (self.connector, signal.SIGTERM, 40)):
            if process is not None and process.poll() is None:
                process.send_signal(signum)
                try:
                    process.wait(grace)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(5)
        if self.printer is not None:
            self.printer.close()
        if self.broker_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.broker_pid, signal.SIGTERM)
            for name in (f"mosquitto-{self.broker_port}.pid", f"mosquitto-{self.broker_port}.log"):
                (PROJECT_ROOT / "var" / name).unlink(missing_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
        print("demo: done", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    parser.add_argument("--charge-points", type=int, default=3, help="simulated charge points (default 3)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between meter values (default 2)")
    args = parser.parse_args(argv)
    if args.duration <= 0 or not 1 <= args.charge_points <= 50 or not 0.1 <= args.interval <= 60:
        parser.error("expected --duration > 0, --charge-points from 1 to 50 and --interval from 0.1 to 60")
    running = supervisord_running()
    if running is not None:
        print(
            f"demo: a connector already runs from this checkout (supervisord pid {running}, var/supervisord.pid); "
            "both would use var/supervisor.sock. Stop it (Ctrl-C where `make run` runs) and try again.",
            file=sys.stderr,
        )
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    demo = Demo(args)
    try:
        demo.run(stop)
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
