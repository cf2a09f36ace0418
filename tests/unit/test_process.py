"""Process plumbing: a background task that dies ends the process; delivery bookkeeping."""

from __future__ import annotations

import asyncio

import pytest

from common.delivery import DeliveryTracker
from common.process import run_until_stopped


def test_a_task_that_dies_ends_the_process_with_an_error() -> None:
    async def scenario() -> None:
        async def broken() -> None:
            raise ValueError("boom")

        async def forever() -> None:
            await asyncio.Event().wait()

        other = asyncio.create_task(forever())
        with pytest.raises(RuntimeError, match="task broken ended unexpectedly: ValueError"):
            await run_until_stopped(asyncio.Event(), [asyncio.create_task(broken(), name="broken"), other])
        assert other.cancelled()

    asyncio.run(scenario())


def test_stop_cancels_the_tasks_quietly() -> None:
    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(asyncio.Event().wait())
        asyncio.get_running_loop().call_later(0.01, stop.set)
        await run_until_stopped(stop, [task])
        assert task.cancelled()

    asyncio.run(scenario())


class Confirmations:
    """What MqttLink tells a tracker: the serial up to which all publications are confirmed."""

    def __init__(self) -> None:
        self.confirmed_serial = 0
        self.unconfirmed = 0


def test_only_fully_confirmed_messages_count_as_delivered_and_publications_bound_memory() -> None:
    link = Confirmations()
    tracker = DeliveryTracker(limit=3, confirmations=link)
    tracker.record("r", 1, 2)  # seq 1 caused publications 1 and 2
    tracker.record("r", 2, 2)  # seq 2 published nothing
    tracker.record("r", 3, 3)
    link.unconfirmed = 3
    assert tracker.pending == 3
    link.confirmed_serial, link.unconfirmed = 1, 2
    assert tracker.advance() == (None, 0)  # seq 1 still waits for its second publication
    link.confirmed_serial, link.unconfirmed = 2, 1
    assert tracker.advance() == ("r", 2)  # seq 2 had nothing to publish: delivered with seq 1
    assert tracker.pending == 1

    async def room() -> None:
        tracker.record("r", 4, 5)
        link.unconfirmed = 3  # 3 pending: consuming must pause
        waiting = asyncio.create_task(tracker.wait_for_room())
        await asyncio.sleep(0.05)  # the behaviour under test: still waiting 50 ms later
        assert not waiting.done()
        link.confirmed_serial, link.unconfirmed = 3, 2
        await asyncio.wait_for(waiting, 1)

    asyncio.run(room())
    assert tracker.waits == 1
    assert tracker.advance() == ("r", 3)


def test_settle_waits_for_the_confirmations_in_flight_then_advances_but_not_forever() -> None:
    class Confirming:
        def __init__(self) -> None:
            self.confirmed_serial, self.unconfirmed = 0, 2

    async def main() -> None:
        confirming = Confirming()
        tracker = DeliveryTracker(10, confirming)
        tracker.record("run", 1, 2)

        async def broker() -> None:
            await asyncio.sleep(0.05)
            confirming.confirmed_serial, confirming.unconfirmed = 2, 0

        answering = asyncio.create_task(broker())
        await tracker.settle(2.0)
        await answering
        assert tracker.confirmed == ("run", 1)
        silent = Confirming()  # a broker that is gone: settle gives up at its bound
        started = asyncio.get_running_loop().time()
        await DeliveryTracker(10, silent).settle(0.1)
        assert asyncio.get_running_loop().time() - started < 1.0

    asyncio.run(main())
