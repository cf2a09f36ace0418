"""Process plumbing: a background task that dies ends the process; delivery bookkeeping."""

from __future__ import annotations

import asyncio

import pytest

from common.delivery import DeliveryTracker
from common.process import run_until_stopped


class Info:
    def __init__(self) -> None:
        self.published = False

    def is_published(self) -> bool:
        return self.published


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


def test_only_fully_confirmed_messages_count_as_delivered_and_publications_bound_memory() -> None:
    tracker = DeliveryTracker(limit=3)
    first, second, third = Info(), Info(), Info()
    tracker.record("r", 1, [first, second])
    tracker.record("r", 2, [])
    tracker.record("r", 3, [third])
    assert tracker.pending == 3
    first.published = True
    assert tracker.advance() == (None, 0)  # seq 1 still waits for its second publication
    second.published = True
    assert tracker.advance() == ("r", 2)  # seq 2 had nothing to publish
    assert tracker.pending == 1

    async def room() -> None:
        tracker.record("r", 4, [Info(), Info()])  # 3 pending: consuming must pause
        waiting = asyncio.create_task(tracker.wait_for_room())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        third.published = True
        await asyncio.wait_for(waiting, 1)

    asyncio.run(room())
    assert tracker.waits == 1


def test_a_publication_made_while_disconnected_counts_once_paho_has_sent_it() -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from common.delivery import confirmed

    client = paho.Client(CallbackAPIVersion.VERSION2)
    info = client.publish("t", "x", qos=1)  # not connected: paho queues it (rc NO_CONN)
    with pytest.raises(RuntimeError):
        info.is_published()  # paho's own check raises, forever, even once it is sent
    assert confirmed(info) is False
    tracker = DeliveryTracker(limit=10)
    tracker.record("r", 1, [info])
    assert tracker.advance() == (None, 0)
    info._set_as_published()  # what paho does on the PUBACK after reconnecting
    assert tracker.advance() == ("r", 1)
