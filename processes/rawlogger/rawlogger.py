"""Raw frames from the bus -> ``CN/raw_message_to_db`` (when SEND_RAW_MESSAGE_TO_DB=TRUE).

With QoS 2, as BEMCom's contract says (exactly once into its database), on a session the broker
keeps under the fixed client id ``CN-rawlogger`` (common/mqtt/link.py, exactly_once.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import zmq.asyncio

from common import __version__
from common.bemcom_topics import Topics
from common.bus import INBOUND, RAW_STREAM, RawFrame, SequencedMessage
from common.command_client import CommandClient
from common.consumer import StreamConsumer
from common.delivery import DeliveryTracker, NoPublications
from common.mqtt import MqttLink
from common.process import run_until_stopped
from common.settings import RawLoggerSettings

log = logging.getLogger(__name__)

#: Seconds a stop waits for the broker to complete the raw messages in flight (within the stop
#: deadline of common/process.py), so that a graceful restart publishes none of them twice.
SETTLE_AT_STOP = 0.4


def raw_message(frame: RawFrame) -> dict[str, Any]:
    """BEMCom's raw message wrapper; the raw message names its charge point and direction."""
    return {
        "payload": {
            "raw_message": {
                "charge_point_id": frame.cp,
                "direction": "from_charge_point" if frame.direction == INBOUND else "to_charge_point",
                "frame": frame.frame,
            },
            "timestamp": frame.ts,
        },
        "connector_version": __version__,
    }


class RawLogger:
    def __init__(self, settings: RawLoggerSettings, context: zmq.asyncio.Context) -> None:
        self.settings = settings
        self.topics = Topics(settings.connector_name)
        self.mqtt = (
            MqttLink(settings.mqtt, f"{settings.connector_name}-rawlogger", confirmed_qos=2, persistent_session=True)
            if settings.send_raw_message_to_db
            else None
        )
        self.client = CommandClient(context, settings.bus.commands_endpoint, settings.bus.request_timeout)
        self.tracker = DeliveryTracker(settings.mqtt.max_pending, self.mqtt or NoPublications())
        self.consumer = StreamConsumer(
            context, settings.bus, self.client, RAW_STREAM, "rawlogger", self._on_frame, delivered=self.tracker.advance
        )

    def publish_log(self, ts: int, level: int, msg: str, emitter: str) -> None:
        if self.mqtt is not None:
            payload = {"timestamp": ts, "msg": f"rawlogger: {msg}", "emitter": emitter, "level": level}
            self.mqtt.publish(self.topics.logs, payload, 0, True)

    async def _on_frame(self, message: SequencedMessage) -> None:
        await self.tracker.wait_for_room()
        if self.mqtt is not None:
            serial = self.mqtt.last_serial
            if isinstance(message, RawFrame):  # QoS 2: confirmed at its PUBCOMP
                serial = self.mqtt.publish_confirmed(self.topics.raw_message_to_db, raw_message(message))
            self.tracker.record(message.run, message.seq, serial)

    async def serve(self, stop: asyncio.Event) -> None:
        tasks: list[asyncio.Task[None]] = []
        if self.mqtt is not None:
            self.mqtt.start()
            tasks.append(asyncio.create_task(self.consumer.serve(), name="raw-frames"))
            log.info(
                "Raw logger: frames from %s (commands to %s) to MQTT %s:%d topic %s",
                self.settings.bus.events_endpoint,
                self.settings.bus.commands_endpoint,
                self.settings.mqtt.host,
                self.settings.mqtt.port,
                self.topics.raw_message_to_db,
            )
        else:
            # The gateway does not journal raw frames either then (see GatewaySettings).
            log.info("Raw logger: SEND_RAW_MESSAGE_TO_DB is not TRUE; idle")
        try:
            await run_until_stopped(stop, tasks)
        finally:
            await self._close()

    async def _close(self) -> None:
        if self.mqtt is not None:
            await self.tracker.settle(SETTLE_AT_STOP)
            await self.consumer.flush_ack()
        await self.client.close()
        if self.mqtt is not None:
            self.mqtt.stop()
