"""MqttLink against a real mosquitto: paho driven by the asyncio loop, socket I/O gathered."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bench.harness import Broker, Observer
from common.mqtt import WRITE_BUFFER_LIMIT, MqttLink, MqttMessage
from common.settings import MqttSettings


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


async def connected_link(port: int) -> MqttLink:
    link = MqttLink(settings(port), "test")
    link.start()
    await until(link.connected.is_set, 10, "the connection")
    return link


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


def payload_of(n: int) -> dict[str, Any]:
    """Sizes across the one-, two- and three-byte remaining lengths of MQTT's packet header."""
    return {"n": n, "pad": "p" * (n * 37 % 20_000)}


def test_a_burst_of_confirmed_publications_arrives_in_order_confirmed_in_few_socket_writes(broker: Broker) -> None:
    observer = Observer(broker.port, "link")
    try:

        async def scenario() -> tuple[int, list[int]]:
            link = MqttLink(settings(broker.port), "test")
            sends = Sends(link)
            link.start()
            await until(link.connected.is_set, 10, "the connection")
            before = sends.calls
            serials = []
            paho_infos = []
            for n in range(2000):
                serials.append(link.publish_confirmed("link/burst", payload_of(n), retain=n == 1999))
                if n % 100 == 0:  # paho's own QoS 1 publications share the message ids
                    paho_infos.append(link.publish("link/paho", n, qos=1))
            assert link.unconfirmed == 2000
            assert link.confirmed_serial < serials[-1]
            await until(lambda: link.confirmed_serial == serials[-1], 10, "PUBACKs")
            await until(lambda: all(i is not None and i.is_published() for i in paho_infos), 10, "paho's PUBACKs")
            assert link.unconfirmed == 0
            link.stop()
            return sends.calls - before, serials

        writes, serials = asyncio.run(scenario())
        assert serials == list(range(serials[0], serials[0] + 2000))
        received = [m.payload for m in observer.on("burst")]
        deadline = time.monotonic() + 5
        while len(received) < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
            received = [m.payload for m in observer.on("burst")]
        assert received == [payload_of(n) for n in range(2000)]
        assert [m.payload for m in observer.on("paho")] == list(range(0, 2000, 100))
        assert [m.retain for m in observer.on("burst")][-1] is False  # live delivery; the broker retained it:
        late = Observer(broker.port, "link")
        try:
            deadline = time.monotonic() + 5
            while not late.on("burst") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [(m.payload, m.retain) for m in late.on("burst")] == [(payload_of(1999), True)]
        finally:
            late.close()
        print("socket writes for 2020 publications:", writes)
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
            link = await connected_link(broker.port)
            big = link.publish_confirmed("link/big", "x" * (3 * WRITE_BUFFER_LIMIT))
            after = link.publish_confirmed("link/after", 1)
            infos: list[Any] = []
            thread = threading.Thread(target=lambda: infos.append(link.publish("link/thread", "t", qos=1)))
            thread.start()
            thread.join()
            await until(lambda: link.confirmed_serial == after > big, 10, "PUBACKs")
            await until(lambda: all(i is not None and i.is_published() for i in infos), 10, "paho's PUBACK")
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
            subscribed = asyncio.Event()
            link.on_subscribed = lambda topic: subscribed.set()
            link.start()
            await until(link.connected.is_set, 10, "the connection")
            await asyncio.wait_for(subscribed.wait(), 10)
            await asyncio.to_thread(broker.stop)
            await until(lambda: not link.connected.is_set(), 10, "the loss to be noticed")
            subscribed.clear()  # no broker, no SUBACK: set again by the reconnection's SUBSCRIBE
            serial = link.publish_confirmed("link/meanwhile", "queued")
            info = link.publish("link/meanwhile-paho", "queued", qos=1)
            await asyncio.sleep(0.2)  # the behaviour under test: held, neither confirmed nor dropped, meanwhile
            assert link.unconfirmed == 1 and link.confirmed_serial < serial
            await asyncio.to_thread(broker.start)
            await until(link.connected.is_set, 15, "the reconnection")
            await until(lambda: link.confirmed_serial == serial, 10, "the queued publication's PUBACK")
            await until(lambda: info is not None and info._published, 10, "paho's queued publication's PUBACK")
            await asyncio.wait_for(subscribed.wait(), 10)  # the SUBSCRIBE of on-connect is answered
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


def test_publications_written_but_never_confirmed_are_sent_again_after_a_reconnection(tmp_path: Path) -> None:
    """The broker freezes (SIGSTOP) with publications on the wire, then dies: after the
    reconnection every unconfirmed one is sent again, in order, and confirmed."""
    broker = Broker(tmp_path, persistence=True)
    broker.start()
    observer = Observer(broker.port, "link", persistent=True)
    try:

        async def scenario() -> list[int]:
            link = await connected_link(broker.port)
            first = link.publish_confirmed("link/wire", 0)
            await until(lambda: link.confirmed_serial == first, 10, "the first PUBACK")
            process = broker._process
            assert process is not None
            process.send_signal(signal.SIGSTOP)
            serials = [link.publish_confirmed("link/wire", n) for n in range(1, 51)]
            await until(lambda: written(link), 10, "the publications to be written to the socket")
            # The frozen broker reads nothing and answers nothing: no PUBACK comes.
            assert link.unconfirmed == 50 and link.confirmed_serial == first
            process.kill()
            process.wait(10)
            broker._process = None
            await until(lambda: not link.connected.is_set(), 10, "the loss to be noticed")
            # The killed broker saved no session: the link waits for the observer to subscribe again.
            async with held_back(link, observer):
                await asyncio.to_thread(broker.start)
            await until(lambda: link.confirmed_serial == serials[-1], 20, "the PUBACKs after reconnecting")
            assert link.unconfirmed == 0
            link.stop()
            return serials

        asyncio.run(scenario())
        deadline = time.monotonic() + 10
        while len({m.payload for m in observer.on("wire")}) < 51 and time.monotonic() < deadline:
            time.sleep(0.05)
        values = [m.payload for m in observer.on("wire")]
        assert sorted(set(values)) == list(range(51))  # the frozen broker may have taken some: at least once
        assert values[-50:] == list(range(1, 51)) or values == list(range(51))
    finally:
        observer.close()
        broker.stop()


@contextlib.asynccontextmanager
async def held_back(link: MqttLink, observer: Observer) -> AsyncIterator[None]:
    """The link's connection attempts fail (as to a broker that is down) until the body is done
    and then the observer has subscribed again: what the link sends next reaches the observer."""
    observer._subscribed.clear()
    open_tcp = link._open_tcp

    async def refused() -> Any:
        raise ConnectionRefusedError("held back by the test")

    link._open_tcp = refused  # type: ignore[method-assign]
    try:
        yield
        await asyncio.to_thread(observer._subscribed.wait, 10)
    finally:
        link._open_tcp = open_tcp  # type: ignore[method-assign]


def written(link: MqttLink) -> bool:
    """Whether everything the link has buffered is in its socket (the kernel's), none waiting."""
    return not link.client.out_buffer and not link._write_scheduled and not link._write_blocked


def test_a_topic_paho_would_refuse_is_refused_by_the_short_path_too(broker: Broker) -> None:
    async def scenario() -> None:
        link = MqttLink(settings(broker.port), "test")
        link.start()
        for topic in ("", "a/+/b", "a/#", "x" * 70_000):
            with pytest.raises(ValueError):
                link.client.publish(topic, "1", qos=1)
            with pytest.raises(ValueError):
                link.publish_confirmed(topic, 1)
        assert link.unconfirmed == 0
        link.stop()

    asyncio.run(scenario())


def test_stop_sends_what_is_buffered_and_disconnects(broker: Broker) -> None:
    observer = Observer(broker.port, "link")
    try:

        async def scenario() -> None:
            link = await connected_link(broker.port)
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
        assert asyncio.run(scenario()) < 2  # a broker that is gone is tried every 0.5-0.75 s
    finally:
        broker.stop()


def tls_broker(tmp_path: Path) -> tuple[Broker, Any]:
    """A mosquitto with a TLS listener whose certificate (for localhost) the returned CA signed."""
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
    return broker, ca


def test_over_tls_bursts_large_payloads_and_subscriptions_work(tmp_path: Path) -> None:
    """MQTT_TLS_CA_FILE: the gathered writes and chunked reads go through an SSL socket (whose
    decrypted bytes can wait inside it, unseen by the event loop)."""
    broker, ca = tls_broker(tmp_path)
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
            for n in range(2000):
                link.publish_confirmed("link/burst", {"n": n})
            big = link.publish_confirmed("link/big", "y" * (2 * WRITE_BUFFER_LIMIT))
            await until(lambda: link.confirmed_serial == big, 15, "PUBACKs")
            await until(lambda: len(received) >= 2001, 15, "the link's own messages back")
            link.stop()
            return received

        received = asyncio.run(scenario())
        burst = [json.loads(m.payload)["n"] for m in received if m.topic == "link/burst"]
        assert burst == list(range(2000))
        assert [len(json.loads(m.payload)) for m in received if m.topic == "link/big"] == [2 * WRITE_BUFFER_LIMIT]
    finally:
        broker.stop()


async def ticks_while_not_connecting(link: MqttLink, seconds: float) -> int:
    """Starts the link and counts 10 ms sleeps for ``seconds``, failing if one takes 0.5 s (the
    event loop blocked); the link must not have connected. Stops it."""
    link.start()
    ticks = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        before = time.monotonic()
        await asyncio.sleep(0.01)
        assert time.monotonic() - before < 0.5, "the event loop was blocked"
        ticks += 1
    assert not link.connected.is_set()
    link.stop()
    return ticks


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

    try:
        assert asyncio.run(ticks_while_not_connecting(MqttLink(settings(port), "test"), 2.0)) > 100
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_a_broker_that_does_not_answer_the_tls_handshake_does_not_stall_the_loop(tmp_path: Path) -> None:
    """The TCP connect succeeds (the kernel accepts), then no TLS ServerHello ever comes: paho's
    own handshake would block the event loop for its connect timeout on every attempt."""
    import socket

    from tests.support.certs import certificate_authority

    ca = certificate_authority(tmp_path)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # connections complete in the kernel and are never accepted
    port = listener.getsockname()[1]

    link = MqttLink(MqttSettings(**{**settings(port).__dict__, "tls_ca_file": str(ca.cert)}), "test")
    link.client.connect_timeout = 1.0  # a few attempts within the test
    try:
        assert asyncio.run(ticks_while_not_connecting(link, 3.0)) > 150
    finally:
        listener.close()


def test_a_broker_certificate_from_another_authority_is_refused_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support.certs import certificate_authority

    broker, _ = tls_broker(tmp_path)
    stranger = certificate_authority(tmp_path, "Stranger CA")

    async def scenario() -> None:
        tls = MqttSettings(**{**settings(broker.port).__dict__, "tls_ca_file": str(stranger.cert)})
        link = MqttLink(tls, "test")
        refusals: list[BaseException] = []
        handshake = link._tls_handshake

        async def counted_handshake(sock: Any) -> Any:
            try:
                return await handshake(sock)
            except BaseException as error:
                refusals.append(error)
                raise

        link._tls_handshake = counted_handshake  # type: ignore[method-assign]
        link.start()
        await until(lambda: len(refusals) >= 2, 15, "a refused handshake and a refused retry")
        assert not link.connected.is_set()
        assert all("CERTIFICATE_VERIFY_FAILED" in str(error) for error in refusals), refusals
        link.stop()

    try:
        with caplog.at_level(logging.WARNING, logger="common.mqtt"):
            asyncio.run(scenario())
    finally:
        broker.stop()
    assert any("CERTIFICATE_VERIFY_FAILED" in record.getMessage() for record in caplog.records), caplog.text
