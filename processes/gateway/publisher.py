"""The gateway's side of the bus: every event and raw frame journaled, then published (XPUB).

**The commit barrier.** A charge point retries a message until it is answered, and never sends
it again once answered; so nothing may be answered before it is durable. Each sequenced message
is appended to the journal at once and committed (one SQLite transaction for all of them) at the
end of the event-loop iteration that produced it, then published on the bus in that order. An
OCPP session awaits :meth:`BusPublisher.committed` before any frame leaves its socket
(``processes/gateway/session.py``), so the answer to a message, and the event it caused, are
committed before the charge point sees the answer. One commit per iteration, not per message:
under load a commit covers tens of messages.

Consumers (bridge, raw logger) take live messages from the XPUB socket and catch up from the
journal by sequence number (``replay``), so a message they miss on the socket is not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import zmq

from common.binding import BindError, bind_zmq
from common.bus import (
    EVENT_STREAM,
    RAW_PREFIX,
    Event,
    GatewayAlive,
    LogEntry,
    RawFrame,
    pack,
    send_frames,
    to_dict,
)
from common.logs import now_ms
from processes.gateway.journal import Journal

log = logging.getLogger(__name__)


class BusPublisher:
    """Journal + commit barrier + XPUB socket. ``session_count`` tells ``gateway.alive`` how
    many charge points are connected."""

    def __init__(
        self,
        context: zmq.Context[Any],
        endpoint: str,
        journal: Journal,
        *,
        journal_raw_frames: bool,
        session_count: Callable[[], int] = lambda: 0,
    ) -> None:
        self.journal = journal
        self.run = journal.run
        self._journal_raw_frames = journal_raw_frames
        self._session_count = session_count
        self._main_thread = threading.get_ident()
        #: The event loop, once serving: log records of other threads are handed to it.
        self._loop: asyncio.AbstractEventLoop | None = None
        # A plain (not asyncio) socket: sends never block (NOBLOCK), and the asyncio wrapper
        # costs more than the send itself. XPUB: a PUB socket that also tells which prefixes
        # its subscribers want (see read_subscriptions).
        self.socket: zmq.Socket[bytes] = zmq.Socket(context, zmq.XPUB)
        self.socket.setsockopt(zmq.SNDHWM, 100_000)
        self.socket.setsockopt(zmq.LINGER, 1000)
        try:
            bind_zmq(self.socket, endpoint, "BUS_EVENTS_ENDPOINT")
        except BindError:
            self.socket.close(linger=0)
            raise
        #: Sequenced messages appended to the journal but not yet committed.
        self._outbox: list[tuple[bytes, bytes]] = []
        #: The future the senders of frames wait on until the commit that covers them.
        self._committed: asyncio.Future[None] | None = None
        #: Topic prefixes subscribed on the bus, and whether one of them takes raw frames.
        self._subscriptions: set[bytes] = set()
        self.raw_tapped = False

    # -- the commit barrier -----------------------------------------------------------

    def _publish_sequenced(self, message: Event | RawFrame, journal: bool = True) -> None:
        """Journal a message; it is committed, then published, at the end of this event-loop
        iteration, together with the others of the iteration (see :meth:`committed`). A message
        not journaled is still published in its place in that order."""
        body = to_dict(message)
        packed = self.journal.append(message.stream, message.seq, body) if journal else pack(body)
        self._outbox.append((message.topic, packed))
        if self._committed is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a unit test): commit at once
            self.commit()
            return
        self._committed = loop.create_future()
        loop.call_soon(self.commit)

    def commit(self) -> None:
        """Commit what was journaled, then publish it on the bus, then wake the senders."""
        committed, self._committed = self._committed, None
        outbox, self._outbox = self._outbox, []
        try:
            self.journal.commit()
        except Exception as error:  # nothing of it is answered or published
            log.exception("The journal could not commit %d messages", len(outbox))
            if committed is not None:
                committed.set_exception(error)
                committed.exception()  # retrieved: the senders raise it, no "never retrieved"
            return
        for topic, packed in outbox:
            self.send_packed(topic, packed)
        if committed is not None:
            committed.set_result(None)

    async def committed(self) -> None:
        """Returns once every message journaled so far is committed: send nothing before."""
        if self._committed is not None:
            await asyncio.shield(self._committed)

    # -- what the gateway publishes ---------------------------------------------------

    def emit_event(self, cp: str, kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> None:
        seq = self.journal.next_seq(EVENT_STREAM)
        self._publish_sequenced(Event(self.run, seq, cp, kind, now_ms(), payload, ctx or {}))

    def emit_raw(self, cp: str, direction: str, frame: str) -> None:
        # Without SEND_RAW_MESSAGE_TO_DB the raw logger publishes nothing, so nothing replays
        # raw frames: journaling them would cost two of every three journal rows; and unless a
        # tool taps them (busctl tail), nobody receives them at all.
        journal = self._journal_raw_frames
        if not journal and not self.raw_tapped:
            return
        seq = self.journal.next_seq("raw")
        self._publish_sequenced(RawFrame(self.run, seq, cp, direction, now_ms(), frame), journal)

    def publish_log(self, ts: int, level: int, msg: str, emitter: str) -> None:
        """Log records for BEMCom (via the bridge); zmq sockets belong to one thread, so a record
        of another thread (e.g. a file parsed in a worker) is sent from the event loop."""
        if threading.get_ident() != self._main_thread:
            loop = self._loop
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(self.publish_log, ts, level, msg, emitter)
            return
        if not self.socket.closed:
            entry = LogEntry("gateway", ts, level, msg, emitter)
            self.send_packed(entry.topic, pack(to_dict(entry)))

    def publish_alive(self) -> None:
        """The heads of the streams, published behind every message they count: a consumer that
        has handled everything before it and is still behind has really missed something."""
        alive = GatewayAlive(self.run, now_ms(), self.journal.heads(), self._session_count())
        packed = pack(to_dict(alive))
        if self._committed is None:
            self.send_packed(alive.topic, packed)
        else:  # messages of this iteration wait for their commit: go out after them
            self._outbox.append((alive.topic, packed))

    def send_packed(self, topic: bytes, packed: bytes) -> None:
        # When a subscriber's queue is full, it catches up from the journal.
        with contextlib.suppress(zmq.Again):
            send_frames(self.socket, topic, packed)

    # -- subscribers ------------------------------------------------------------------

    def read_subscriptions(self) -> None:
        """What the XPUB socket learnt: b"\\x01" + prefix when a prefix gets its first
        subscriber, b"\\x00" + prefix when it loses its last one."""
        while True:
            try:
                message = self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if message[:1] == b"\x01":
                self._subscriptions.add(message[1:])
            elif message[:1] == b"\x00":
                self._subscriptions.discard(message[1:])
        self.raw_tapped = any(RAW_PREFIX.startswith(p) or p.startswith(RAW_PREFIX) for p in self._subscriptions)

    async def heartbeat(self, interval: float) -> None:
        """``gateway.alive`` every ``interval`` seconds; a new tap gets raw frames within one."""
        self._loop = asyncio.get_running_loop()
        while True:
            self.read_subscriptions()
            self.publish_alive()
            await asyncio.sleep(interval)

    def close(self) -> None:
        self.commit()
        # No linger: everything published is in the journal, which consumers replay from.
        self.socket.close(linger=0)
