"""End to end, a strict OCPP 2.0.1 charging station with one stack level above 0
(``SmartChargingCtrlr.ProfileStackLevel`` 1): every BEMCom limit and schedule shares that level, and
2.0.1 rejects a second TxDefaultProfile there where 1.6 replaced it (part 2 K01.FR.06 on one EVSE,
K01.FR.52/53 between EVSE 0 and another). The connector clears the level first, on the EVSE written
and on EVSE 0, so each write is ``Accepted``, the station's composite schedule is the last one
written there, and what another EVSE above 0 holds stays (they may share a level)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.harness import Broker, Connector, Observer, wait_until
from tests.support.bemcom import Bemcom
from tools.chargepoint201 import SimulatedChargingStation
from tools.device_model201 import factory_device_model

pytestmark = pytest.mark.e2e

CP = "CS_ONE_LEVEL"


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:  # noqa: ASYNC109
    """``wait_until`` without blocking the event loop the simulated station answers on."""
    return await asyncio.to_thread(wait_until, predicate, timeout, what)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Connector]]:
    directory: Path = tmp_path_factory.mktemp("stack_levels201")
    broker = Broker(directory)
    broker.start()
    connector = Connector(directory, broker.port, OCPP_CALL_TIMEOUT="3")
    try:
        connector.start()
        yield broker, connector
    finally:
        connector.stop()
        broker.stop()


def first_limit(station: SimulatedChargingStation, evse: int) -> float | None:
    """The limit (W) the station's composite schedule of ``evse`` starts with, None without one."""
    answer = station.smart_charging.get_composite_schedule({"evseId": evse, "duration": 60, "chargingRateUnit": "W"})
    assert answer["status"] == "Accepted"
    schedule = answer.get("schedule")
    return float(schedule["chargingSchedulePeriod"][0]["limit"]) if schedule else None


def test_each_limit_and_schedule_is_accepted_on_a_station_of_one_stack_level(site: tuple[Broker, Connector]) -> None:
    broker, connector = site
    observer = Observer(broker.port, connector.name)
    bemcom = Bemcom(observer)
    limit = {evse: f"{CP}__{evse}__execute_send_charging_profile" for evse in (0, 1, 2)}
    schedule = f"{CP}__1__execute_send_charging_schedule"
    bemcom.map(*limit.values(), schedule, sensors=(f"{CP}__onboarding",))
    now_ms = int(time.time() * 1000)
    plan = [{"from_timestamp": now_ms - 60_000, "to_timestamp": now_ms + 3_600_000, "value": 7000}]
    # (what is written, the value, the EVSE, BEMCom's profiles then held, the limit then in force there)
    writes = [
        (limit[0], 9000, 0, [1000], 9000.0),
        (limit[1], 8000, 1, [1001], 8000.0),  # EVSE 0's limit shared its level: cleared
        (schedule, plan, 1, [2001], 7000.0),
        (limit[2], 6000, 2, [1002, 2001], 6000.0),  # EVSE 1's schedule stays: EVSEs above 0 may share
    ]

    async def scenario() -> tuple[SimulatedChargingStation, list[tuple[Any, list[int], float | None]]]:
        seen = []
        model = factory_device_model(2, max_stack_level=1)
        async with SimulatedChargingStation(connector.url, CP, device_model=model) as station:
            await station.boot()
            await until(lambda: observer.on(f"sensor/{CP}__onboarding"), 15, "onboarding")
            for key, value, evse, _, _ in writes:
                outcome = await asyncio.to_thread(bemcom.write, key, value)
                seen.append((outcome, sorted(station.smart_charging.profiles), first_limit(station, evse)))
        return station, seen

    try:
        station, seen = asyncio.run(scenario())
    finally:
        observer.close()
    assert seen == [("Accepted", held, watts) for _, _, _, held, watts in writes]
    assert all(entry[1] == "Accepted" for entry in station.smart_charging.history if entry[0] == "SetChargingProfile")
    sent = [p["chargingProfile"] for action, p in station.received_calls if action == "SetChargingProfile"]
    assert {profile["stackLevel"] for profile in sent} == {1}
    assert first_limit(station, 1) == 7000.0  # EVSE 1's schedule still governs it
