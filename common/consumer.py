"""Following one sequenced stream of the gateway without losing or reordering messages.

Live messages arrive on a SUB socket. Whenever a consumer starts, sees a gap in the
sequence numbers, sees a new gateway run, or learns from ``gateway.alive`` that it is
behind, it asks the gateway (command ``replay``) for what it missed, in order, from its
position ``(run, seq)``. What it has delivered it acknowledges (command ``ack``), so that
after its own restart the gateway resumes it from there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import zmq
import zmq.asyncio

from common.bus import (
    ALIVE_TOPIC,
    BusError,
    GatewayAlive,
    Message,
    SequencedMessage,
    decode,
    from_dict,
    stream_prefix,
    unpack,
)
from common.command_client import CommandClient
from common.settings import BusSettings

log = logging.getLogger(__name__)

#: Messages read from the socket's queue per wake-up before other tasks get their turn.
DRAIN_BATCH = 1000
#: Seconds between looks at how far messages are delivered: what is delivered (for the bridge and
#: the raw logger: confirmed by the broker) is acknowledged within this, one ``ack`` per look
#: that finds progress, never one per message. A consumer killed gets at most this much again.
ACK_INTERVAL = 0.05

Handler = Callable[[SequencedMessage], Awaitable[None]]
OtherHandler = Callable[[Message], Awaitable[None]]
Position = tuple[str | None, int]


class StreamConsumer:
    def __init__(
        self,
        context: zmq.asyncio.Context,
        bus: BusSettings,
        client: CommandClient,
        stream: str,
        name: str,
        handle: Handler,
        *,
        other_prefixes: tuple[bytes, ...] = (),
        handle_other: OtherHandler | None = None,
        delivered: Callable[[], Position] | None = None,
    ) -> None:
        """``delivered`` tells up to where messages are really delivered (by default: handled)."""
        self._context = context
        self._bus = bus
        self._client = client
        self.stream = stream
        self.name = name
        self._handle = handle
        self._other_prefixes = other_prefixes
        self._handle_other = handle_other
        self.run: str | None = None  # run and sequence number of the last message handled
        self.last = 0
        self._delivered = delivered or (lambda: (self.run, self.last))
        self._acked: Position = (None, 0)
        self._queued: zmq.Socket[bytes] | None = None  # the SUB socket, read without asyncio
        self.handled = 0
        self.lost = 0  # times the gateway no longer had what this consumer needed (journal full)

    async def serve(self) -> None:
        """Consume until cancelled."""
        socket = self._context.socket(zmq.SUB)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVHWM, 100_000)
        for prefix in (stream_prefix(self.stream), ALIVE_TOPIC, *self._other_prefixes):
            socket.setsockopt(zmq.SUBSCRIBE, prefix)
        socket.connect(self._bus.events_endpoint)
        # The same socket without asyncio: what is already queued is read without a future,
        # a timer and a loop iteration per message (they cost more than handling it).
        queued: zmq.Socket[bytes] = zmq.Socket.shadow(socket.underlying)
        self._queued = queued
        acks = asyncio.create_task(self._ack_loop(), name=f"{self.name}-acks")
        try:
            await self.catch_up()
            silence = 3 * self._bus.heartbeat_interval
            while True:
                try:
                    frames = await asyncio.wait_for(socket.recv_multipart(), silence)
                except TimeoutError:
                    await self.catch_up()  # gateway silent: ask, in case only the bus is broken
                    continue
                await self._receive(frames)
                for _ in range(DRAIN_BATCH):  # then the others waiting, without awaiting the socket
                    try:
                        frames = queued.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    await self._receive(frames)
        finally:
            acks.cancel()
            self._queued = None
            socket.close(linger=0)

    async def _receive(self, frames: list[bytes]) -> None:
        try:
            message = decode(frames)
        except BusError as error:
            log.warning("Dropped an undecodable bus message on %r: %s", frames[0][:80], error)
            return
        await self._dispatch(message)

    async def _dispatch(self, message: Message) -> None:
        if isinstance(message, GatewayAlive):
            behind = message.heads.get(self.stream, 0) > (self.last if message.run == self.run else 0)
            if behind:
                await self.catch_up()
        elif getattr(message, "stream", None) == self.stream:
            await self._accept(message)  # type: ignore[arg-type]
        elif self._handle_other is not None:
            await self._handle_other(message)

    async def _accept(self, message: SequencedMessage) -> None:
        if message.run == self.run and message.seq <= self.last:
            return  # already handled (replayed earlier)
        if message.run == self.run and message.seq == self.last + 1:
            await self._deliver(message)
        else:
            await self.catch_up()  # a gap, or a new run: the rest of the old run comes first

    async def _deliver(self, message: SequencedMessage) -> None:
        try:
            await self._handle(message)
        except Exception:
            log.exception(
                "Failed to handle %s %s/%s of %s; skipped", message.stream, message.run, message.seq, message.cp
            )
        self.run, self.last = message.run, message.seq
        self.handled += 1

    async def catch_up(self) -> None:
        """Replay from the gateway until this consumer has everything the gateway has."""
        limit = self._bus.replay_batch
        while True:
            args = {"stream": self.stream, "consumer": self.name, "run": self.run, "after": self.last, "limit": limit}
            reply = await self._client.request("replay", args)
            if not reply.ok:
                log.debug("Replay of %s not possible now: %s %s", self.stream, reply.error, reply.reason)
                return
            result = reply.result
            if result.get("lost"):
                self.lost += 1
                log.error(
                    "The gateway's journal no longer had %s messages %s needed: some were lost", self.stream, self.name
                )
            bodies = result["packed"]
            for body in bodies:
                try:
                    message = from_dict(unpack(body))
                except BusError as error:  # never written so by the gateway; skip, don't stall
                    log.error("Skipped an undecodable %s message from the journal: %s", self.stream, error)
                    continue
                await self._deliver(message)  # type: ignore[arg-type]
            if len(bodies) < limit or self._live_waiting():
                # Live messages are queued: they go on from here (handled ones are skipped), and
                # a gap among them brings the consumer back. Replaying on while they pile up
                # would handle every message of a lagging consumer twice.
                return

    def _live_waiting(self) -> bool:
        queued = self._queued
        return queued is not None and bool(int(queued.getsockopt(zmq.EVENTS)) & zmq.POLLIN)

    async def _ack_loop(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(ACK_INTERVAL)
            try:
                await self.flush_ack()
                failing = False
            except Exception:  # acknowledging later only means replaying a little more after a restart
                if not failing:
                    log.exception("Could not acknowledge %s messages; trying again", self.stream)
                failing = True

    async def flush_ack(self) -> None:
        run, seq = self._delivered()
        if run is None or (run, seq) == self._acked:
            return
        reply = await self._client.request(
            "ack", {"stream": self.stream, "consumer": self.name, "run": run, "seq": seq}
        )
        if reply.ok:
            self._acked = (run, seq)
