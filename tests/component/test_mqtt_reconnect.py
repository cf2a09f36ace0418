"""The link against a broker that is gone for a while: it is back within a second of the broker
accepting connections whatever MQTT_RECONNECT_MAX_DELAY says, with one warning for the outage."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bench.harness import Broker
from common.mqtt import MqttLink
from tests.component.test_mqtt_link import settings, until

OUTAGE = 4.0  # long enough for a doubling back-off to have reached 8 s or more


def test_a_broker_gone_for_a_while_is_reconnected_to_within_a_second_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = Broker(tmp_path)
    broker.start()

    async def scenario() -> float:
        link = MqttLink(replace(settings(broker.port), reconnect_max_delay=30), "test")
        link.start()
        await until(link.connected.is_set, 10, "the connection")
        await asyncio.to_thread(broker.stop)
        await until(lambda: not link.connected.is_set(), 10, "the loss to be noticed")
        await asyncio.sleep(OUTAGE)  # the outage itself
        await asyncio.to_thread(broker.start)
        back = time.monotonic()
        await until(link.connected.is_set, 10, "the reconnection")
        serial = link.publish_confirmed("gone/after", 1)
        await until(lambda: link.confirmed_serial == serial, 5, "the PUBACK")
        link.stop()
        return time.monotonic() - back

    try:
        with caplog.at_level(logging.DEBUG, logger="common.mqtt"):
            took = asyncio.run(scenario())
    finally:
        broker.stop()
    print(f"publishing again {took:.2f} s after the broker accepted connections")
    assert took < 1.5
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("Lost the MQTT broker"), warnings
    tries = [r for r in caplog.records if "still unreachable" in r.getMessage()]
    assert len(tries) >= OUTAGE / 0.75 - 1  # tried every 0.5-0.75 s meanwhile (at DEBUG)
    assert any("after" in r.getMessage() and "s away" in r.getMessage() for r in caplog.records)
