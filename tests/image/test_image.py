"""The container image for real: built with podman the way scripts/podman-image.sh documents
(its test stage runs the unit and component tests), started against a private mosquitto, a
simulated charge point connected to it, its values seen on MQTT, the image's HEALTHCHECK passing
and every process running as the image's non-root user.

Opt-in (tests/image/conftest.py): ``RUN_IMAGE_TESTS=1`` or ``make test-image``. The container uses
the host's network (``--network=host``): the OCPP port, the broker's port are free ports of the
host and the internal bus is ``ipc://`` inside the container, so nothing collides with a
connector already running here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import websockets

from bench.harness import Broker, Observer, free_port, port_open, wait_until
from tests.support.chargepoint import SimulatedChargePoint

pytestmark = [pytest.mark.image, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "podman-image.sh"
# A tag of its own: the test does not replace an operator's bemcom-ocpp-connector (the layers are shared).
IMAGE = os.environ.get("IMAGE_TEST_TAG", "localhost/bemcom-ocpp-connector:image-test")
UID = "10001"


def podman_env() -> dict[str, str]:
    """The environment with CONTAINERS_CONF as the script writes it."""
    line = subprocess.run(
        ["bash", str(SCRIPT), "env"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert line.startswith("export CONTAINERS_CONF="), line
    return {**os.environ, "CONTAINERS_CONF": line.removeprefix("export CONTAINERS_CONF=")}


def podman(
    env: dict[str, str], *args: str, timeout: float = 60, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}: {result.stdout}{result.stderr}")
    return result


@dataclass
class Container:
    name: str
    connector_name: str
    ocpp_port: int
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}"

    def logs(self) -> str:
        result = podman(self.env, "logs", self.name, check=False)
        return (result.stdout + result.stderr)[-4000:]


@pytest.fixture(scope="module")
def image() -> str:
    """Builds the image with the project's script (installs podman and the base images if needed)."""
    started = time.monotonic()
    build = subprocess.run(
        ["bash", str(SCRIPT), "build"],
        env={**os.environ, "IMAGE": IMAGE},
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )
    assert build.returncode == 0, f"the image did not build:\n{(build.stdout + build.stderr)[-6000:]}"
    print(f"image {IMAGE} built in {time.monotonic() - started:.0f} s")  # shown with -rA (make test-image)
    return IMAGE


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = Broker(tmp_path_factory.mktemp("broker"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def container(image: str, broker: Broker) -> Iterator[Container]:
    env = podman_env()
    name = f"bemcom-ocpp-image-test-{uuid.uuid4().hex[:8]}"
    connector = Container(name=name, connector_name=f"test-{uuid.uuid4().hex[:8]}", ocpp_port=free_port(), env=env)
    settings = {
        "CONNECTOR_NAME": connector.connector_name,
        "MQTT_BROKER_HOST": "127.0.0.1",
        "MQTT_BROKER_PORT": str(broker.port),
        "OCPP_HOST": "127.0.0.1",
        "OCPP_PORT": str(connector.ocpp_port),
        # Inside the container's own file system: no clash with the host's tcp://127.0.0.1:5680.
        "BUS_EVENTS_ENDPOINT": "ipc:///app/var/events.ipc",
        "BUS_COMMANDS_ENDPOINT": "ipc:///app/var/commands.ipc",
        "BEMCOM_HEARTBEAT_INTERVAL": "2",
    }
    run = ["run", "--detach", "--name", name, "--network=host"]
    for key, value in settings.items():
        run += ["--env", f"{key}={value}"]
    podman(env, *run, image)
    try:
        try:
            wait_until(lambda: port_open(connector.ocpp_port), 60, "the containerised gateway to listen", interval=0.2)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{connector.logs()}") from None
        yield connector
    finally:
        # Always: stop (SIGTERM, supervisord stops its programs) and remove, even after a failure.
        podman(env, "rm", "--force", "--time", "30", name, timeout=90, check=False)


@pytest.fixture
def observer(broker: Broker, container: Container) -> Iterator[Observer]:
    observer = Observer(broker.port, container.connector_name)
    yield observer
    observer.close()


def test_a_charge_point_connected_to_the_container_reaches_bemcom(container: Container, observer: Observer) -> None:
    async def scenario() -> None:
        async with SimulatedChargePoint(container.url, "CP_IMAGE") as cp:
            boot = await cp.boot(firmwareVersion="9.9.9")
            assert boot["status"] == "Accepted", boot
            await cp.status(1, "Charging")
            await cp.meter_values(1, [{"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"}])
            power = "CP_IMAGE__1__Power.Active.Import__W"
            available = await asyncio.to_thread(
                observer.wait_for, "available_datapoints", lambda p: power in p["sensor"], 20
            )
            assert available["sensor"][power] == 7400
            assert "CP_IMAGE__BootNotification__firmware_version" in available["sensor"]

            mapping = {"sensor": {power: f"{container.connector_name}/messages/1/value"}, "actuator": {}}
            observer.publish("datapoint_map", mapping, qos=2, retain=True)
            await cp.meter_values(1, [{"value": "11", "measurand": "Power.Active.Import", "unit": "kW"}])
            value = await asyncio.to_thread(observer.wait_for, "messages/1/value", lambda p: p["value"] == 11000, 20)
            assert set(value) == {"value", "timestamp"}

    try:
        asyncio.run(scenario())
    except AssertionError as error:
        raise AssertionError(f"{error}\ncontainer log:\n{container.logs()}") from None


def test_the_image_healthcheck_passes(container: Container, observer: Observer) -> None:
    # Healthy once supervisord runs all three and the bridge has published a heartbeat while connected.
    observer.wait_for("heartbeat", timeout=30)
    results: list[str] = []

    def healthy() -> bool:
        result = podman(container.env, "healthcheck", "run", container.name, check=False)
        results.append(f"exit {result.returncode}: {(result.stdout + result.stderr).strip()}")
        return result.returncode == 0

    with contextlib.suppress(AssertionError):
        wait_until(healthy, 30, "podman healthcheck run to pass", interval=1)
    assert results and results[-1].startswith("exit 0"), f"{results[-3:]}\n{container.logs()}"
    health = podman(container.env, "inspect", "--format", "{{.State.Health.Status}}", container.name).stdout.strip()
    assert health == "healthy", health


def test_every_process_runs_as_the_non_root_user(container: Container) -> None:
    # huser/hgroup: the ids as the host sees them (no user namespace: the same as inside).
    top = podman(container.env, "top", container.name, "huser", "hgroup", "user", "args").stdout.splitlines()
    rows = [line.split(None, 3) for line in top[1:] if line.strip()]
    assert any("supervisord" in row[3] for row in rows), top
    for program in ("processes.gateway", "processes.bridge", "processes.rawlogger"):
        assert any(program in row[3] for row in rows), f"{program} not running: {top}"
    assert {(row[0], row[1], row[2]) for row in rows} == {(UID, UID, "connector")}, top
    user = podman(container.env, "inspect", "--format", "{{.Config.User}}", container.name).stdout.strip()
    assert user == f"{UID}:{UID}", user


def test_charge_points_reach_the_gateway_on_a_mapped_port(image: str) -> None:
    # Podman's default network, as `docker run -p HOST:9000` is used; no broker needed for a boot.
    env = podman_env()
    name = f"bemcom-ocpp-image-test-{uuid.uuid4().hex[:8]}"
    host_port = free_port()
    podman(env, "run", "--detach", "--name", name, "--publish", f"127.0.0.1:{host_port}:9000", image)
    try:

        async def boot() -> dict[str, object]:
            async with SimulatedChargePoint(f"ws://127.0.0.1:{host_port}", "CP_MAPPED") as cp:
                return await cp.boot()

        def answered() -> dict[str, object] | None:
            # The port forward may accept before the gateway listens: then the handshake fails.
            try:
                return asyncio.run(boot())
            except (OSError, ConnectionError, TimeoutError, websockets.exceptions.WebSocketException):
                return None

        result = wait_until(answered, 60, "a BootNotification answer on the mapped port", interval=0.5)
        assert result["status"] == "Accepted", result
    finally:
        podman(env, "rm", "--force", "--time", "30", name, timeout=90, check=False)
