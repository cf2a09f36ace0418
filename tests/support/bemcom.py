"""What the BEMCom API does, for end-to-end tests: publish a datapoint map, write actuator values,
read their results and sensor values (over a real broker, through an ``Observer``)."""

from __future__ import annotations

import json
import time
from typing import Any

from bench.harness import Observer, wait_until


class Bemcom:
    """What the BEMCom API does: publish a datapoint map, write actuator values, read results."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.name = observer.connector_name
        self.topics: dict[str, str] = {}

    def map(self, *keys: str, sensors: tuple[str, ...] = ()) -> None:
        """Map actuators (and their ``__result``s) and any further ``sensors`` (on ``sensor/{key}``)."""
        # Topics named after the keys: no retained value of an earlier test is found there.
        self.topics = {key: f"{self.name}/actuator/{key}" for key in keys}
        results = {f"{key}__result": f"{self.name}/result/{key}" for key in keys}
        mapped = results | {key: f"{self.name}/sensor/{key}" for key in sensors}
        mark = len(self.observer.on("logs"))
        self.observer.publish(
            "datapoint_map", {"sensor": mapped, "actuator": {t: k for k, t in self.topics.items()}}, 2, True
        )
        expected = f"Datapoint map: {len(mapped)} sensors, {len(keys)} actuators mapped"
        wait_until(lambda: any(m.payload["msg"] == expected for m in self.observer.on("logs")[mark:]), 10, expected)

    def result_topic(self, key: str) -> str:
        return self.topics[key].replace("/actuator/", "/result/").removeprefix(f"{self.name}/")

    def send(self, key: str, value: Any, raw: bytes | str | None = None) -> None:
        payload = raw if raw is not None else json.dumps({"value": value, "timestamp": int(time.time() * 1000)})
        self.observer.client.publish(self.topics[key], payload, qos=0).wait_for_publish(5)

    def write(self, key: str, value: Any, timeout: float = 10, raw: bytes | str | None = None) -> Any:
        """Write a value and return the outcome that appears in its __result sensor."""
        topic = self.result_topic(key)
        count = len(self.observer.on(topic))
        self.send(key, value, raw)
        wait_until(lambda: len(self.observer.on(topic)) > count, timeout, f"the result of {key}")
        return self.observer.on(topic)[count].payload["value"]
