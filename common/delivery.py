"""Which consumed bus messages are delivered: every MQTT publication they caused confirmed by
the broker (PUBACK). Only those are acknowledged to the gateway, so a process killed with
publications still in flight gets them again after its restart.

Publications are numbered (:meth:`common.mqtt.MqttLink.publish_confirmed` returns the serial);
a bus message is delivered once every publication up to the newest serial it caused is
confirmed: one comparison per message, whatever it published."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol


class Confirmations(Protocol):
    @property
    def confirmed_serial(self) -> int: ...  # every publication up to this serial is confirmed

    @property
    def unconfirmed(self) -> int: ...  # publications waiting for their confirmation


class NoPublications:
    """For a process that publishes nothing: everything is confirmed at once."""

    confirmed_serial = 0
    unconfirmed = 0


class DeliveryTracker:
    POLL = 0.02

    def __init__(self, limit: int, confirmations: Confirmations) -> None:
        self.limit = limit
        self._confirmations = confirmations
        self._entries: deque[tuple[str, int, int]] = deque()
        self.confirmed: tuple[str | None, int] = (None, 0)
        self.waits = 0  # times consuming paused because too much was unconfirmed

    @property
    def pending(self) -> int:
        """Publications not yet confirmed."""
        return self._confirmations.unconfirmed

    def record(self, run: str, seq: int, serial: int) -> None:
        """Bus message (run, seq) is delivered once publication ``serial`` and all before it are."""
        self._entries.append((run, seq, serial))

    def advance(self) -> tuple[str | None, int]:
        """The newest (run, seq) up to which everything is confirmed."""
        entries = self._entries
        confirmed = self._confirmations.confirmed_serial
        last = None
        while entries and entries[0][2] <= confirmed:
            last = entries.popleft()
        if last is not None:
            self.confirmed = (last[0], last[1])
        return self.confirmed

    async def wait_for_room(self) -> None:
        """Pause consuming while ``limit`` publications wait for the broker (it is down, or slow):
        memory stays bounded, and the gateway's journal keeps what is not consumed yet."""
        if self._confirmations.unconfirmed < self.limit:
            return
        self.waits += 1
        while self._confirmations.unconfirmed >= self.limit:  # PUBACKs arrive in the loop: poll
            await asyncio.sleep(self.POLL)
            self.advance()

    async def settle(self, within: float) -> None:
        """At a stop: wait, at most ``within`` seconds, for the broker to confirm what is in
        flight, so that the last acknowledgement covers it and the next run does not publish it
        again (a graceful stop then repeats nothing)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self._confirmations.unconfirmed and loop.time() < deadline:  # PUBACKs come in the loop
            await asyncio.sleep(self.POLL)
            self.advance()
        self.advance()
