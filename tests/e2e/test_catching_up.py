"""End to end, a charger coming back after being offline, with the connector's defaults: it sends
what it queued one call after the other, far above OCPP_MAX_CALLS_PER_SECOND, and is slowed down,
never refused; a StopTransaction with a long transactionData fits a frame; every other charge
point is answered at once meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from bench.harness import Connector, Observer
from tests.support.chargepoint import SimulatedChargePoint

pytestmark = pytest.mark.e2e

QUEUED = 500
#: The connector's default OCPP_MAX_CALLS_PER_SECOND.
RATE = 20


PERIODIC = {"context": "Sample.Periodic"}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_charger_catching_up_500_queued_messages_is_answered_every_one(
    connector: Connector, observer: Observer
) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)

    async def neighbour_answers(neighbour: SimulatedChargePoint, stop: asyncio.Event) -> float:
        """The slowest answer another charge point got while the first one caught up."""
        slowest = 0.0
        while not stop.is_set():
            began = time.monotonic()
            await neighbour.heartbeat()
            slowest = max(slowest, time.monotonic() - began)
            await asyncio.sleep(0.1)  # an ordinary charge point's pace, not a flood
        return slowest

    async def scenario() -> tuple[float, float]:
        async with (
            SimulatedChargePoint(connector.url, "CP_BACK") as back,
            SimulatedChargePoint(connector.url, "CP_NEXT") as neighbour,
        ):
            await back.boot()
            await neighbour.boot()
            stop = asyncio.Event()
            watching = asyncio.create_task(neighbour_answers(neighbour, stop))
            began = time.monotonic()
            for n in range(QUEUED):  # one after the other, each once the previous was answered
                at = iso(start + timedelta(seconds=15 * n))
                sampled = [{"value": str(1000 + n), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
                assert await back.meter_values(1, sampled, timestamp=at) == {}  # a CallError would raise
            took = time.monotonic() - began
            stop.set()
            return took, await watching

    took, slowest_neighbour = asyncio.run(scenario())
    assert took >= (QUEUED - RATE) / RATE * 0.9  # it was slowed down to its rate ...
    assert slowest_neighbour < 1.0  # ... and nobody else was
    output = connector.output()
    assert "CP_BACK sends more than 20 calls per second: answering it at that rate" in output
    assert "refused" not in output
    energy = observer.wait_for(
        "available_datapoints", lambda p: "CP_BACK__1__Energy.Active.Import.Register__Wh" in p["sensor"]
    )
    assert energy["sensor"]["CP_BACK__1__Energy.Active.Import.Register__Wh"] >= 1000


def test_a_stop_transaction_of_500_kib_is_answered_and_published(connector: Connector, observer: Observer) -> None:
    start = datetime.now(UTC) - timedelta(hours=6)
    samples = [
        {
            "timestamp": iso(start + timedelta(seconds=10 * n)),
            "sampledValue": [
                {"value": str(10 * n), "measurand": "Energy.Active.Import.Register", "unit": "Wh", **PERIODIC},
                {"value": "7400.0", "measurand": "Power.Active.Import", "unit": "W", **PERIODIC},
            ],
        }
        for n in range(2200)
    ]

    async def scenario() -> int:
        async with SimulatedChargePoint(connector.url, "CP_LONG") as cp:
            await cp.boot()
            transaction = await cp.start_transaction(1, "TAG", meter_start=0)
            topics = {
                f"CP_LONG__1__transaction__{field}": f"{connector.name}/messages/{n}/value"
                for n, field in enumerate(("active", "energy", "id"), start=1)
            }
            observer.publish("datapoint_map", {"sensor": topics, "actuator": {}}, qos=2, retain=True)
            await asyncio.to_thread(observer.wait_for, "messages/1/value", lambda p: p["value"] is True)
            answer = await cp.stop_transaction(transaction, 21990, transactionData=samples, reason="EVDisconnected")
            assert answer == {}
            return transaction

    assert len(json.dumps(samples)) > 500 * 1024
    transaction = asyncio.run(scenario())
    assert observer.wait_for("messages/1/value", lambda p: p["value"] is False, timeout=20)["value"] is False
    assert observer.wait_for("messages/2/value", timeout=20)["value"] == 21990
    assert observer.latest("messages/3/value")["value"] == transaction
