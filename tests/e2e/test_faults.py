"""Fault injection: restart anything, lose nothing.

A mixed site: an OCPP 1.6 charge point and two OCPP 2.0.1 stations (one sending MeterValues, one
TransactionEvent Updated) send meter values continuously (each a new number, with its own meter
timestamp) while one part is killed or the broker restarts or goes away for a while. After
each fault, every value a charge point got an answer for is on MQTT, in order, with its
original timestamp, and on the raw message topic; no call went unanswered except while the
gateway itself was down; the charge points are connected again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.exceptions import WebSocketException

from bench.harness import Broker, Connector, Observer, port_open, wait_until
from tests.support.chargepoint import SimulatedChargePoint
from tools.chargepoint201 import SimulatedChargingStation

pytestmark = pytest.mark.e2e

CHARGE_POINTS = 3
INTERVAL = 0.05
BASE_MS = (int(time.time()) + 3600) * 1000  # meter timestamps ahead of anything else


def meter_timestamp(value: int) -> str:
    seconds, millis = divmod(BASE_MS + value * 1000, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


#: How each charge point of the site sends its meter (a mixed site: OCPP 1.6, and 2.0.1 both ways).
KINDS = ("1.6 MeterValues", "2.0.1 MeterValues", "2.0.1 TransactionEvent")


class MeterSender:
    """A charge point sending a rising energy register. Like a real one, it retries a message
    until it is answered: after a lost connection it reconnects and sends the same value again.
    ``kind``: one of KINDS."""

    def __init__(self, url: str, cp_id: str, kind: str = KINDS[0]) -> None:
        self.kind = kind
        self.cp: SimulatedChargePoint | SimulatedChargingStation = (
            SimulatedChargePoint(url, cp_id, open_timeout=2)
            if kind.startswith("1.6")
            else SimulatedChargingStation(url, cp_id, open_timeout=2)
        )
        self.port = int(url.rsplit(":", 1)[1])
        self.answered: list[int] = []
        self.unanswered = 0
        self.reconnects = 0
        self.transaction: str | None = None

    async def _send(self, value: int) -> None:
        cp, stamp = self.cp, meter_timestamp(value)
        if isinstance(cp, SimulatedChargePoint):
            sampled = [{"value": str(value), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
            await cp.meter_values(1, sampled, timestamp=stamp)
            return
        sample = {"value": value, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}}
        if self.kind.endswith("MeterValues"):
            await cp.meter_values(1, [sample], timestamp=stamp)
            return
        if self.transaction is None:  # no register at the start: every value on MQTT is one of the loop's
            self.transaction = await cp.start_transaction(1, "TAG", sampled=[])
        transaction = cp.all_transactions[self.transaction]
        await cp.transaction_event("Updated", transaction, "MeterValuePeriodic", sampled=[sample], timestamp=stamp)

    async def run(self, stop: asyncio.Event) -> None:
        await self.cp.connect()
        value = 1
        while not stop.is_set():
            try:
                await self._send(value)
            except (ConnectionError, TimeoutError):
                self.unanswered += 1
                await self._reconnect()
                continue
            self.answered.append(value)
            value += 1
            await asyncio.sleep(INTERVAL)  # the pace of the meter values, not a wait for anything
        await self.cp.close()

    async def _reconnect(self) -> None:
        await self.cp.close()
        while True:
            try:
                await self.cp.connect()
                self.reconnects += 1
                return
            except (OSError, TimeoutError, WebSocketException):
                await asyncio.sleep(0.1)  # a charge point's pause between reconnection attempts


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Broker, Connector, Observer]]:
    broker = Broker(tmp_path, persistence=True)
    # No in-flight limit towards subscribers: mosquitto 2.0.11 with its default of 20 delivers the
    # backlog after an outage to a subscriber out of order (README, "order at the subscriber is the
    # broker's"; tests/e2e/test_mqtt_faults.py); the order asserted here is the connector's.
    broker.config.write_text(broker.config.read_text() + "max_inflight_messages 0\n")
    broker.start()
    connector = Connector(tmp_path, broker.port, MQTT_RECONNECT_MAX_DELAY="0.5", OCPP_CALL_TIMEOUT="5")
    connector.start()
    observer = Observer(broker.port, connector.name, persistent=True)
    yield broker, connector, observer
    observer.close()
    connector.stop()
    broker.stop()


def kill(connector: Connector, program: str) -> Callable[[], None]:
    def fault() -> None:
        pid = connector.child_pids()[program]
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: connector.child_pids().get(program) not in (None, pid), 20, f"{program} to be restarted")

    return fault


def broker_restart(broker: Broker, downtime: float) -> Callable[[], None]:
    def fault() -> None:
        broker.stop()
        time.sleep(downtime)  # the outage itself: meter values keep coming meanwhile
        broker.start()

    return fault


def run_with_fault(connector: Connector, observer: Observer, fault: Callable[[], None]) -> list[MeterSender]:
    topics = {
        f"CP_F{index}__1__Energy.Active.Import.Register__Wh": f"{connector.name}/values/CP_F{index}"
        for index in range(CHARGE_POINTS)
    }
    observer.publish("datapoint_map", {"sensor": topics, "actuator": {}}, qos=2, retain=True)
    observer.wait_for("logs", lambda p: p["msg"].startswith(f"Datapoint map: {CHARGE_POINTS} sensors"))
    senders = [MeterSender(connector.url, f"CP_F{index}", KINDS[index % len(KINDS)]) for index in range(CHARGE_POINTS)]

    async def scenario() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(sender.run(stop)) for sender in senders]
        flowing = int(1.0 / INTERVAL)  # about a second of meter values from every charge point
        await asyncio.to_thread(
            wait_until, lambda: all(len(s.answered) >= flowing for s in senders), 20, "meter values to flow"
        )
        await asyncio.to_thread(fault)
        # Values keep flowing after the fault: every charge point is answered again.
        marks = [len(sender.answered) for sender in senders]
        await asyncio.to_thread(
            wait_until,
            lambda: all(len(s.answered) > m + 10 for s, m in zip(senders, marks, strict=True)),
            30,
            "values after the fault",
        )
        stop.set()
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    return senders


def assert_nothing_lost(connector: Connector, observer: Observer, senders: list[MeterSender]) -> None:
    for index, sender in enumerate(senders):
        topic = f"values/CP_F{index}"
        answered = set(sender.answered)

        def missing(t: str = topic, a: set[int] = answered) -> list[int]:
            return sorted(a - {m.payload["value"] for m in observer.on(t)})

        try:
            wait_until(lambda: not missing(), 30, f"every answered value on {topic}")
        except AssertionError:
            raise AssertionError(f"lost on {topic}: {missing()}") from None
        received = [m.payload for m in observer.on(topic)]
        values = [payload["value"] for payload in received]
        # Retained copies come again whenever the observer subscribes again: the order is the live one's.
        first_seen = list(dict.fromkeys(m.payload["value"] for m in observer.on(topic) if not m.retain))
        assert first_seen == sorted(first_seen), f"out of order on {topic}"
        assert len(values) - len(first_seen) <= 100, f"{len(values) - len(first_seen)} duplicates on {topic}"
        assert all(payload["timestamp"] == BASE_MS + payload["value"] * 1000 for payload in received)
    for index, sender in enumerate(senders):
        expected = {str(value) for value in sender.answered}

        def all_raw_frames_seen(cp_id: str = f"CP_F{index}", expected: set[str] = expected) -> bool:
            return not expected - raw_meter_values(observer, cp_id)

        try:
            wait_until(all_raw_frames_seen, 30, "the raw frames")
        except AssertionError:
            lost = sorted(expected - raw_meter_values(observer, f"CP_F{index}"), key=int)
            raise AssertionError(f"raw frames lost of CP_F{index}: {lost}") from None


def raw_meter_values(observer: Observer, cp_id: str) -> set[str]:
    """The energy values of the MeterValues (2.0.1: and TransactionEvent) frames of one charge point
    on raw_message_to_db, as text."""
    frames = [m.payload["payload"]["raw_message"] for m in observer.on("raw_message_to_db")]
    values = set()
    for frame in frames:
        if frame["charge_point_id"] != cp_id or not frame["frame"].startswith("[2,"):
            continue
        message = json.loads(frame["frame"])
        if message[2] in ("MeterValues", "TransactionEvent") and message[3].get("meterValue"):
            values.add(str(message[3]["meterValue"][0]["sampledValue"][0]["value"]))
    return values


@pytest.mark.parametrize("program", ["bridge", "rawlogger"])
def test_killing_a_consumer_disconnects_nobody_and_loses_nothing(
    site: tuple[Broker, Connector, Observer], program: str
) -> None:
    _, connector, observer = site
    senders = run_with_fault(connector, observer, kill(connector, program))
    assert [sender.unanswered for sender in senders] == [0] * CHARGE_POINTS
    assert [sender.reconnects for sender in senders] == [0] * CHARGE_POINTS
    assert_nothing_lost(connector, observer, senders)


def test_killing_the_gateway_loses_nothing_it_answered(site: tuple[Broker, Connector, Observer]) -> None:
    _, connector, observer = site
    senders = run_with_fault(connector, observer, kill(connector, "gateway"))
    assert all(sender.reconnects >= 1 for sender in senders)
    assert port_open(connector.ocpp_port)
    assert_nothing_lost(connector, observer, senders)


@pytest.mark.parametrize("downtime", [0.0, 5.0], ids=["restart", "outage"])
def test_a_broker_restart_or_outage_loses_nothing(site: tuple[Broker, Connector, Observer], downtime: float) -> None:
    broker, connector, observer = site
    senders = run_with_fault(connector, observer, broker_restart(broker, downtime))
    assert [sender.unanswered for sender in senders] == [0] * CHARGE_POINTS
    assert_nothing_lost(connector, observer, senders)
    # Heartbeats resume after the broker is back.
    beat = observer.wait_for("heartbeat", lambda p: p["this_heartbeats_timestamp"] > time.time() * 1000 - 1500, 10)
    assert beat["next_heartbeats_timestamp"] > beat["this_heartbeats_timestamp"]
    # Actuator values written after the broker is back work (subscriptions were renewed).
    asyncio.run(reset_after_the_broker_is_back(connector, observer))


async def reset_after_the_broker_is_back(connector: Connector, observer: Observer) -> None:
    async with SimulatedChargePoint(connector.url, "CP_F0") as cp:
        await cp.boot()
        topic = f"{connector.name}/actuator/reset"
        key = "CP_F0__execute_reset"
        mapping = {"sensor": {f"{key}__result": f"{connector.name}/result/reset"}, "actuator": {topic: key}}
        await asyncio.to_thread(observer.publish, "datapoint_map", mapping, 2, True)
        expected = "Datapoint map: 1 sensors, 1 actuators mapped"
        await asyncio.to_thread(observer.wait_for, "logs", lambda p: p["msg"] == expected)
        observer.client.publish(topic, json.dumps({"value": "Soft", "timestamp": 0}))
        assert await cp.wait_for_call("Reset") == [{"type": "Soft"}]
        result = await asyncio.to_thread(observer.wait_for, "result/reset")
        assert result["value"] == "Accepted"


def niceness(pid: int) -> int:
    """Field 19 of /proc/<pid>/stat (after the parenthesised command name)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_consumers_yield_the_cpu_to_the_gateway(site: tuple[Broker, Connector, Observer]) -> None:
    """Charge points wait for the gateway; the bridge and the raw logger work from the journal."""
    from common.process import BACKGROUND_NICENESS

    _, connector, _ = site
    pids = wait_until(lambda: len(connector.child_pids()) == 3 and connector.child_pids(), 20, "all three processes")
    gateway = niceness(pids["gateway"])
    lowered = min(19, gateway + BACKGROUND_NICENESS)
    # each lowers its own priority as it starts, after its imports: a moment after its pid exists
    wait_until(
        lambda: niceness(pids["bridge"]) == niceness(pids["rawlogger"]) == lowered, 10, "the consumers' niceness"
    )
    assert niceness(pids["gateway"]) == gateway
