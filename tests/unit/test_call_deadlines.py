"""Our calls to a charge point (OcppSession.send_call) on a real session over a scripted socket:
one outstanding call at a time, the answer's deadline counted from sending, the wait in the
queue bounded apart (Expired: never sent), a disconnect ends every wait."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from common.bus import ErrorCode
from processes.gateway.command_server import CommandError
from processes.gateway.store import Store
from processes.gateway.v16.session import ChargePointSession
from tests.support.buses import RecordingBus


class SilentCharger:
    """Records what it is sent (with the time), answers only what it is told to."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, list[Any]]] = []
        self._more = asyncio.Condition()

    async def recv(self, decode: bool | None = None) -> str:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(self, message: str) -> None:
        self.sent.append((time.monotonic(), json.loads(message)))
        async with self._more:
            self._more.notify_all()

    async def frames(self, count: int) -> None:
        """Until ``count`` frames were sent (readiness signalled, not slept for)."""
        async with asyncio.timeout(5), self._more:
            await self._more.wait_for(lambda: len(self.sent) >= count)


async def session_with(charger: SilentCharger, store: Store) -> ChargePointSession:
    return ChargePointSession(
        "CP_1", charger, bus=RecordingBus(), store=store, heartbeat_interval=300, response_timeout=1
    )


def run(scenario: Any) -> None:
    store = Store(":memory:")
    try:
        asyncio.run(scenario(store))
    finally:
        store.close()


def test_a_call_queued_behind_an_unanswered_one_expires_unsent() -> None:
    async def scenario(store: Store) -> None:
        charger = SilentCharger()
        session = await session_with(charger, store)
        first = asyncio.create_task(session.send_call("ClearCache", {}, timeout=0.6))
        await charger.frames(1)
        with pytest.raises(CommandError) as expired:
            await session.send_call("Reset", {"type": "Soft"}, timeout=5, queue_timeout=0.2)
        assert expired.value.code == ErrorCode.EXPIRED and "not sent" in expired.value.reason
        with pytest.raises(CommandError) as timed_out:
            await first
        assert timed_out.value.code == ErrorCode.TIMEOUT
        assert [frame[2] for _, frame in charger.sent] == ["ClearCache"]  # Reset never went out

    run(scenario)


def test_the_next_call_is_sent_only_once_the_previous_one_timed_out_and_gets_its_full_timeout() -> None:
    async def scenario(store: Store) -> None:
        charger = SilentCharger()
        session = await session_with(charger, store)
        started = time.monotonic()
        first = asyncio.create_task(session.send_call("ClearCache", {}, timeout=0.4))
        await charger.frames(1)
        second = asyncio.create_task(session.send_call("Reset", {"type": "Soft"}, timeout=0.4, queue_timeout=5))
        results = await asyncio.gather(first, second, return_exceptions=True)
        assert all(isinstance(r, CommandError) and r.code == ErrorCode.TIMEOUT for r in results)
        (sent_first, _), (sent_second, frame) = charger.sent
        assert frame[2] == "Reset"
        assert sent_second - sent_first >= 0.4  # not before the first had its whole timeout
        assert time.monotonic() - started >= 0.8  # the second had its own 0.4 s after it was sent

    run(scenario)


def test_an_answer_ends_the_wait_and_a_disconnect_ends_every_wait() -> None:
    async def scenario(store: Store) -> None:
        charger = SilentCharger()
        session = await session_with(charger, store)
        answered = asyncio.create_task(session.send_call("ClearCache", {}, timeout=5))
        await charger.frames(1)
        [(_, frame)] = charger.sent
        await session.route_message(json.dumps([3, frame[1], {"status": "Accepted"}]))
        assert await answered == {"status": "Accepted"}
        waiting = asyncio.create_task(session.send_call("ClearCache", {}, timeout=5))
        queued = asyncio.create_task(session.send_call("ClearCache", {}, timeout=5))
        await charger.frames(2)  # the first is sent; the second waits behind it
        session.closed.set()
        for task in (waiting, queued):
            with pytest.raises(CommandError) as gone:
                await task
            assert gone.value.code == ErrorCode.NOT_CONNECTED
        assert len(charger.sent) == 2  # the queued one was never sent

    run(scenario)


def test_a_late_answer_after_the_timeout_is_dropped_not_given_to_the_next_call() -> None:
    async def scenario(store: Store) -> None:
        charger = SilentCharger()
        session = await session_with(charger, store)
        with pytest.raises(CommandError):
            await session.send_call("ClearCache", {}, timeout=0.1)
        late_id = charger.sent[0][1][1]
        second = asyncio.create_task(session.send_call("ClearCache", {}, timeout=2))
        await charger.frames(2)
        await session.route_message(json.dumps([3, late_id, {"status": "Rejected"}]))  # the first's, late
        second_id = charger.sent[1][1][1]
        await session.route_message(json.dumps([3, second_id, {"status": "Accepted"}]))
        assert await second == {"status": "Accepted"}

    run(scenario)
