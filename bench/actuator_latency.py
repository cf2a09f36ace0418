"""Actuator latency: from an actuator value published on MQTT to the OCPP call arriving at the
charge point, with N charge points connected.

    .venv/bin/python -m bench.actuator_latency [--charge-points 100] [--samples 1000] [--rate 100]

Runs the real connector (supervisord, the repository's supervisord.conf) against a private
mosquitto on a free port. The baseline, measured in the same run on the same broker, is one MQTT
hop: a value published to a topic until a plain subscriber receives it, the floor any connector
stands on. Results go to stdout and bench/results/actuator_latency.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from websockets.asyncio.client import connect

from bench.harness import Broker, Connector, Observer, wait_until

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), platform.processor())
    cores = len([line for line in cpuinfo if line.startswith("processor")])
    return f"{cores} x {model}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


class ChargePoints:
    """N minimal charge points: boot, report connector 1, answer every call Accepted and note when
    a SetChargingProfile arrives (keyed by its limit)."""

    def __init__(self, url: str, count: int) -> None:
        self.url = url
        self.count = count
        self.arrivals: dict[float, float] = {}
        self.ready = 0
        self.all_ready = asyncio.Event()

    async def one(self, index: int, stop: asyncio.Event) -> None:
        async with connect(f"{self.url}/CP_{index}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            for unique, action, payload in (
                ("b", "BootNotification", {"chargePointVendor": "bench", "chargePointModel": "bench"}),
                ("s", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
            ):
                await ws.send(json.dumps([2, unique, action, payload]))
                await ws.recv()
            self.ready += 1
            if self.ready == self.count:
                self.all_ready.set()
            while not stop.is_set():
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                if frame[0] != 2:
                    continue
                if frame[2] == "SetChargingProfile":
                    limit = frame[3]["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
                    self.arrivals[float(limit)] = time.perf_counter()
                    await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
                elif frame[2] == "GetConfiguration":
                    key = [{"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": "Power"}]
                    await ws.send(json.dumps([3, frame[1], {"configurationKey": key}]))
                else:
                    await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))


def mqtt_client(port: int) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def baseline(port: int, samples: int, rate: float) -> list[float]:
    """One MQTT hop on the same broker: publish -> a subscriber's on_message."""
    received: dict[str, float] = {}
    subscribed = threading.Event()
    subscriber = paho.Client(CallbackAPIVersion.VERSION2)
    subscriber.on_connect = lambda client, *_: client.subscribe("bench/baseline", 2)
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.on_message = lambda _c, _u, message: received.__setitem__(message.payload.decode(), time.perf_counter())
    subscriber.connect("127.0.0.1", port)
    subscriber.loop_start()
    subscribed.wait(10)
    publisher = mqtt_client(port)
    sent: dict[str, float] = {}
    for index in range(samples):
        value = json.dumps({"value": index, "timestamp": 0})
        sent[value] = time.perf_counter()
        publisher.publish("bench/baseline", value, qos=0)
        time.sleep(1 / rate)
    wait_until(lambda: len(received) >= samples, 30, "baseline messages")
    subscriber.loop_stop()
    publisher.loop_stop()
    return [(received[key] - sent[key]) * 1000 for key in sent]


async def measure(
    connector: Connector, observer: Observer, port: int, count: int, samples: int, rate: float
) -> list[float]:
    points = ChargePoints(connector.url, count)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(points.one(index, stop)) for index in range(count)]
    await points.all_ready.wait()
    keys = [f"CP_{index}__1__execute_send_charging_profile" for index in range(count)]
    await asyncio.to_thread(observer.wait_for, "available_datapoints", lambda p: set(keys) <= set(p["actuator"]), 30)
    topics = {key: f"{connector.name}/bench/{key}" for key in keys}
    observer.publish("datapoint_map", {"sensor": {}, "actuator": {t: k for k, t in topics.items()}}, 2, True)
    expected = f"Datapoint map: 0 sensors, {count} actuators mapped"
    await asyncio.to_thread(observer.wait_for, "logs", lambda p: p["msg"] == expected, 30)
    publisher = mqtt_client(port)
    latencies = await write_limits(publisher, [topics[key] for key in keys], points, samples, rate)
    stop.set()
    await asyncio.gather(*tasks)
    publisher.loop_stop()
    return latencies


async def write_limits(
    publisher: paho.Client, topics: list[str], points: ChargePoints, samples: int, rate: float
) -> list[float]:
    """Write ``samples`` distinct limits round-robin to the actuator topics, ``rate`` a second;
    the milliseconds from each publication until its SetChargingProfile reached the charge point."""
    # Warm up: the first limit of each charge point also learns its rate unit (GetConfiguration).
    for index, topic in enumerate(topics):
        publisher.publish(topic, json.dumps({"value": 100 + index, "timestamp": 0}))
    await asyncio.to_thread(wait_until, lambda: len(points.arrivals) >= len(topics), 30, "warm-up")
    sent: dict[float, float] = {}
    for sample in range(samples):
        limit = float(10_000 + sample)
        sent[limit] = time.perf_counter()
        publisher.publish(topics[sample % len(topics)], json.dumps({"value": limit, "timestamp": 0}))
        await asyncio.sleep(1 / rate)
    await asyncio.to_thread(wait_until, lambda: all(limit in points.arrivals for limit in sent), 60, "all calls")
    return [(points.arrivals[limit] - start) * 1000 for limit, start in sent.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--charge-points", type=int, default=100)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="actuator writes per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        broker = Broker(Path(directory))
        broker.start()
        connector = Connector(Path(directory), broker.port, SEND_RAW_MESSAGE_TO_DB="")
        connector.start()
        observer = Observer(broker.port, connector.name)
        try:
            base = baseline(broker.port, args.samples, args.rate)
            run = measure(connector, observer, broker.port, args.charge_points, args.samples, args.rate)
            latencies = asyncio.run(run)
        finally:
            observer.close()
            connector.stop()
            broker.stop()
    rows = [
        ("baseline: one MQTT hop", base),
        (f"connector: MQTT value -> OCPP call, {args.charge_points} charge points", latencies),
    ]
    lines = [
        f"Actuator latency, {args.samples} writes at {args.rate:g}/s, {time.strftime('%Y-%m-%d')}",
        f"Machine: {machine()}",
        "",
        "| path | p50 ms | p99 ms | max ms | p50 ratio to baseline | p99 ratio to baseline |",
        "|---|---|---|---|---|---|",
    ]
    for name, values in rows:
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        ratio50, ratio99 = p50 / percentile(base, 0.5), p99 / percentile(base, 0.99)
        lines.append(f"| {name} | {p50:.2f} | {p99:.2f} | {max(values):.2f} | {ratio50:.1f} | {ratio99:.1f} |")
    lines.append("")
    lines.append(
        f"Command: .venv/bin/python -m bench.actuator_latency --charge-points {args.charge_points} "
        f"--samples {args.samples} --rate {args.rate:g}"
    )
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "actuator_latency.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
