"""The bridge: gateway events -> BEMCom datapoints on MQTT, actuator values -> gateway commands."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import zmq.asyncio
from paho.mqtt.client import MQTTMessageInfo

from common.bemcom_topics import Topics
from common.bus import CONNECTED, EVENT_STREAM, LOG_PREFIX, ONBOARDED, Event, LogEntry, Message, SequencedMessage
from common.command_client import CommandClient
from common.consumer import StreamConsumer
from common.delivery import DeliveryTracker
from common.health import record_mqtt_alive
from common.logs import now_ms
from common.mqtt import MqttLink, MqttMessage
from common.process import run_until_stopped
from common.schemas import V201
from common.settings import BridgeSettings
from processes.bridge.actuators.limits_fit import EFFECTIVE_LIMIT
from processes.bridge.actuators.runner import ActuatorRunner
from processes.bridge.actuators.table import RESULT_SUFFIX, ActuatorKey, actuator_keys, parse_actuator_key
from processes.bridge.datapoint_state import DatapointState, Publication, parse_json_object, sensor_json
from processes.bridge.limits import METER_KINDS, LimitWatch
from processes.bridge.sensors import SensorValue, join_key

log = logging.getLogger(__name__)

#: Seconds a stop waits for the broker to confirm the values in flight (within the stop deadline).
SETTLE_AT_STOP = 0.4

#: How long to wait for the retained ``available_datapoints`` of an earlier run after the
#: broker confirmed the subscription, before publishing (a broker sends it right away).
RESTORE_GRACE = 1.0
# Events are consumed only once the retained datapoint map is known (or known to be absent):
# values handled before would be acknowledged without being published.
#: Seconds between the bridge's "BEMCom is in reach" to the gateway (the failsafe's heartbeat).
IN_REACH_INTERVAL = 1.0

#: Coalesce announcements of new keys (many appear at once when charge points connect).
ANNOUNCE_INTERVAL = 0.2


class Bridge:
    def __init__(self, settings: BridgeSettings, context: zmq.asyncio.Context) -> None:
        self.settings = settings
        self.topics = Topics(settings.connector_name)
        self.state = DatapointState(self.topics)
        self._loop = asyncio.get_running_loop()
        self._connected = asyncio.Event()
        self.restored = asyncio.Event()
        self.map_known = asyncio.Event()
        # paho runs in this loop (common/mqtt/link.py): its callbacks come in the loop's thread.
        self.mqtt = MqttLink(settings.mqtt, f"{settings.connector_name}-bridge", self._on_message)
        self.mqtt.on_connected = self._connected.set
        self.mqtt.on_subscribed = self._subscribed
        self.client = CommandClient(context, settings.bus.commands_endpoint, settings.bus.request_timeout)
        self.tracker = DeliveryTracker(settings.mqtt.max_pending, self.mqtt)
        self.consumer = StreamConsumer(
            context,
            settings.bus,
            self.client,
            EVENT_STREAM,
            "bridge",
            self._on_event,
            other_prefixes=(LOG_PREFIX,),
            handle_other=self._on_other,
            delivered=self.tracker.advance,
        )
        self.runner = ActuatorRunner(
            self.client,
            settings.call_timeout,
            settings.charging_voltage,
            settings.charging_phases,
            self._on_outcome,
            observer=self,
            lease_seconds=settings.failsafe.lease if settings.failsafe.power is not None else None,
            # Kept only where the failsafe restores and renews them (written once per accepted limit).
            state_path=(
                Path(settings.journal_path).parent / "bridge-limits.json"
                if settings.failsafe.power is not None
                else None
            ),
        )
        self.limits = LimitWatch(settings.limit_grace)
        self.connectors: dict[str, set[int]] = {}
        self.mqtt.subscribe(self.topics.available_datapoints, 1)
        self.mqtt.subscribe(self.topics.datapoint_map, 1)

    # -- MQTT out ---------------------------------------------------------------------

    def publish(self, publication: Publication) -> MQTTMessageInfo | None:
        return self.mqtt.publish(publication.topic, publication.payload, publication.qos, publication.retain)

    def publish_log(self, ts: int, level: int, msg: str, emitter: str) -> None:
        """BEMCom's log topic; called from any thread (MqttLink.publish may be)."""
        self.mqtt.publish(self.topics.logs, {"timestamp": ts, "msg": msg, "emitter": emitter, "level": level}, 0, True)

    async def _on_event(self, message: SequencedMessage) -> None:
        await self.tracker.wait_for_room()
        mqtt = self.mqtt
        serial = mqtt.last_serial
        if isinstance(message, Event):
            self._learn_charge_point(message)
            if message.kind == ONBOARDED:
                self._read_back_after_boot(message)
            elif message.kind == "Failsafe" and message.payload.get("active") is False:
                self.runner.restore(message.cp)  # BEMCom is back: its last limits again
            publications = self.state.apply_event(message)
            # limit_obeyed: 1.6 MeterValues; 2.0.1 MeterValues and TransactionEvent (its EVSE from the event).
            if message.kind in METER_KINDS and self.limits.watching(message.cp):
                connector = message.ctx.get("connector_id", message.payload.get("connector_id"))
                judged = self.limits.judge(message, connector if isinstance(connector, int) else None)
                publications += [p for value in judged if (p := self.state.record(value)) is not None]
            for publication in publications:  # QoS 1: the broker confirms each
                serial = mqtt.publish_confirmed_json(
                    publication.topic, sensor_json(publication.payload), publication.retain
                )
        self.tracker.record(message.run, message.seq, serial)

    def _learn_charge_point(self, event: Event) -> None:
        """Offer the actuators of a charge point as soon as it is known, and of each connector it
        reports (onboarding: every connector it has, at once)."""
        if event.kind in {"BootNotification", CONNECTED}:
            self.runner.forget(event.cp)
        if event.kind == CONNECTED:  # its protocol version: the plans of its actuator writes
            self.runner.protocol_changed(event.cp, event.payload.get("protocol"))
        connectors = self.connectors.get(event.cp)
        if event.ctx.get("ocpp") == V201:  # {c} is the EVSE (its connector_id counts within it)
            connector = event.ctx.get("evse_id", event.payload.get("evse_id"))
        else:
            connector = event.ctx.get("connector_id", event.payload.get("connector_id"))
        reported = event.ctx.get("connectors")
        new = [connector] if isinstance(connector, int) and connector >= 0 else []
        if isinstance(reported, list):
            new += [item for item in reported if isinstance(item, int) and 0 <= item <= 1000]
        if connectors is not None and all(item in connectors for item in new):
            return
        connectors = self.connectors.setdefault(event.cp, set())
        connectors.update(new)
        for key, example in actuator_keys(event.cp, connectors, self.settings.actuator_kinds).items():
            self.state.learn_actuator(key, example)
            self.state.learn_sensor(key + RESULT_SUFFIX, "Accepted")
        if "execute_send_charging_profile" in self.settings.actuator_kinds:
            for number in {0, *connectors}:
                self.state.learn_sensor(join_key(event.cp, number, EFFECTIVE_LIMIT), 11000)
                self.state.learn_sensor(join_key(event.cp, number, "limit_obeyed"), True)

    def _read_back_after_boot(self, event: Event) -> None:
        """After a boot (its onboarding pass): the limit each connector has in force."""
        if "execute_send_charging_profile" in self.settings.actuator_kinds:
            self.runner.read_back_after_boot(event.cp, self.connectors.get(event.cp, set()))

    # -- limits (the runner's LimitObserver) ----------------------------------------------

    def limit_accepted(self, cp: str, connector: int, watts: float | None) -> None:
        self.limits.accepted(cp, connector, watts, now_ms())

    def limit_read_back(self, cp: str, connector: int, values: dict[str, Any]) -> None:
        now = now_ms()
        if EFFECTIVE_LIMIT in values:
            watts = values[EFFECTIVE_LIMIT]
            self.limits.read_back(cp, connector, watts if isinstance(watts, int | float) else None, now)
        for suffix, value in values.items():
            publication = self.state.record(SensorValue(join_key(cp, connector, suffix), value, now))
            if publication is not None:
                self.publish(publication)

    def _on_outcome(self, actuator: ActuatorKey, outcome: str, configuration: dict[str, str]) -> None:
        now = now_ms()
        values = [SensorValue(actuator.key + RESULT_SUFFIX, outcome, now)]
        values += [
            SensorValue(join_key(actuator.cp, "configuration", key), text, now) for key, text in configuration.items()
        ]
        for value in values:
            publication = self.state.record(value)
            if publication is not None:
                self.publish(publication)

    async def _on_other(self, message: Message) -> None:
        if isinstance(message, LogEntry):
            self.publish_log(message.ts, message.level, f"{message.process}: {message.msg}", message.emitter)

    # -- MQTT in ----------------------------------------------------------------------

    def _subscribed(self, topic: str) -> None:
        if topic == self.topics.available_datapoints and not self.restored.is_set():
            self._loop.call_later(RESTORE_GRACE, self._finish_restore)
        if topic == self.topics.datapoint_map and not self.map_known.is_set():
            self._loop.call_later(RESTORE_GRACE, self.map_known.set)

    def _finish_restore(self) -> None:
        if not self.restored.is_set():
            self.restored.set()
            self.state.dirty = True
            self.mqtt.unsubscribe(self.topics.available_datapoints)
            log.info("Known datapoints: %d sensors, %d actuators", len(self.state.sensors), len(self.state.actuators))

    def _on_message(self, message: MqttMessage) -> None:
        """paho's on_message (in the loop's thread): a bad message is logged, never raised into paho."""
        try:
            self._on_mqtt(message)
        except ValueError as error:
            log.error("Ignored a message on %s: %s", message.topic, error)
        except Exception:
            log.exception("Failed to handle a message on %s", message.topic)

    def _on_mqtt(self, message: MqttMessage) -> None:
        if message.topic == self.topics.datapoint_map:
            publications, subscribe, unsubscribe = self.state.apply_datapoint_map(message.payload)
            for topic in unsubscribe:
                self.mqtt.unsubscribe(topic)
            for topic in subscribe:
                self.mqtt.subscribe(topic, 2)
            for publication in publications:
                self.publish(publication)
            self.map_known.set()
            log.info(
                "Datapoint map: %d sensors, %d actuators mapped",
                len(self.state.sensor_map),
                len(self.state.actuator_map),
            )
        elif message.topic == self.topics.available_datapoints:
            if not self.restored.is_set() and message.retain:
                self.state.restore(message.payload)
                self._finish_restore()
        elif message.topic in self.state.actuator_map:
            if (
                message.retain
            ):  # BEMCom never retains actuator values; a retained one would run again at every reconnect
                raise ValueError("a retained actuator value is not carried out (it would run again at every reconnect)")
            self.on_actuator_value(message.topic, message.payload)
        else:
            log.warning("Ignored a message on %s: not a topic of the datapoint map", message.topic)

    def on_actuator_value(self, topic: str, payload: bytes) -> None:
        key = self.state.actuator_map[topic]
        actuator = parse_actuator_key(key)
        if actuator is None or actuator.kind not in self.settings.actuator_kinds:
            raise ValueError(f"{key} is not an actuator of this connector (see OCPP_CONFIG)")
        try:
            message = parse_json_object(payload, f"the value for {key}")
            if "value" not in message:
                raise ValueError(f'the message for {key} has no "value"')
        except ValueError as error:
            self._on_outcome(actuator, f"InvalidValue: {error}", {})
            raise
        self.runner.submit(actuator, message["value"])

    # -- loops ------------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        interval = self.settings.bemcom_heartbeat_interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), interval)
            if self._connected.is_set():  # (re)connected: a broker restarted without persistence
                self._connected.clear()  # lost the retained available_datapoints; send it again
                self.state.dirty = True
            now = now_ms()
            heartbeat = {"this_heartbeats_timestamp": now, "next_heartbeats_timestamp": now + int(interval * 1000)}
            self.mqtt.publish(self.topics.heartbeat, heartbeat, 0, False)
            if self.mqtt.connected.is_set():
                try:
                    record_mqtt_alive(now)
                except OSError as error:
                    log.warning("Could not write the health file: %s", error)

    async def _in_reach(self) -> None:
        """Tell the gateway every second that BEMCom is in reach (connected to the broker): the
        failsafe (OCPP_FAILSAFE_POWER) goes in force when this stops."""
        while True:
            await asyncio.sleep(IN_REACH_INTERVAL)
            if self.mqtt.connected.is_set():
                await self.client.request("bemcom_alive", {}, IN_REACH_INTERVAL)

    async def _announce(self) -> None:
        await self.restored.wait()
        pause = ANNOUNCE_INTERVAL
        while True:
            if self.state.dirty:
                self.state.dirty = False
                started = time.perf_counter()
                self.mqtt.publish(self.topics.available_datapoints, self.state.available_datapoints(), 1, True)
                # The whole object is sent each time: with thousands of charge points it is megabytes,
                # so announce at most once per 20 times what one announcement costs.
                pause = max(ANNOUNCE_INTERVAL, 20 * (time.perf_counter() - started))
            await asyncio.sleep(pause)

    async def _consume(self) -> None:
        await self.map_known.wait()
        await self.consumer.serve()

    async def serve(self, stop: asyncio.Event) -> None:
        settings = self.settings
        self.mqtt.start()
        log.info(
            "Bridge: MQTT %s:%d as %r, events from %s, commands to %s",
            settings.mqtt.host,
            settings.mqtt.port,
            settings.connector_name,
            settings.bus.events_endpoint,
            settings.bus.commands_endpoint,
        )
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(self._consume(), name="events"),
            asyncio.create_task(self._heartbeats(), name="heartbeats"),
            asyncio.create_task(self._announce(), name="announce"),
            asyncio.create_task(self._in_reach(), name="in-reach"),
        ]
        if self.runner.lease_seconds is not None:
            tasks.append(asyncio.create_task(self.runner.renew_leases(self.mqtt.connected.is_set), name="leases"))
        try:
            await run_until_stopped(stop, tasks)
        finally:
            await self._close()

    async def _close(self) -> None:
        await self.runner.close()
        await self.tracker.settle(SETTLE_AT_STOP)  # a graceful restart publishes nothing twice
        await self.consumer.flush_ack()
        await self.client.close()
        self.mqtt.stop()
