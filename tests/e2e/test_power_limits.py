"""End to end, power limits (README "Power limits and the failsafe"): the connector under
supervisord, a real mosquitto, and simulated chargers with the OCPP 1.6 smart-charging model
(tools/smart_charging.py): a limit holds at once on a single-phase, amperes-only charger with one
stack level that applies a TxDefaultProfile only from the next session; it is read back and judged;
a schedule with a gap; the failsafe after a broker outage and after ``kill -9`` of the whole
connector."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.harness import Broker, Connector, Observer, wait_until
from tests.support.bemcom import Bemcom
from tests.support.chargepoint import SimulatedChargePoint
from tools.chargepoint201 import SimulatedChargingStation
from tools.configuration import factory_configuration
from tools.device_model201 import factory_device_model
from tools.ocppj import utc_now
from tools.smart_charging import SmartCharging

pytestmark = pytest.mark.e2e

FAILSAFE_W = 4140.0  # 6 A on three phases


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:  # noqa: ASYNC109
    """``wait_until`` without blocking the event loop the simulated charge points answer on."""
    return await asyncio.to_thread(wait_until, predicate, timeout, what)


def sensor(bemcom: Bemcom, key: str) -> list[Any]:
    return [message.payload["value"] for message in bemcom.observer.on(f"sensor/{key}")]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Connector]]:
    directory: Path = tmp_path_factory.mktemp("limits")
    profiles = directory / "charge_points.toml"  # what OCPP does not tell: CP_A has one phase
    profiles.write_text('[charge_points."CP_A"]\nphases = 1\n')
    broker = Broker(directory)
    broker.start()
    connector = Connector(
        directory, broker.port, OCPP_CALL_TIMEOUT="3", OCPP_LIMIT_GRACE="1", OCPP_CHARGE_POINTS_FILE=str(profiles)
    )
    connector.start()
    yield broker, connector
    connector.stop()
    broker.stop()


@pytest.fixture
def bemcom(site: tuple[Broker, Connector]) -> Iterator[Bemcom]:
    broker, connector = site
    observer = Observer(broker.port, connector.name)
    yield Bemcom(observer)
    observer.close()


def single_phase_amperes_one_level() -> tuple[Any, SmartCharging]:
    store = factory_configuration(1, rate_units="Current", max_stack_level=0)
    store.set("ConnectorPhaseRotation", "NotApplicable", readonly=False)
    model = SmartCharging(
        connectors=1, max_stack_level=0, rate_units=["Current"], phases=1, tx_default_applies_from_next_session=True
    )
    return store, model


def test_a_limit_holds_at_once_on_a_single_phase_amperes_only_one_level_charger(
    site: tuple[Broker, Connector], bemcom: Bemcom
) -> None:
    _, connector = site
    limit = "CP_A__1__execute_send_charging_profile"
    bemcom.map(limit, sensors=("CP_A__1__effective_limit__W", "CP_A__1__limit_obeyed", "CP_A__onboarding"))
    store, model = single_phase_amperes_one_level()

    async def scenario() -> None:
        async with SimulatedChargePoint(connector.url, "CP_A", configuration=store, smart_charging=model) as cp:
            await cp.boot()
            await until(lambda: sensor(bemcom, "CP_A__onboarding"), 15, "onboarding")
            transaction = await cp.start_transaction(1, "TAG", meter_start=0)
            assert await asyncio.to_thread(bemcom.write, limit, 7400) == "Accepted"
            # The running session is limited at once (TxProfile), in A, on one phase, rounded down.
            assert model.limit_now(1) == pytest.approx(32.1 * 230, abs=1)
            # The read-back after the boot said "no limit" (null); the one after the limit says it.
            read = await until(
                lambda: [w for w in sensor(bemcom, "CP_A__1__effective_limit__W") if w is not None], 10, "the read-back"
            )
            assert read[-1] == pytest.approx(32.1 * 230, abs=1)
            await asyncio.sleep(1.1)  # OCPP_LIMIT_GRACE: the vehicle had its time to follow
            sampled = [{"value": "7000", "measurand": "Power.Active.Import", "unit": "W"}]
            await cp.meter_values(1, sampled, transaction_id=transaction, timestamp=utc_now())
            obeyed = await until(lambda: sensor(bemcom, "CP_A__1__limit_obeyed"), 10, "limit_obeyed")
            assert obeyed[-1] is True
            over = [{"value": "9000", "measurand": "Power.Active.Import", "unit": "W"}]
            await cp.meter_values(1, over, transaction_id=transaction, timestamp=utc_now())
            await until(lambda: sensor(bemcom, "CP_A__1__limit_obeyed")[-1] is False, 10, "limit_obeyed false")
        sent = [p for action, p in cp.received_calls if action == "SetChargingProfile"]
        purposes = {p["csChargingProfiles"]["chargingProfilePurpose"] for p in sent}
        assert purposes == {"TxDefaultProfile", "TxProfile"}
        assert all(p["csChargingProfiles"]["stackLevel"] == 0 for p in sent)

    asyncio.run(scenario())


def test_a_schedule_with_a_gap_lets_the_charger_charge_freely_in_the_gap(
    site: tuple[Broker, Connector], bemcom: Bemcom
) -> None:
    _, connector = site
    schedule = "CP_G__1__execute_send_charging_schedule"
    bemcom.map(schedule)
    model = SmartCharging(connectors=1, rate_units=["Power"], phases=3)

    async def scenario() -> None:
        async with SimulatedChargePoint(
            connector.url, "CP_G", configuration=factory_configuration(1, rate_units="Power"), smart_charging=model
        ) as cp:
            await cp.boot()
            now = int(model.clock() * 1000)
            entries = [
                {"from_timestamp": now - 60_000, "to_timestamp": now - 1000, "value": 7000},
                {"from_timestamp": now + 600_000, "to_timestamp": now + 1_200_000, "value": 3000},
            ]
            assert await asyncio.to_thread(bemcom.write, schedule, entries) == "Accepted"
            # In the gap: no limit but the charger's maximum (32 A x 3 x 230 V), not 7000 W.
            assert model.limit_now(1) == pytest.approx(32 * 3 * 230, abs=1)
            assert model.limit_now(1, now=now / 1000 + 900) == pytest.approx(3000, abs=1)
            assert model.limit_now(1, now=now / 1000 + 1300) is None  # the profile ended

    asyncio.run(scenario())


@pytest.fixture
def failsafe_site(tmp_path: Path) -> Iterator[tuple[Broker, Connector, Observer]]:
    # A kept session across the broker's restart: what the bridge publishes before the observer is
    # back (the failsafe turning true) is queued for it, not lost.
    broker = Broker(tmp_path, persistence=True)
    broker.start()
    connector = Connector(
        tmp_path,
        broker.port,
        OCPP_CALL_TIMEOUT="3",
        OCPP_FAILSAFE_POWER=str(FAILSAFE_W),
        OCPP_FAILSAFE_AFTER="3",
        OCPP_FAILSAFE_LEASE="8",
    )
    connector.use_private_control()  # the module's connector may still run from this checkout
    connector.start()
    observer = Observer(broker.port, connector.name, persistent=True)
    yield broker, connector, observer
    observer.close()
    connector.stop()
    broker.stop()


def test_the_failsafe_after_a_broker_outage_and_the_limit_restored_after_it(
    failsafe_site: tuple[Broker, Connector, Observer],
) -> None:
    broker, connector, observer = failsafe_site
    bemcom = Bemcom(observer)
    limit = "CP_F__1__execute_send_charging_profile"
    bemcom.map(limit, sensors=("CP_F__failsafe",))
    model = SmartCharging(connectors=1, rate_units=["Power"], phases=3)

    async def scenario() -> None:
        async with SimulatedChargePoint(
            connector.url, "CP_F", configuration=factory_configuration(1, rate_units="Power"), smart_charging=model
        ) as cp:
            await cp.boot()
            await until(lambda: sensor(bemcom, "CP_F__failsafe"), 15, "the failsafe sensor")
            await cp.start_transaction(1, "TAG", meter_start=0)
            assert await asyncio.to_thread(bemcom.write, limit, 11000) == "Accepted"
            assert model.limit_now(1) == pytest.approx(11000)
            await asyncio.to_thread(broker.stop)
            # OCPP_FAILSAFE_AFTER (3 s) later the failsafe is in force on the running session.
            await until(lambda: model.limit_now(1) == pytest.approx(FAILSAFE_W), 15, "the failsafe limit")
            await asyncio.to_thread(broker.start)
            # BEMCom is back: its limit again, within seconds.
            await until(lambda: model.limit_now(1) == pytest.approx(11000), 15, "BEMCom's limit restored")
            # The observer gets what the bridge published while it reconnected itself: wait for it.
            await until(lambda: True in sensor(bemcom, "CP_F__failsafe"), 10, "failsafe true")
            await until(lambda: sensor(bemcom, "CP_F__failsafe")[-1] is False, 10, "failsafe false")

    asyncio.run(scenario())


def test_a_2_0_1_station_gets_the_failsafe_too_and_bemcom_s_limit_back_after_it(
    failsafe_site: tuple[Broker, Connector, Observer],
) -> None:
    broker, connector, observer = failsafe_site
    bemcom = Bemcom(observer)
    limit = "CS_F__1__execute_send_charging_profile"
    bemcom.map(limit, sensors=("CS_F__failsafe",))

    async def scenario() -> SimulatedChargingStation:
        model = factory_device_model(1, rate_units="W")
        async with SimulatedChargingStation(connector.url, "CS_F", device_model=model) as station:
            await station.boot()
            await until(lambda: sensor(bemcom, "CS_F__failsafe"), 15, "the failsafe sensor")
            # The permanent failsafe profile of 2.0.1's shape: EVSE 0, stack level 0.
            assert station.smart_charging.limit_now(1) == pytest.approx(FAILSAFE_W)
            await station.start_transaction(1, "TAG", meter_start=0)
            assert await asyncio.to_thread(bemcom.write, limit, 11000) == "Accepted"
            assert station.smart_charging.limit_now(1) == pytest.approx(11000)
            await asyncio.to_thread(broker.stop)
            await until(
                lambda: station.smart_charging.limit_now(1) == pytest.approx(FAILSAFE_W), 15, "the failsafe limit"
            )
            await asyncio.to_thread(broker.start)
            await until(
                lambda: station.smart_charging.limit_now(1) == pytest.approx(11000), 15, "BEMCom's limit restored"
            )
            return station

    station = asyncio.run(scenario())
    sent = [p["chargingProfile"] for action, p in station.received_calls if action == "SetChargingProfile"]
    assert any(profile["id"] == 800 and profile["stackLevel"] == 0 for profile in sent)  # the permanent failsafe
    bemcoms = [profile for profile in sent if profile["stackLevel"] > 0]  # the failsafe's are at level 0
    assert bemcoms and all("validTo" in profile for profile in bemcoms)  # BEMCom's are leases


def test_the_charger_falls_back_to_the_failsafe_by_itself_when_the_whole_connector_is_killed(
    failsafe_site: tuple[Broker, Connector, Observer],
) -> None:
    _, connector, observer = failsafe_site
    bemcom = Bemcom(observer)
    limit = "CP_K__1__execute_send_charging_profile"
    bemcom.map(limit, sensors=("CP_K__failsafe",))
    model = SmartCharging(connectors=1, rate_units=["Power"], phases=3, max_stack_level=8)

    async def scenario() -> None:
        async with SimulatedChargePoint(
            connector.url, "CP_K", configuration=factory_configuration(1, rate_units="Power"), smart_charging=model
        ) as cp:
            await cp.boot()
            await until(lambda: sensor(bemcom, "CP_K__failsafe"), 15, "the failsafe sensor")
            await cp.start_transaction(1, "TAG", meter_start=0)
            assert await asyncio.to_thread(bemcom.write, limit, 11000) == "Accepted"
            assert model.limit_now(1) == pytest.approx(11000)
            kill_everything(connector)
            # Nobody renews the lease (OCPP_FAILSAFE_LEASE, 8 s): the permanent failsafe profile takes over.
            await until(lambda: model.limit_now(1) == pytest.approx(FAILSAFE_W), 15, "the charger's own failsafe")

    asyncio.run(scenario())


def kill_everything(connector: Connector) -> None:
    """``kill -9`` of supervisord and every program of the connector."""
    process = connector._process
    assert process is not None
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    connector._process = None
