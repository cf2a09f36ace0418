"""StreamConsumer against the real gateway's journal, PUB socket and command server, over real
ZeroMQ sockets (ipc): live messages drained in order, gaps and late starts filled by replay."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import zmq.asyncio

from common.bus import EVENT_STREAM, Request, SequencedMessage, stream_prefix
from common.command_client import CommandClient
from common.consumer import StreamConsumer
from common.settings import load_gateway
from processes.gateway.gateway import Gateway

Scenario = Callable[[Gateway, Callable[[], Awaitable[StreamConsumer]], list[int]], Awaitable[None]]


def run(
    tmp_path: Path, scenario: Scenario, replay_batch: int = 500, counters: dict[str, int] | None = None
) -> dict[str, int]:
    """Runs ``scenario(gateway, start_consumer, handled_seqs)``; returns counters (replay requests
    the gateway answered; a request made before the socket is connected fails and is not counted)."""
    env = {
        "CONNECTOR_NAME": "test",
        "JOURNAL_PATH": str(tmp_path / "gateway.sqlite3"),
        "BUS_EVENTS_ENDPOINT": f"ipc://{tmp_path}/events.ipc",
        "BUS_COMMANDS_ENDPOINT": f"ipc://{tmp_path}/commands.ipc",
        "BUS_REPLAY_BATCH": str(replay_batch),
    }
    counters = counters if counters is not None else {}
    counters["replays"] = 0

    async def main() -> None:
        context = zmq.asyncio.Context()
        settings = load_gateway(env)
        gateway = Gateway(settings, context)
        replay = gateway.commands._handlers["replay"]

        async def counted(request: Request) -> Any:
            counters["replays"] += 1
            return await replay(request)

        gateway.commands._handlers["replay"] = counted
        server = asyncio.create_task(gateway.commands.serve())
        client = CommandClient(context, settings.bus.commands_endpoint, 5.0)
        client.start()
        handled: list[int] = []
        consumers: list[asyncio.Task[None]] = []

        async def handle(message: SequencedMessage) -> None:
            handled.append(message.seq)

        async def start() -> StreamConsumer:
            """A consumer, returned once it is subscribed and its first catch-up is done."""
            consumer = StreamConsumer(context, settings.bus, client, EVENT_STREAM, "test", handle)
            caught_up = asyncio.Event()
            catch_up = consumer.catch_up

            async def first_catch_up_signalled() -> None:
                await catch_up()
                caught_up.set()

            consumer.catch_up = first_catch_up_signalled  # type: ignore[method-assign]
            consumers.append(asyncio.create_task(consumer.serve()))
            await until(lambda: subscribed(gateway, stream_prefix(EVENT_STREAM)))
            await asyncio.wait_for(caught_up.wait(), 10)
            return consumer

        try:
            await scenario(gateway, start, handled)
        finally:
            for task in [*consumers, server]:
                task.cancel()
            await asyncio.gather(*consumers, server, return_exceptions=True)
            await client.close()
            gateway.publisher.socket.close(0)
            context.term()

    asyncio.run(main())
    return counters


def subscribed(gateway: Gateway, prefix: bytes) -> bool:
    """Whether the gateway's XPUB socket has learnt of a subscriber to ``prefix``."""
    gateway.publisher.read_subscriptions()
    return prefix in gateway.publisher._subscriptions


async def until(predicate: Callable[[], bool], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def emit(gateway: Gateway, count: int) -> None:
    for n in range(count):
        gateway.publisher.emit_event("CP", "Heartbeat", {"n": n})


def test_a_burst_of_live_messages_is_handled_in_order_once_without_replay(tmp_path: Path) -> None:
    async def scenario(gateway: Gateway, start: Any, handled: list[int]) -> None:
        await start()
        emit(gateway, 3000)  # one event-loop iteration: one commit, 3000 messages on the socket at once
        await until(lambda: len(handled) >= 3000)
        await asyncio.sleep(0.2)  # the behaviour under test: nothing more (no duplicate) within 0.2 s
        assert handled == list(range(1, 3001))

    counters = run(tmp_path, scenario)
    # the consumer's start, and its first message (of a run it did not know): one batch, then
    # live; replaying on while the burst waits on the socket would take 7 (3000 / 500 + 1)
    assert counters["replays"] <= 2


def test_messages_missing_on_the_bus_come_from_the_journal_in_order(tmp_path: Path) -> None:
    replays_before_the_gap: list[int] = []

    async def scenario(gateway: Gateway, start: Any, handled: list[int]) -> None:
        await start()
        emit(gateway, 10)
        await until(lambda: len(handled) >= 10)
        replays_before_the_gap.append(counters["replays"])
        send = gateway.publisher.send_packed
        sent = [0]

        def lossy(topic: bytes, packed: bytes) -> None:
            sent[0] += 1
            if not 1 <= sent[0] <= 10:  # the bus loses messages 11..20
                send(topic, packed)

        gateway.publisher.send_packed = lossy  # type: ignore[method-assign]
        emit(gateway, 20)
        await until(lambda: len(handled) >= 30)
        await asyncio.sleep(0.2)  # the behaviour under test: nothing more (no duplicate) within 0.2 s
        assert handled == list(range(1, 31))

    counters: dict[str, int] = {}
    run(tmp_path, scenario, counters=counters)
    assert counters["replays"] == replays_before_the_gap[0] + 1  # message 21 showed the gap


def test_a_consumer_started_late_gets_everything_in_batches(tmp_path: Path) -> None:
    async def scenario(gateway: Gateway, start: Any, handled: list[int]) -> None:
        emit(gateway, 1234)
        await gateway.publisher.committed()
        await start()
        await until(lambda: len(handled) >= 1234)
        emit(gateway, 10)  # and then live
        await until(lambda: len(handled) >= 1244)
        await asyncio.sleep(0.2)  # the behaviour under test: nothing more (no duplicate) within 0.2 s
        assert handled == list(range(1, 1245))

    counters = run(tmp_path, scenario, replay_batch=500)
    assert counters["replays"] >= 3  # 500 + 500 + 234


def test_an_undecodable_journal_entry_is_skipped_not_stalled_on(tmp_path: Path) -> None:
    async def scenario(gateway: Gateway, start: Any, handled: list[int]) -> None:
        emit(gateway, 10)
        await gateway.publisher.committed()
        gateway.store.db.execute("UPDATE journal_event SET body = x'c1' WHERE seq = 5")
        await start()
        await until(lambda: len(handled) >= 9)
        emit(gateway, 1)
        await until(lambda: len(handled) >= 10)
        assert handled == [1, 2, 3, 4, 6, 7, 8, 9, 10, 11]

    run(tmp_path, scenario)
