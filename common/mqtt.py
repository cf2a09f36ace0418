"""The MQTT connection of a process (paho-mqtt 2, its own network thread).

Subscriptions are (re)made in the on-connect path every time, so a broker restart or a
clean session never loses them. Reconnects use paho's capped exponential backoff, with
jitter added here. Incoming messages are handed to the asyncio loop of the process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from common.settings import MqttSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MqttMessage:
    topic: str
    payload: bytes
    retain: bool


def to_json(payload: Any) -> str:
    """BEMCom parses every payload as JSON: never publish anything else (no NaN either)."""
    return json.dumps(payload, allow_nan=False, separators=(",", ":"), default=str)


class MqttLink:
    def __init__(
        self, settings: MqttSettings, client_name: str, on_message: Callable[[MqttMessage], None] | None = None
    ) -> None:
        self._settings = settings
        self._on_message = on_message
        self._subscriptions: dict[str, int] = {}
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.on_connected: Callable[[], None] | None = None
        self.on_subscribed: Callable[[str], None] | None = None
        self._pending_subscribes: dict[int, list[str]] = {}
        self._stopping = False
        client_id = f"{client_name}-{uuid.uuid4().hex[:8]}"
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if settings.username is not None:
            self.client.username_pw_set(settings.username, settings.password)
        if settings.tls_ca_file is not None:
            self.client.tls_set(ca_certs=settings.tls_ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(settings.reconnect_max_delay)))
        self.client.max_inflight_messages_set(20)  # mosquitto's default limit per client
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_message = self._handle_message
        self.client.on_subscribe = self._handle_subscribe

    def start(self) -> None:
        self.client.connect_async(self._settings.host, self._settings.port, keepalive=self._settings.keepalive)
        self.client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()

    def subscribe(self, topic: str, qos: int) -> None:
        with self._lock:
            if self._subscriptions.get(topic) == qos:
                return
            self._subscriptions[topic] = qos
        if self.connected.is_set():
            self._subscribe([(topic, qos)])

    def unsubscribe(self, topic: str) -> None:
        with self._lock:
            if self._subscriptions.pop(topic, None) is None:
                return
        if self.connected.is_set():
            self.client.unsubscribe(topic)

    def _subscribe(self, topics: list[tuple[str, int]]) -> None:
        for start in range(0, len(topics), 100):
            chunk = topics[start : start + 100]
            result, mid = self.client.subscribe(chunk)
            if result == paho.MQTT_ERR_SUCCESS and mid is not None:
                self._pending_subscribes[mid] = [topic for topic, _ in chunk]

    def publish(self, topic: str, payload: Any, qos: int = 0, retain: bool = False) -> paho.MQTTMessageInfo | None:
        if self._stopping:
            return None
        return self.client.publish(topic, to_json(payload), qos=qos, retain=retain)

    def _handle_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            # 134/135: MQTT 5 codes, also paho's for MQTT 3.1.1's "bad user name or password"/"not authorised"
            hint = " (check MQTT_USERNAME and MQTT_PASSWORD)" if reason.value in (134, 135) else ""
            log.warning(
                "MQTT broker %s:%d refused the connection: %s%s; retrying",
                self._settings.host,
                self._settings.port,
                reason,
                hint,
            )
            return
        log.info("Connected to the MQTT broker %s:%d", self._settings.host, self._settings.port)
        with self._lock:
            topics = list(self._subscriptions.items())
        self.connected.set()
        if topics:
            self._subscribe(topics)
        if self.on_connected is not None:
            self.on_connected()

    def _handle_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        # paho's backoff doubles up to max_delay; spread reconnects of many connectors.
        jitter = random.random()  # noqa: S311 - jitter, not cryptography
        client.reconnect_delay_set(min_delay=1 + jitter, max_delay=max(1, int(self._settings.reconnect_max_delay)))  # type: ignore[arg-type]
        if was_connected and not self._stopping:
            log.warning(
                "Lost the MQTT broker %s:%d (%s); reconnecting", self._settings.host, self._settings.port, reason
            )

    def _handle_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        topics = self._pending_subscribes.pop(mid, [])
        if self.on_subscribed is not None:
            for topic in topics:
                self.on_subscribed(topic)

    def _handle_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if self._on_message is not None:
            self._on_message(MqttMessage(message.topic, bytes(message.payload), bool(message.retain)))


def thread_to_loop(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]) -> Callable[[Any], None]:
    """A callback for paho's thread that hands its argument to an asyncio queue."""

    def forward(item: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    return forward
