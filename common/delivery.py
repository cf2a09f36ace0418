"""Which consumed bus messages are delivered: every MQTT publication they caused confirmed by
the broker (PUBACK for QoS 1, PUBCOMP for QoS 2). Only those are acknowledged to the gateway,
so a process killed with publications still in flight gets them again after its restart."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Protocol


class Publication(Protocol):
    def is_published(self) -> bool: ...


def confirmed(publication: Publication) -> bool:
    """Whether the broker confirmed a publication. paho's ``is_published()`` raises for a message
    published while disconnected (rc NO_CONN), although paho queued it, sends it after the
    reconnection and then marks it published; that mark is what counts here."""
    flag = getattr(publication, "_published", None)
    if isinstance(flag, bool):
        return flag
    return publication.is_published()


class DeliveryTracker:
    """Confirmation is read from paho's message infos (set when paho reads the PUBACK); no
    callbacks."""

    POLL = 0.02

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: deque[tuple[str, int, Sequence[Publication]]] = deque()
        self.confirmed: tuple[str | None, int] = (None, 0)
        self.pending = 0  # publications not yet confirmed
        self.waits = 0  # times consuming paused because too much was unconfirmed

    def record(self, run: str, seq: int, publications: Sequence[Publication]) -> None:
        self._entries.append((run, seq, publications))
        self.pending += len(publications)
        if len(self._entries) > 64:
            self.advance()

    def advance(self) -> tuple[str | None, int]:
        """The newest (run, seq) up to which everything is confirmed."""
        entries = self._entries
        while entries and all(confirmed(publication) for publication in entries[0][2]):
            run, seq, publications = entries.popleft()
            self.pending -= len(publications)
            self.confirmed = (run, seq)
        return self.confirmed

    async def wait_for_room(self) -> None:
        """Pause consuming while ``limit`` publications wait for the broker (it is down, or slow):
        memory stays bounded, and the gateway's journal keeps what is not consumed yet."""
        if self.pending < self.limit:
            return
        self.waits += 1
        while self.pending >= self.limit:  # paho sets the flags as PUBACKs arrive: poll them
            await asyncio.sleep(self.POLL)
            self.advance()
