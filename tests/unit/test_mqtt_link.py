"""MqttLink against a real mosquitto: paho driven by the asyncio loop, socket I/O gathered."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.delivery import confirmed
from common.mqtt import WRITE_BUFFER_LIMIT, MqttLink, MqttMessage
from common.settings import MqttSettings
from tests.support.harness import Broker, Observer


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


def settings(port: int) -> MqttSettings:
    return MqttSettings(
        host="127.0.0.1",
        port=port,
        username=None,
        password=None,
        tls_ca_file=None,
        keepalive=10,
        reconnect_max_delay=2,
        max_pending=1000,
    )


async def until(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Sends:
    """Counts the ``send`` calls on the link's socket (wrapping it after each connection)."""

    def __init__(self, link: MqttLink) -> None:
        self.calls = 0
        original = link._socket_open

        def opened(client: Any, userdata: Any, sock: Any) -> None:
            original(client, userdata, sock)
            send = sock.send

            def counting(data: Any) -> int:
                self.calls += 1
                result: int = send(data)
                return result

            client._sock = _Proxy(sock, counting)

        link.client.on_socket_open = opened


class _Proxy:
    def __init__(self, sock: Any, send: Any) -> None:
        self._sock = sock
        self.send = send

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def test_a_burst_of_qos1_publications_arrives_in_order_confirmed_in_few_socket_writes(broker: Broker) -> None:
    observer = Observer(broker.port, "link")
    try:

        async def scenario() -> int:
            link = MqttLink(settings(broker.port), "test")
            sends = Sends(link)
            link.start()
            await until(link.connected.is_set, 10, "the connection")
            before = sends.calls
            infos = [link.publish("link/burst", {"n": n}, qos=1) for n in range(2000)]
            await until(lambda: all(info is not None and confirmed(info) for info in infos), 10, "PUBACKs")
            link.stop()
            return sends.calls - before

        writes = asyncio.run(scenario())
        received = [m.payload["n"] for m in observer.on("burst")]
        deadline = time.monotonic() + 5
        while len(received) < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
            received = [m.payload["n"] for m in observer.on("burst")]
        assert received == list(range(2000))
        # paho allows 20 messages in flight: at most one write per PUBACK round trip, not one per packet
        print("socket writes for 2000 publications:", writes)
        assert writes < 2000 / 2, writes
    finally:
        observer.close()


def test_incoming_messages_read_in_chunks_are_all_handed_over_in_order(broker: Broker) -> None:
    observer = Observer(broker.port, "link")
    try:

        async def scenario() -> list[MqttMessage]:
            received: list[MqttMessage] = []
            link = MqttLink(settings(broker.port), "test", received.append)
            link.subscribe("link/in", 1)
            subscribed = asyncio.Event()
            link.on_subscribed = lambda topic: subscribed.set()
            link.start()
            await asyncio.wait_for(subscribed.wait(), 10)
            # published by another client in one go: many packets reach the link's socket at once
            publish = observer.client.publish
            infos = await asyncio.to_thread(lambda: [publish("link/in", str(n), qos=1) for n in range(3000)])
            await asyncio.to_thread(infos[-1].wait_for_publish, 10)
            await until(lambda: len(received) >= 3000, 10, "3000 messages")
            link.stop()
            return received

        received = asyncio.run(scenario())
        assert [int(m.payload) for m in received] == list(range(3000))
    finally:
        observer.close()


def test_a_payload_larger_than_the_write_buffer_and_publications_from_another_thread(broker: Broker) -> None:
    observer = Observer(broker.port, "link")
    try:

        async def scenario() -> None:
            link = MqttLink(settings(broker.port), "test")
            link.start()
            await until(link.connected.is_set, 10, "the connection")
            big = link.publish("link/big", "x" * (3 * WRITE_BUFFER_LIMIT), qos=1)
            after = link.publish("link/after", 1, qos=1)
            infos: list[Any] = []
            thread = threading.Thread(target=lambda: infos.append(link.publish("link/thread", "t", qos=1)))
            thread.start()
            thread.join()
            await until(lambda: all(i is not None and confirmed(i) for i in [big, after, *infos]), 10, "PUBACKs")
            link.stop()

        asyncio.run(scenario())

        def observer_topics() -> set[str]:
            return {m.topic for m in observer.messages}

        deadline = time.monotonic() + 5
        while len(observer_topics()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert observer_topics() == {"link/big", "link/after", "link/thread"}
        assert len(observer.on("big")[0].payload) == 3 * WRITE_BUFFER_LIMIT
    finally:
        observer.close()


def test_broker_restart_reconnects_resubscribes_and_sends_what_was_published_meanwhile(tmp_path: Path) -> None:
    broker = Broker(tmp_path, persistence=True)
    broker.start()
    observer = Observer(broker.port, "link", persistent=True)
    try:

        async def scenario() -> list[MqttMessage]:
            received: list[MqttMessage] = []
            link = MqttLink(settings(broker.port), "test", received.append)
            link.subscribe("link/in", 1)
            link.start()
            await until(link.connected.is_set, 10, "the connection")
            await asyncio.to_thread(broker.stop)
            await until(lambda: not link.connected.is_set(), 10, "the loss to be noticed")
            info = link.publish("link/meanwhile", "queued", qos=1)
            await asyncio.to_thread(broker.start)
            await until(link.connected.is_set, 15, "the reconnection")
            await until(lambda: info is not None and confirmed(info), 10, "the queued publication's PUBACK")
            subscribed = asyncio.Event()
            link.on_subscribed = lambda topic: subscribed.set()
            await asyncio.sleep(0.5)  # the SUBSCRIBE of on-connect is answered by now
            await asyncio.to_thread(lambda: observer.client.publish("link/in", "after", qos=1).wait_for_publish(5))
            await until(lambda: received, 10, "a message on the renewed subscription")
            link.stop()
            return received

        received = asyncio.run(scenario())
        assert [m.payload for m in received] == [b"after"]
        deadline = time.monotonic() + 10
        while not observer.on("meanwhile") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m.payload for m in observer.on("meanwhile")] == ["queued"]
    finally:
        observer.close()
        broker.stop()


def test_stop_sends_what_is_buffered_and_disconnects(broker: Broker) -> None:
    observer = Observer(broker.port, "link")
    try:

        async def scenario() -> None:
            link = MqttLink(settings(broker.port), "test")
            link.start()
            await until(link.connected.is_set, 10, "the connection")
            link.publish("link/last", "words", qos=0)
            link.stop()  # in the same loop iteration as the publication
            assert link.client.socket() is None

        asyncio.run(scenario())
        deadline = time.monotonic() + 5
        while not observer.on("last") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m.payload for m in observer.on("last")] == ["words"]
    finally:
        observer.close()


def test_an_unreachable_broker_is_retried_without_blocking_the_loop(tmp_path: Path) -> None:
    broker = Broker(tmp_path)  # its port, not listening yet

    async def scenario() -> float:
        link = MqttLink(settings(broker.port), "test")
        link.start()
        started = time.monotonic()
        ticks = 0
        while time.monotonic() - started < 1.5:  # the loop keeps running while connects are refused
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks > 50
        await asyncio.to_thread(broker.start)
        began = time.monotonic()
        await until(link.connected.is_set, 15, "the connection once the broker listens")
        link.stop()
        return time.monotonic() - began

    try:
        assert asyncio.run(scenario()) < 6  # backoff capped at reconnect_max_delay (2 s), with jitter
    finally:
        broker.stop()


def test_over_tls_bursts_large_payloads_and_subscriptions_work(tmp_path: Path) -> None:
    """MQTT_TLS_CA_FILE: the gathered writes and chunked reads go through an SSL socket (whose
    decrypted bytes can wait inside it, unseen by the event loop)."""
    import os

    from tests.support.certs import certificate_authority, signed_by

    ca = certificate_authority(tmp_path)
    server = signed_by(ca, tmp_path, "localhost")
    broker = Broker(tmp_path)
    lines = [f"cafile {ca.cert}", f"certfile {server.cert}", f"keyfile {server.key}"]
    if os.geteuid() == 0:  # else mosquitto drops to user "mosquitto", who cannot read tmp_path
        lines.append("user root")
    broker.config.write_text(broker.config.read_text() + "\n".join(lines) + "\n")
    broker.start()
    try:

        async def scenario() -> list[MqttMessage]:
            received: list[MqttMessage] = []
            tls = MqttSettings(**{**settings(broker.port).__dict__, "tls_ca_file": str(ca.cert)})
            link = MqttLink(tls, "test", received.append)
            link.subscribe("link/#", 1)
            subscribed = asyncio.Event()
            link.on_subscribed = lambda topic: subscribed.set()
            link.start()
            await asyncio.wait_for(subscribed.wait(), 10)
            infos = [link.publish("link/burst", {"n": n}, qos=1) for n in range(2000)]
            big = link.publish("link/big", "y" * (2 * WRITE_BUFFER_LIMIT), qos=1)
            await until(lambda: all(i is not None and confirmed(i) for i in [*infos, big]), 15, "PUBACKs")
            await until(lambda: len(received) >= 2001, 15, "the link's own messages back")
            link.stop()
            return received

        received = asyncio.run(scenario())
        burst = [json.loads(m.payload)["n"] for m in received if m.topic == "link/burst"]
        assert burst == list(range(2000))
        assert [len(json.loads(m.payload)) for m in received if m.topic == "link/big"] == [2 * WRITE_BUFFER_LIMIT]
    finally:
        broker.stop()


def test_a_broker_that_does_not_answer_the_connect_does_not_stall_the_loop() -> None:
    """A listening socket whose accept queue is full drops further SYNs: a connect to it hangs,
    as to a firewalled broker. The event loop must keep running meanwhile."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):  # fill the accept queue (never accepted)
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)

    async def scenario() -> int:
        link = MqttLink(settings(port), "test")
        link.start()
        ticks = 0
        started = time.monotonic()
        while time.monotonic() - started < 2.0:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            assert time.monotonic() - before < 0.5, "the event loop was blocked"
            ticks += 1
        assert not link.connected.is_set()
        link.stop()
        return ticks

    try:
        assert asyncio.run(scenario()) > 100
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
