"""BEMCom's side of the bridge, without sockets: which keys exist, which are mapped to
which topics, and what to publish for an event or a new datapoint map."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from common.bemcom_topics import Topics
from common.bus import Event
from common.mqtt import to_json
from processes.bridge.sensors import SensorValue, sensor_values

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Publication:
    topic: str
    payload: Any
    qos: int
    retain: bool


#: Sensor keys one charge point may create in a run (a charge point with 10 connectors and every
#: measurand on every phase has a few hundred).
MAX_KEYS_PER_CHARGE_POINT = 2000


_json_string = json.encoder.encode_basestring_ascii  # what json.dumps does with a str


def sensor_json(payload: dict[str, Any]) -> str:
    """A sensor value's MQTT payload as JSON text: exactly what ``common.mqtt.to_json`` makes
    of it, written directly for the usual int, finite float and string values."""
    value, timestamp = payload["value"], payload["timestamp"]
    kind = type(value)
    if type(timestamp) is int:
        if kind is int:
            return f'{{"value":{value},"timestamp":{timestamp}}}'
        if kind is str:
            return f'{{"value":{_json_string(value)},"timestamp":{timestamp}}}'
        if kind is float and math.isfinite(value):
            return f'{{"value":{value!r},"timestamp":{timestamp}}}'
    return to_json(payload)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(payload: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(payload, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{what} is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    return value


def _string_map(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{what} must be an object of strings")
    return value


class DatapointState:
    """Known keys (for ``available_datapoints``), the datapoint map and the last values."""

    SENSOR_QOS = 1  # BEMCom asks for 0; 1 lets the broker confirm delivery. Subscribers get min(both).

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.sensors: dict[str, Any] = {}
        self.actuators: dict[str, Any] = {}
        self.sensor_map: dict[str, str] = {}  # key -> topic
        self.actuator_map: dict[str, str] = {}  # topic -> key
        self.last: dict[str, SensorValue] = {}
        self._retained_ts: dict[str, int] = {}  # topic -> timestamp of the retained value
        self.dirty = False
        self._keys_per_charge_point: dict[str, int] = {}
        self._warned: set[str] = set()
        self.refused_keys = 0  # values dropped because their charge point had too many keys

    # -- keys -------------------------------------------------------------------------

    def _room_for_key(self, cp: str) -> bool:
        """Whether a charge point may add another sensor key. BEMCom never deletes datapoints,
        and a charge point that puts a counter into, say, DataTransfer message ids would
        otherwise grow the keys (and every announcement of them) without end."""
        count = self._keys_per_charge_point.get(cp, 0)
        if count >= MAX_KEYS_PER_CHARGE_POINT:
            self.refused_keys += 1
            if cp not in self._warned:
                self._warned.add(cp)
                log.error(
                    "%s reports more than %d different sensor keys; values under further new keys are dropped",
                    cp,
                    MAX_KEYS_PER_CHARGE_POINT,
                )
            return False
        self._keys_per_charge_point[cp] = count + 1
        return True

    def learn_sensor(self, key: str, example: Any) -> None:
        if key not in self.sensors:
            self.sensors[key] = example
            self.dirty = True

    def learn_actuator(self, key: str, example: Any) -> None:
        if key not in self.actuators:
            self.actuators[key] = example
            self.dirty = True

    def available_datapoints(self) -> dict[str, dict[str, Any]]:
        return {"sensor": dict(self.sensors), "actuator": dict(self.actuators)}

    def restore(self, payload: bytes) -> None:
        """Merge the retained ``available_datapoints`` of an earlier run (keys survive restarts)."""
        body = parse_json_object(payload, "available_datapoints")
        for kind, known in (("sensor", self.sensors), ("actuator", self.actuators)):
            previous = body.get(kind)
            if isinstance(previous, dict):
                for key, example in previous.items():
                    if isinstance(key, str) and key not in known:
                        known[key] = example
                        self.dirty = True

    # -- values -----------------------------------------------------------------------

    def apply_event(self, event: Event) -> list[Publication]:
        publications = []
        for value in sensor_values(event):
            if value.key not in self.sensors and not self._room_for_key(event.cp):
                continue
            publication = self.record(value)
            if publication is not None:
                publications.append(publication)
        return publications

    def record(self, value: SensorValue) -> Publication | None:
        self.learn_sensor(value.key, value.value)
        previous = self.last.get(value.key)
        if previous is None or value.timestamp >= previous.timestamp:
            self.last[value.key] = value
        topic = self.sensor_map.get(value.key)
        return None if topic is None else self._publication(topic, value)

    def _publication(self, topic: str, value: SensorValue) -> Publication:
        # A late value (older than the one retained on its topic) is still published, so
        # that BEMCom stores it, but not retained: the newest value stays the retained one.
        newest = value.timestamp >= self._retained_ts.get(topic, value.timestamp)
        if newest:
            self._retained_ts[topic] = value.timestamp
        payload = {"value": value.value, "timestamp": value.timestamp}
        return Publication(topic, payload, self.SENSOR_QOS, newest)

    # -- datapoint map ----------------------------------------------------------------

    def apply_datapoint_map(self, payload: bytes) -> tuple[list[Publication], set[str], set[str]]:
        """A new datapoint map: (values of newly mapped keys, actuator topics to subscribe,
        actuator topics to unsubscribe). Raises ValueError for a map that makes no sense."""
        body = parse_json_object(payload, "datapoint_map")
        sensor_map = _string_map(body.get("sensor", {}), "datapoint_map 'sensor'")
        actuator_map = _string_map(body.get("actuator", {}), "datapoint_map 'actuator'")
        newly_mapped = {key: topic for key, topic in sensor_map.items() if self.sensor_map.get(key) != topic}
        subscribe = set(actuator_map) - set(self.actuator_map)
        unsubscribe = set(self.actuator_map) - set(actuator_map)
        self.sensor_map = sensor_map
        self.actuator_map = actuator_map
        publications = [
            self._publication(topic, self.last[key]) for key, topic in newly_mapped.items() if key in self.last
        ]
        return publications, subscribe, unsubscribe
