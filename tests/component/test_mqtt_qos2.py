"""QoS 2 confirmed publications (the raw logger's) against a real mosquitto: the in-flight window,
and flows caught between PUBREC and PUBCOMP by a broker restart, with and without persistence."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.harness import Broker, Observer
from common.mqtt import MqttLink
from common.mqtt.exactly_once import MAX_IN_FLIGHT, ExactlyOncePublications
from tests.component.test_mqtt_link import held_back, settings, until


def qos2_link(port: int, name: str = "qos2-test") -> MqttLink:
    return MqttLink(settings(port), name, confirmed_qos=2, persistent_session=True)


def exactly_once(link: MqttLink) -> ExactlyOncePublications:
    publications = link.client.confirmations
    assert isinstance(publications, ExactlyOncePublications)
    return publications


def lose_pubrels(link: MqttLink) -> None:
    """The PUBRELs the link answers PUBRECs with never reach the broker (as if lost on the wire)."""
    link.client._take_output = exactly_once(link).output.clear  # type: ignore[method-assign]


def received_once_each(observer: Observer, suffix: str, expected: list[Any], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len({m.payload for m in observer.on(suffix)}) < len(expected):
        time.sleep(0.05)
    payloads = [m.payload for m in observer.on(suffix)]
    twice = {value: n for value, n in Counter(payloads).items() if n > 1}
    assert not twice, f"received more than once: {twice}"
    assert payloads == expected


def test_a_burst_arrives_once_each_in_order_never_more_than_the_window_in_flight(broker: Broker) -> None:
    observer = Observer(broker.port, "q")
    count = 5000
    try:

        async def scenario() -> float:
            link = qos2_link(broker.port)
            link.start()
            await until(link.connected.is_set, 10, "the connection")
            assert not link.session_present  # the first run's session is a new one
            started = time.perf_counter()
            serials = [link.publish_confirmed("q/burst", n) for n in range(count)]
            await until(lambda: link.confirmed_serial == serials[-1], 30, "every PUBCOMP")
            elapsed = time.perf_counter() - started
            assert exactly_once(link).most_in_flight == MAX_IN_FLIGHT
            assert link.unconfirmed == 0
            link.stop()
            return elapsed

        elapsed = asyncio.run(scenario())
        print(f"QoS 2: {count} publications confirmed in {elapsed:.2f} s = {count / elapsed:.0f}/s")
        received_once_each(observer, "burst", list(range(count)))
    finally:
        observer.close()


@pytest.mark.parametrize("persistence", [False, True], ids=["broker-without-persistence", "broker-with-persistence"])
def test_flows_between_pubrec_and_pubcomp_survive_a_broker_restart(tmp_path: Path, persistence: bool) -> None:
    """The broker has answered every PUBLISH with PUBREC; the PUBRELs never reach it (the link's
    writes are held back); the broker restarts. Without persistence the broker knows none of
    them (a PUBREL would be answered with PUBCOMP and the messages lost): they are published
    again as new. With persistence the session is resumed and the PUBRELs finish them. Either
    way each message arrives exactly once, in order."""
    broker = Broker(tmp_path, persistence=persistence)
    broker.start()
    observer = Observer(broker.port, "q", persistent=True)
    try:

        async def scenario() -> MqttLink:
            link = qos2_link(broker.port)
            link.start()
            await until(link.connected.is_set, 10, "the connection")
            lose_pubrels(link)
            first = [link.publish_confirmed("q/flow", n) for n in range(MAX_IN_FLIGHT)]
            await until(lambda: exactly_once(link).awaiting_pubcomp == MAX_IN_FLIGHT, 10, "every PUBREC")
            waiting = [link.publish_confirmed("q/flow", n) for n in range(MAX_IN_FLIGHT, MAX_IN_FLIGHT + 10)]
            assert link.confirmed_serial == first[0] - 1 and link.unconfirmed == MAX_IN_FLIGHT + 10
            async with held_back(link, observer):
                await asyncio.to_thread(broker.stop)
                await until(lambda: not link.connected.is_set(), 10, "the loss to be noticed")
                del link.client._take_output  # the PUBRELs of the next connection reach the broker
                await asyncio.to_thread(broker.start)
            await until(link.connected.is_set, 10, "the reconnection")
            await until(lambda: link.confirmed_serial == waiting[-1], 10, "every PUBCOMP after the restart")
            link.stop()
            return link

        link = asyncio.run(scenario())
        received_once_each(observer, "flow", list(range(MAX_IN_FLIGHT + 10)))
        assert link.session_present is persistence
        assert exactly_once(link).republished == (0 if persistence else MAX_IN_FLIGHT)
    finally:
        observer.close()
        broker.stop()


def test_a_new_run_discards_the_session_an_earlier_run_left_with_flows_unfinished(tmp_path: Path) -> None:
    """A run killed between PUBREC and PUBCOMP leaves flows in its session that the next run
    (the same client id) knows nothing of: it starts on a new session, and what it publishes
    arrives."""
    broker = Broker(tmp_path, persistence=True)
    broker.start()
    observer = Observer(broker.port, "q", persistent=True)
    try:

        async def killed_run() -> None:
            link = qos2_link(broker.port, "same-id")
            link.start()
            await until(link.connected.is_set, 10, "the connection")
            lose_pubrels(link)
            for n in range(MAX_IN_FLIGHT):
                link.publish_confirmed("q/old", n)
            await until(lambda: exactly_once(link).awaiting_pubcomp == MAX_IN_FLIGHT, 10, "every PUBREC")
            sock = link.client.socket()
            assert sock is not None
            link.loop.remove_reader(sock)
            sock.close()  # as the kernel does for a process killed with SIGKILL: no DISCONNECT

        async def next_run() -> bool:
            link = qos2_link(broker.port, "same-id")
            link.start()
            await until(link.connected.is_set, 10, "the connection")
            serials = [link.publish_confirmed("q/new", n) for n in range(3 * MAX_IN_FLIGHT)]
            await until(lambda: link.confirmed_serial == serials[-1], 10, "every PUBCOMP")
            link.stop()
            return link.session_present

        asyncio.run(killed_run())
        assert asyncio.run(next_run()) is False
        received_once_each(observer, "new", list(range(3 * MAX_IN_FLIGHT)))
        assert observer.on("old") == []  # never released: the broker forwards at the PUBREL
    finally:
        observer.close()
        broker.stop()
