"""End to end, sensor side: charge points over real websockets, the connector under
supervisord, a real mosquitto; assertions on what BEMCom sees on MQTT."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.harness import Broker, Connector, Observer, port_open, wait_until
from tests.support.chargepoint import SimulatedChargePoint

pytestmark = pytest.mark.e2e

# Meter timestamps a little ahead, so that they are the newest values of their keys.
T1_MS = (int(time.time()) + 3600) * 1000  # an hour ahead: newer than anything a test run sends
T1 = datetime.fromtimestamp(T1_MS / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
T2_MS = T1_MS + 15500
T2 = datetime.fromtimestamp(T2_MS / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.500Z")


def value_topic(connector: Connector, number: int) -> str:
    return f"{connector.name}/messages/{number}/value"


def test_heartbeats_and_logs_reach_bemcom(connector: Connector, observer: Observer) -> None:
    beats = [observer.wait_for("heartbeat", timeout=10)]
    beats.append(
        observer.wait_for("heartbeat", lambda p: p["this_heartbeats_timestamp"] > beats[0]["this_heartbeats_timestamp"])
    )
    for beat in beats:
        assert beat["next_heartbeats_timestamp"] - beat["this_heartbeats_timestamp"] == 1000
    log_entry = observer.wait_for("logs")
    assert set(log_entry) == {"timestamp", "msg", "emitter", "level"}
    assert isinstance(log_entry["emitter"], str) and isinstance(log_entry["level"], int)


def test_two_charge_points_report_under_their_own_keys(connector: Connector, observer: Observer) -> None:
    async def scenario() -> None:
        async with (
            SimulatedChargePoint(connector.url, "CP_1") as cp1,
            SimulatedChargePoint(connector.url, "site.CP 2") as cp2,
        ):
            boot = await cp1.boot(firmwareVersion="1.2.3")
            assert boot["status"] == "Accepted" and boot["interval"] == 300
            await cp2.boot()
            await cp1.status(1, "Preparing")
            await cp2.status(2, "Charging", info="fine")
            tx = await cp1.start_transaction(1, "TAG_A", meter_start=1000)
            await cp1.meter_values(
                1,
                [
                    {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
                    {"value": "16.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                    {"value": "1.2345", "unit": "kWh"},
                ],
                transaction_id=tx,
                timestamp=T1,
            )
            await cp2.meter_values(
                2,
                [{"value": "230.5", "measurand": "Voltage", "phase": "L2-N", "unit": "V", "location": "Inlet"}],
                timestamp=T1,
            )

            keys = {
                "CP_1__connected",
                "CP_1__BootNotification__firmware_version",
                "CP_1__1__StatusNotification__status",
                "CP_1__1__transaction__id",
                "CP_1__1__Power.Active.Import__W",
                "CP_1__1__Current.Import__L1__A",
                "CP_1__1__Energy.Active.Import.Register__Wh",
                "site.CP 2__2__StatusNotification__info",
                "site.CP 2__2__Voltage__L2-N__Inlet__V",
                "site.CP 2__BootNotification__charge_point_vendor",
            }
            available = await asyncio.to_thread(
                observer.wait_for, "available_datapoints", lambda p: keys <= set(p["sensor"])
            )
            assert set(available) == {"sensor", "actuator"}
            assert available["sensor"]["CP_1__1__Power.Active.Import__W"] == 7400

            mapping = {
                "CP_1__1__Power.Active.Import__W": value_topic(connector, 1),
                "CP_1__1__Energy.Active.Import.Register__Wh": value_topic(connector, 2),
                "site.CP 2__2__Voltage__L2-N__Inlet__V": value_topic(connector, 3),
                "CP_1__1__transaction__id": value_topic(connector, 4),
                "site.CP 2__2__StatusNotification__status": value_topic(connector, 5),
            }
            observer.publish("datapoint_map", {"sensor": mapping, "actuator": {}}, qos=2, retain=True)
            # Values received before the map was known are published once their key is mapped.
            first = await asyncio.to_thread(observer.wait_for, "messages/1/value")
            assert first == {"value": 7400, "timestamp": T1_MS}
            energy = await asyncio.to_thread(observer.wait_for, "messages/2/value")
            assert energy == {"value": 1234.5, "timestamp": T1_MS}
            assert (await asyncio.to_thread(observer.wait_for, "messages/4/value"))["value"] == tx
            assert (await asyncio.to_thread(observer.wait_for, "messages/5/value"))["value"] == "Charging"

            await cp1.meter_values(1, [{"value": "11", "measurand": "Power.Active.Import", "unit": "kW"}], timestamp=T2)
            await cp2.meter_values(
                2,
                [{"value": "231", "measurand": "Voltage", "phase": "L2-N", "unit": "V", "location": "Inlet"}],
                timestamp=T2,
            )
            assert await asyncio.to_thread(observer.wait_for, "messages/1/value", lambda p: p["value"] == 11000) == {
                "value": 11000,
                "timestamp": T2_MS,
            }
            assert await asyncio.to_thread(observer.wait_for, "messages/3/value", lambda p: p["value"] == 231) == {
                "value": 231,
                "timestamp": T2_MS,
            }

    asyncio.run(scenario())
    # Unmapped keys are never published; every mapped topic got exactly what was sent.
    topics = {message.topic for message in observer.messages}
    assert not any(topic.endswith("messages/6/value") for topic in topics)
    powers = [m.payload["value"] for m in observer.on("messages/1/value")]
    assert powers == [7400, 11000]


def test_raw_frames_go_to_bemcom_in_both_directions(connector: Connector, observer: Observer) -> None:
    async def scenario() -> None:
        async with SimulatedChargePoint(connector.url, "CP_RAW") as cp:
            await cp.boot()
            await cp.heartbeat()

    asyncio.run(scenario())

    def own(found: list[Any]) -> list[Any]:
        """The charge point's calls and their answers (onboarding's calls and answers are more)."""
        frames = [json.loads(r.payload["payload"]["raw_message"]["frame"]) for r in found]
        ids = {frame[1] for frame in frames if frame[0] == 2 and frame[2] in ("BootNotification", "Heartbeat")}
        return [r for r, frame in zip(found, frames, strict=True) if frame[1] in ids]

    raw = wait_until(
        lambda: (lambda found: found if len(found) >= 4 else None)(own(observer.on("raw_message_to_db"))),
        10,
        "4 raw frames",
    )
    messages = [r.payload for r in raw]
    assert {m["connector_version"] for m in messages} == {connector_version()}
    directions = [m["payload"]["raw_message"]["direction"] for m in messages]
    assert directions == ["from_charge_point", "to_charge_point", "from_charge_point", "to_charge_point"]
    assert '"BootNotification"' in messages[0]["payload"]["raw_message"]["frame"]
    assert all(m["payload"]["raw_message"]["charge_point_id"] == "CP_RAW" for m in messages)
    assert all(not r.retain for r in raw)


def test_without_raw_logging_frames_stay_on_the_bus_but_out_of_the_journal(tmp_path: Path, broker: Broker) -> None:
    """SEND_RAW_MESSAGE_TO_DB unset (the default): nothing on raw_message_to_db, the gateway
    journals only events (nothing would ever replay raw frames), and builds raw frames only while
    a bus tap subscribes to them (busctl tail); the tap then gets them."""
    import sqlite3

    import zmq

    from common.bus import ALIVE_TOPIC, RAW_PREFIX, GatewayAlive, RawFrame, decode

    connector = Connector(tmp_path, broker.port, SEND_RAW_MESSAGE_TO_DB="")
    connector.start()
    observer = Observer(broker.port, connector.name)
    context = zmq.Context()
    alive = context.socket(zmq.SUB)
    tap = context.socket(zmq.SUB)

    async def talk(cp_id: str) -> None:
        async with SimulatedChargePoint(connector.url, cp_id) as cp:
            await cp.boot()
            await cp.heartbeat()

    def next_raw_head() -> int:
        """The raw head of the next gateway.alive (sent every 0.2 s): of one sent after now."""
        while alive.poll(0):  # the queued ones were sent earlier
            alive.recv_multipart()
        while True:
            assert alive.poll(10_000), "no gateway.alive for 10 s"
            message = decode(alive.recv_multipart())
            if isinstance(message, GatewayAlive):
                return int(message.heads.get("raw", 0))

    async def talk_until_tapped() -> None:
        """Probe charge points talk until the tap gets a raw frame: the gateway has seen the tap
        (it reads subscriptions every BUS_HEARTBEAT_INTERVAL, 0.2 s here)."""
        deadline = time.monotonic() + 10
        probe = 0
        while not tap.poll(100):
            assert time.monotonic() < deadline, "the gateway built no raw frame for the tap within 10 s"
            probe += 1
            await talk(f"CP_PROBE_{probe}")

    try:
        alive.setsockopt(zmq.SUBSCRIBE, ALIVE_TOPIC)
        alive.connect(connector.env["BUS_EVENTS_ENDPOINT"])
        asyncio.run(talk("CP_UNTAPPED"))
        observer.wait_for("available_datapoints", lambda p: "CP_UNTAPPED" in str(p))
        assert next_raw_head() == 0  # no tap: no raw frame was even built

        tap.setsockopt(zmq.SUBSCRIBE, RAW_PREFIX)
        tap.connect(connector.env["BUS_EVENTS_ENDPOINT"])
        asyncio.run(talk_until_tapped())
        asyncio.run(talk("CP_TAPPED"))
        frames = []
        own: set[str] = set()  # the charge point's calls (onboarding's calls and answers are frames too)
        while tap.poll(2000):
            message = decode(tap.recv_multipart())
            assert isinstance(message, RawFrame)
            if message.cp.startswith("CP_PROBE_"):
                continue
            frame = json.loads(message.frame)
            if frame[0] == 2 and frame[2] in ("BootNotification", "Heartbeat"):
                own.add(frame[1])
            if frame[1] in own:
                frames.append((message.cp, message.direction))
            if len(frames) == 4:
                break
        assert frames == [("CP_TAPPED", direction) for direction in ("in", "out", "in", "out")]
        database = sqlite3.connect(connector.env["JOURNAL_PATH"])
        streams = {
            stream: database.execute(f"SELECT COUNT(*) FROM journal_{stream}").fetchone()[0]  # noqa: S608
            for stream in ("event", "raw")
        }
        database.close()
        assert streams.get("raw", 0) == 0 and streams["event"] >= 6  # Connected, BootNotification, Heartbeat x 2
        assert observer.on("raw_message_to_db") == []
    finally:
        tap.close(0)
        alive.close(0)
        context.term()
        observer.close()
        connector.stop()


def connector_version() -> str:
    from common import __version__

    return __version__


def test_keys_survive_a_bridge_restart_and_nothing_is_lost(
    broker: Broker, connector: Connector, observer: Observer
) -> None:
    async def scenario() -> None:
        async with SimulatedChargePoint(connector.url, "CP_R") as cp:
            await cp.boot()
            await cp.meter_values(1, [{"value": "1", "measurand": "Power.Active.Import", "unit": "W"}], timestamp=T1)
            await asyncio.to_thread(
                observer.wait_for, "available_datapoints", lambda p: "CP_R__1__Power.Active.Import__W" in p["sensor"]
            )
            observer.publish(
                "datapoint_map",
                {"sensor": {"CP_R__1__Power.Active.Import__W": value_topic(connector, 1)}, "actuator": {}},
                qos=2,
                retain=True,
            )
            await asyncio.to_thread(observer.wait_for, "messages/1/value")
            bridge = connector.child_pids()["bridge"]
            os.kill(bridge, signal.SIGKILL)
            # While the bridge is down, the charge point is still answered.
            await cp.meter_values(1, [{"value": "2", "measurand": "Power.Active.Import", "unit": "W"}], timestamp=T2)
            await cp.heartbeat()
            await asyncio.to_thread(
                wait_until, lambda: connector.child_pids().get("bridge") not in (None, bridge), 20, "a new bridge"
            )
            assert cp.connected
            # What was answered while the bridge was down arrives, with its meter timestamp.
            late = await asyncio.to_thread(observer.wait_for, "messages/1/value", lambda p: p["value"] == 2, 20)
            assert late["timestamp"] == T2_MS

    asyncio.run(scenario())
    # A new subscriber gets the retained available_datapoints of the new bridge: old keys are in it.
    fresh = Observer(broker.port, connector.name)
    try:
        after = fresh.wait_for("available_datapoints", lambda p: "CP_R__1__Power.Active.Import__W" in p["sensor"], 15)
    finally:
        fresh.close()
    assert "CP_R__BootNotification__charge_point_vendor" in after["sensor"]


def test_transaction_ids_stay_unique_across_gateway_restarts(connector: Connector, observer: Observer) -> None:
    async def scenario() -> None:
        cp = SimulatedChargePoint(connector.url, "CP_T")
        await cp.connect()
        await cp.boot()
        first = await cp.start_transaction(1, "TAG", meter_start=100)
        gateway = connector.child_pids()["gateway"]
        os.kill(gateway, signal.SIGKILL)
        await asyncio.to_thread(wait_until, lambda: not cp.connected, 10, "the charge point to notice")
        await asyncio.to_thread(
            wait_until, lambda: connector.child_pids().get("gateway") not in (None, gateway), 20, "a new gateway"
        )
        await cp.close()
        await asyncio.to_thread(wait_until, lambda: _connects(connector), 20, "the gateway to listen again")
        await cp.connect()
        second = await cp.start_transaction(2, "TAG", meter_start=500)
        assert second != first
        # Stopping the first transaction after the restart still finds its connector and meter start.
        await cp.stop_transaction(first, meter_stop=2600)
        await cp.close()

    asyncio.run(scenario())
    available = observer.wait_for("available_datapoints", lambda p: "CP_T__1__transaction__energy" in p["sensor"], 20)
    assert available["sensor"]["CP_T__1__transaction__energy"] == 2500


def _connects(connector: Connector) -> bool:
    return port_open(connector.ocpp_port)


def test_a_bad_setting_stops_its_process_with_a_clear_message(tmp_path: Path, broker: Broker) -> None:
    connector = Connector(tmp_path, broker.port, OCPP_PORT="nine thousand", MQTT_BROKER_PORT="x")
    connector.start(wait=False)
    try:
        wait_until(lambda: "gateway entered FATAL state" in connector.output(), 30, "the gateway to be marked FATAL")
        output = connector.output()
        assert "OCPP_PORT='nine thousand' is invalid: expected an integer from 1 to 65535" in output
        assert "MQTT_BROKER_PORT='x' is invalid" in output
        # Tried startretries (3) + 1 times with back-off, then left alone: no tight loop.
        assert output.count("gateway: not started (exit code 78)") == 4
    finally:
        connector.stop()
