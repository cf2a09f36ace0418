"""End to end, MQTT credentials: a mosquitto that requires a password (made with
mosquitto_passwd) on one listener, and lets the test's observer in anonymously on another."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import Broker, Connector, Observer, free_port, wait_until
from tests.support.chargepoint import SimulatedChargePoint

pytestmark = pytest.mark.e2e

USER, PASSWORD = "connector", "broker-s3cret"


class PasswordBroker(Broker):
    """``port`` requires USER/PASSWORD; ``observer_port`` is anonymous, for the test only."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.observer_port = free_port()
        passwords = directory / "mosquitto.passwd"
        passwords.touch(mode=0o600)
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        subprocess.run([tool, "-b", str(passwords), USER, PASSWORD], check=True, capture_output=True, timeout=30)
        # Started as root, mosquitto drops to its own user, which cannot read pytest's private
        # tmp directory: stay the user that started it (ignored when that is not root).
        self.config.write_text(
            "user root\nper_listener_settings true\n"
            f"listener {self.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
            f"listener {self.observer_port} 127.0.0.1\nallow_anonymous true\n"
            "persistence false\n"
        )


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[PasswordBroker]:
    broker = PasswordBroker(tmp_path)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()


def test_the_connector_publishes_with_broker_credentials(tmp_path: Path, password_broker: PasswordBroker) -> None:
    connector = Connector(tmp_path, password_broker.port, MQTT_USERNAME=USER, MQTT_PASSWORD=PASSWORD)
    connector.start()
    observer = Observer(password_broker.observer_port, connector.name)
    try:
        key = "CP_1__1__Power.Active.Import__W"
        observer.publish(
            "datapoint_map", {"sensor": {key: f"{connector.name}/messages/1/value"}, "actuator": {}}, 2, True
        )

        async def scenario() -> None:
            async with SimulatedChargePoint(connector.url, "CP_1") as cp:
                await cp.meter_values(1, [{"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"}])
                await asyncio.to_thread(observer.wait_for, "messages/1/value", lambda p: p["value"] == 7400, 20)

        asyncio.run(scenario())
    finally:
        observer.close()
        connector.stop()
    assert PASSWORD not in connector.output()


def test_wrong_broker_credentials_are_logged_and_retried(tmp_path: Path, password_broker: PasswordBroker) -> None:
    connector = Connector(tmp_path, password_broker.port, MQTT_USERNAME=USER, MQTT_PASSWORD="not-the-Pa55word")
    connector.start()
    try:
        hint = "refused the connection: Not authorized (check MQTT_USERNAME and MQTT_PASSWORD); retrying"
        wait_until(lambda: connector.output().count(hint) >= 2, 30, "the refusal to be logged by both")
        pids = connector.child_pids()
        assert {"bridge", "gateway", "rawlogger"} <= set(pids)
        attempts = refusals_logged_by(password_broker)
        wait_until(lambda: refusals_logged_by(password_broker) >= attempts + 2, 30, "more attempts")
        assert connector.child_pids() == pids  # retried by the same processes: nothing died
        assert connector.output().count(hint) == 2  # one warning per process, not one per attempt
    finally:
        connector.stop()
    assert "not-the-Pa55word" not in connector.output()


def refusals_logged_by(broker: Broker) -> int:
    """The connections mosquitto refused for bad credentials (it logs each)."""
    return broker.log.read_text(errors="replace").count("not authorised")
