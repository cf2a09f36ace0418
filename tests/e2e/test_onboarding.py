"""End to end, onboarding (README "Onboarding"): a charger with factory settings connects to the
connector under supervisord and, with nobody touching it, reports what BEMCom needs; what it
refuses, a charger that never boots, the charge points file changed while running, and the
security extension's messages."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.harness import ROOT, Broker, Connector, Observer, free_port, wait_until
from tests.support.bemcom import Bemcom
from tests.support.chargepoint import SimulatedChargePoint
from tools.chargepoint import BootTrigger
from tools.configuration import factory_configuration

pytestmark = pytest.mark.e2e

WANTED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Connector, Path]]:
    directory: Path = tmp_path_factory.mktemp("onboarding")
    profiles = directory / "charge_points.toml"
    profiles.write_text('[charge_points."CP_FILE"]\nmeter_interval = 20\n')
    broker = Broker(directory)
    broker.start()
    connector = Connector(
        directory,
        broker.port,
        OCPP_CALL_TIMEOUT="2",
        OCPP_BOOT_WAIT="1",
        OCPP_METER_INTERVAL="15",
        OCPP_CHARGE_POINTS_FILE=str(profiles),
    )
    connector.start()
    yield broker, connector, profiles
    connector.stop()
    broker.stop()


@pytest.fixture
def observer(site: tuple[Broker, Connector, Path]) -> Iterator[Observer]:
    broker, connector, _ = site
    observer = Observer(broker.port, connector.name)
    yield observer
    observer.close()


def sensors(observer: Observer, *keys: str) -> Bemcom:
    """Map these sensor keys (values then appear on ``sensor/{key}``)."""
    bemcom = Bemcom(observer)
    bemcom.map(sensors=keys)
    return bemcom


def value(observer: Observer, key: str, expected: Any = None, timeout: float = 15) -> Any:
    """The newest value of a mapped sensor, once there is one (equal to ``expected`` if given)."""

    def found() -> Any:
        messages = observer.on(f"sensor/{key}")
        if messages and (expected is None or messages[-1].payload["value"] == expected):
            return messages[-1].payload
        return None

    return wait_until(found, timeout, f"{key} = {expected!r}")["value"]


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:  # noqa: ASYNC109
    """``wait_until`` without blocking the event loop the simulated charge points answer on."""
    return await asyncio.to_thread(wait_until, predicate, timeout, what)


async def value_of(observer: Observer, key: str, expected: Any = None, timeout: float = 15) -> Any:  # noqa: ASYNC109
    return await asyncio.to_thread(value, observer, key, expected, timeout)


def changes(cp: SimulatedChargePoint) -> list[tuple[str, str]]:
    return [(p["key"], p["value"]) for action, p in cp.received_calls if action == "ChangeConfiguration"]


def test_a_factory_charger_is_onboarded_and_reports_power(
    site: tuple[Broker, Connector, Path], observer: Observer
) -> None:
    _, connector, _ = site
    keys = (
        "CP_F__onboarding",
        "CP_F__protocol",
        "CP_F__configuration__MeterValuesSampledData",
        "CP_F__configuration__NumberOfConnectors",
    )
    sensors(observer, *keys)

    async def scenario() -> None:
        store = factory_configuration(2)
        async with SimulatedChargePoint(connector.url, "CP_F", configuration=store) as cp:
            await cp.boot()
            assert await value_of(observer, "CP_F__onboarding", "done") == "done"
            assert store.value("MeterValuesSampledData") == WANTED
            assert store.value("MeterValueSampleInterval") == "15"
            assert changes(cp) == [("MeterValuesSampledData", WANTED), ("MeterValueSampleInterval", "15")]
            # A reboot: asked again, nothing changed again.
            asked = [action for action, _ in cp.received_calls].count("GetConfiguration")
            await cp.boot()
            await until(
                lambda: [action for action, _ in cp.received_calls].count("GetConfiguration") > asked, 10, "a new pass"
            )
            await until(lambda: len(observer.on("sensor/CP_F__onboarding")) >= 2, 10, "its outcome")
            assert len(changes(cp)) == 2

    asyncio.run(scenario())
    assert value(observer, "CP_F__protocol") == "ocpp1.6"
    assert value(observer, "CP_F__configuration__NumberOfConnectors") == "2"
    announced = observer.wait_for(
        "available_datapoints", lambda p: "CP_F__2__execute_send_charging_profile" in p["actuator"]
    )
    assert "CP_F__1__execute_send_charging_profile" in announced["actuator"]  # every connector, before any status


def test_refused_measurands_end_partial_and_are_not_asked_again(
    site: tuple[Broker, Connector, Path], observer: Observer
) -> None:
    _, connector, _ = site
    sensors(observer, "CP_R__onboarding")

    async def scenario() -> None:
        supported = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import")
        store = factory_configuration(1, supported_measurands=supported)
        async with SimulatedChargePoint(connector.url, "CP_R", configuration=store) as cp:
            await cp.boot()
            outcome = await value_of(observer, "CP_R__onboarding", timeout=15)
            assert outcome.startswith("partial: MeterValuesSampledData without Voltage, SoC")
            assert store.value("MeterValuesSampledData") == ",".join(supported)
            sent = len(changes(cp))
            await cp.boot()
            await until(lambda: len(observer.on("sensor/CP_R__onboarding")) >= 2, 10, "the second outcome")
            assert len(changes(cp)) == sent

    asyncio.run(scenario())


def test_a_charger_that_never_boots_is_asked_for_a_boot_then_onboarded(
    site: tuple[Broker, Connector, Path], observer: Observer
) -> None:
    _, connector, _ = site
    sensors(observer, "CP_N__onboarding")

    async def scenario() -> None:
        store = factory_configuration(1)
        async with SimulatedChargePoint(
            connector.url, "CP_N", configuration=store, boot_trigger=BootTrigger.REJECT
        ) as cp:
            assert await value_of(observer, "CP_N__onboarding", "done") == "done"
            actions = [action for action, _ in cp.received_calls]
            assert actions[:2] == ["TriggerMessage", "GetConfiguration"]
            assert cp.received_calls[0][1] == {"requestedMessage": "BootNotification"}

    asyncio.run(scenario())


def test_the_charge_points_file_applies_and_a_change_is_applied_without_a_restart(
    site: tuple[Broker, Connector, Path], observer: Observer
) -> None:
    _, connector, profiles = site
    sensors(observer, "CP_FILE__onboarding")

    async def scenario() -> None:
        store = factory_configuration(1)
        async with SimulatedChargePoint(connector.url, "CP_FILE", configuration=store) as cp:
            await cp.boot()
            await value_of(observer, "CP_FILE__onboarding", "done")
            assert store.value("MeterValueSampleInterval") == "20"  # the file's, not OCPP_METER_INTERVAL
            mark = len(observer.on("logs"))
            profiles.write_text('[charge_points."CP_FILE"]\nmeter_interval = "often"\n')
            await until(
                lambda: any("OCPP_CHARGE_POINTS_FILE" in m.payload["msg"] for m in observer.on("logs")[mark:]),
                10,
                "the refusal of the bad file",
            )
            refusal = next(
                m.payload for m in observer.on("logs")[mark:] if "OCPP_CHARGE_POINTS_FILE" in m.payload["msg"]
            )
            assert "line 2" in refusal["msg"] and "meter_interval" in refusal["msg"] and refusal["level"] >= 40
            assert store.value("MeterValueSampleInterval") == "20"  # the last good file stays
            profiles.write_text('[charge_points."CP_FILE"]\nmeter_interval = 25\n')
            await until(lambda: store.value("MeterValueSampleInterval") == "25", 15, "the new interval")

    asyncio.run(scenario())


def test_security_events_are_sensors_and_warnings_and_a_csr_is_rejected(
    site: tuple[Broker, Connector, Path], observer: Observer
) -> None:
    _, connector, _ = site
    sensors(observer, "CP_S__SecurityEventNotification__type", "CP_S__LogStatusNotification__status")

    async def scenario() -> None:
        async with SimulatedChargePoint(connector.url, "CP_S") as cp:
            await cp.boot()
            event = {"type": "InvalidFirmwareSignature", "timestamp": "2026-12-07T10:00:00Z", "techInfo": "v2"}
            assert await cp.call("SecurityEventNotification", event) == {}
            assert await cp.call("LogStatusNotification", {"status": "Uploaded", "requestId": 3}) == {}
            answer = await cp.call("SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"})
            assert answer == {"status": "Rejected"}

    asyncio.run(scenario())
    assert value(observer, "CP_S__SecurityEventNotification__type") == "InvalidFirmwareSignature"
    assert value(observer, "CP_S__LogStatusNotification__status") == "Uploaded"
    warning = observer.wait_for("logs", lambda p: "InvalidFirmwareSignature" in p["msg"])
    assert warning["level"] == 30


def test_a_bad_charge_points_file_stops_the_gateway_at_start_naming_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "cp.toml"
    bad.write_text('[defaults]\nphases = 3\n\n[charge_points."CP_1"]\nphases = 4\n')
    env = {
        **os.environ,
        "OCPP_CHARGE_POINTS_FILE": str(bad),
        "OCPP_PORT": str(free_port()),
        "JOURNAL_PATH": str(tmp_path / "journal.sqlite3"),
        "BUS_EVENTS_ENDPOINT": f"ipc://{tmp_path}/events.ipc",
        "BUS_COMMANDS_ENDPOINT": f"ipc://{tmp_path}/commands.ipc",
    }
    finished = subprocess.run(
        [sys.executable, "-m", "processes.gateway"], env=env, capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert finished.returncode == 78
    assert f'OCPP_CHARGE_POINTS_FILE {bad} line 5: charge_points."CP_1".phases' in finished.stderr
