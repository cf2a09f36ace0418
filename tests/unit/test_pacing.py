"""Back-pressure (processes/gateway/pacing.py) on a real ChargePointSession over a scripted
socket: a charge point above its rate is slowed down and every call of it answered; only one
that sends calls without waiting for the answers, beyond a small queue, is refused."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from processes.gateway.pacing import HELD_FRAMES, Pacer, TokenBucket
from processes.gateway.store import Store
from processes.gateway.v16.session import ChargePointSession
from tests.support.buses import RecordingBus


class ScriptedCharger:
    """A socket whose charge point sends ``frames``: all at once (pipelined), or each only once
    the previous call was answered (as OCPP-J says)."""

    def __init__(self, frames: list[str], pipelined: bool) -> None:
        self._frames = list(frames)
        self._pipelined = pipelined
        self.replies: list[list[Any]] = []
        self._answered = asyncio.Event()
        self._answered.set()
        self.done = asyncio.Event()
        self._expected = len(frames)

    async def recv(self, decode: bool | None = None) -> str:
        if not self._pipelined:
            await self._answered.wait()
            self._answered.clear()
        if not self._frames:
            await asyncio.Event().wait()  # nothing more to send
        await asyncio.sleep(0)
        return self._frames.pop(0)

    async def send(self, message: str) -> None:
        self.replies.append(json.loads(message))
        self._answered.set()
        if len(self.replies) >= self._expected:
            self.done.set()


def run(frames: list[str], rate: int, pipelined: bool) -> list[list[Any]]:
    store = Store(":memory:")
    charger = ScriptedCharger(frames, pipelined)

    async def main() -> None:
        session = ChargePointSession(
            "CP_1", charger, bus=RecordingBus(), store=store, heartbeat_interval=300, response_timeout=5,
            max_calls_per_second=rate,
        )  # fmt: skip
        serving = asyncio.create_task(session.start())
        try:
            await asyncio.wait_for(charger.done.wait(), 30)
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        store.close()
    return charger.replies


def heartbeats(count: int) -> list[str]:
    return [f'[2,"h{n}","Heartbeat",{{}}]' for n in range(count)]


def test_a_charger_catching_up_one_call_at_a_time_is_slowed_down_never_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """120 queued messages at a rate of 40: every one answered, in order, none refused."""
    with caplog.at_level(logging.INFO, logger="processes.gateway.pacing"):
        replies = run(heartbeats(120), rate=40, pipelined=False)
    assert [reply[:2] for reply in replies] == [[3, f"h{n}"] for n in range(120)]
    [line] = [record for record in caplog.records if record.name == "processes.gateway.pacing"]
    assert line.levelno == logging.INFO and "answering it at that rate" in line.getMessage()


def test_a_pipelining_flood_is_held_up_to_its_bound_and_the_excess_refused(caplog: pytest.LogCaptureFixture) -> None:
    """100 calls sent at once at a rate of 40: the burst answered, HELD_FRAMES held and answered
    later, the rest refused with GenericError at once; every call gets exactly one reply."""
    with caplog.at_level(logging.INFO, logger="processes.gateway.pacing"):
        replies = run(heartbeats(100), rate=40, pipelined=True)
    by_id = {reply[1]: reply for reply in replies}
    assert len(replies) == len(by_id) == 100
    answered = [reply for reply in replies if reply[0] == 3]
    refused = [reply for reply in replies if reply[0] == 4]
    assert len(answered) == 40 + 1 + HELD_FRAMES  # the burst, the one held back, the queue
    assert all(reply[2] == "GenericError" and reply[4] == {"limit": 40} for reply in refused)
    assert [reply[1] for reply in answered] == sorted((reply[1] for reply in answered), key=lambda i: int(i[1:]))
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "without waiting for the answers" in warnings[0].getMessage()


def test_answers_to_our_calls_are_not_held_back() -> None:
    """While a frame waits for its token, the answer to a call of ours is delivered at once."""
    store = Store(":memory:")

    class Charger(ScriptedCharger):
        burst_answered = asyncio.Event()

        async def send(self, message: str) -> None:
            await super().send(message)
            if len(self.replies) >= 5:  # the burst (rate 5) is answered; the pacer holds the rest
                self.burst_answered.set()
            frame = json.loads(message)
            if frame[0] == 2:  # our call: answered while the heartbeats are held back
                self._frames.insert(0, json.dumps([3, frame[1], {"status": "Accepted"}]))

    charger = Charger(heartbeats(30), pipelined=True)

    async def main() -> dict[str, Any]:
        session = ChargePointSession(
            "CP_1", charger, bus=RecordingBus(), store=store, heartbeat_interval=300, response_timeout=5,
            max_calls_per_second=5,
        )  # fmt: skip
        serving = asyncio.create_task(session.start())
        try:
            await asyncio.wait_for(charger.burst_answered.wait(), 5)
            return await asyncio.wait_for(session.send_call("ClearCache", {}, timeout=2), 1.0)
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)

    try:
        assert asyncio.run(main()) == {"status": "Accepted"}
    finally:
        store.close()


def test_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=4, burst=4, clock=lambda: now[0])
    assert [bucket.allow() for _ in range(5)] == [True] * 4 + [False]
    now[0] += 0.5  # two tokens
    assert [bucket.allow() for _ in range(3)] == [True, True, False]
    now[0] += 100  # never more than the burst
    assert sum(bucket.allow() for _ in range(10)) == 4


def test_take_borrows_and_says_how_long_to_wait() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=4, burst=2, clock=lambda: now[0])
    assert [bucket.take() for _ in range(2)] == [0.0, 0.0]
    assert bucket.take() == pytest.approx(0.25)
    now[0] += 0.25  # the borrowed token has come
    assert bucket.take() == pytest.approx(0.25)


def test_the_pacer_holds_within_its_bounds() -> None:
    pacer = Pacer("CP_1", 10, clock=lambda: 0.0)
    assert all(pacer.hold("x") for _ in range(HELD_FRAMES))
    assert not pacer.hold("x")
    assert pacer.next_held() == "x" and pacer.hold("y")
    big = Pacer("CP_2", 10, clock=lambda: 0.0)
    assert not big.hold("x" * (300 * 1024))  # the byte bound
