"""Following one sequenced stream of the gateway without losing or reordering messages.

Live messages arrive on a SUB socket. Whenever a consumer starts, sees a gap in the
sequence numbers, sees a new gateway run, or learns from ``gateway.alive`` that it is
behind, it asks the gateway (command ``replay``) for what it missed, in order. What it
has delivered it acknowledges (command ``ack``), so that after its own restart the
gateway resumes it from there.
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
)
from common.commands import CommandClient
from common.settings import BusSettings

log = logging.getLogger(__name__)

Handler = Callable[[SequencedMessage], Awaitable[None]]
OtherHandler = Callable[[Message], Awaitable[None]]


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
    ) -> None:
        self._context = context
        self._bus = bus
        self._client = client
        self.stream = stream
        self.name = name
        self._handle = handle
        self._other_prefixes = other_prefixes
        self._handle_other = handle_other
        self.run: str | None = None
        self.last = 0  # last sequence number delivered in ``run``
        self._acked: tuple[str | None, int] = (None, 0)
        self.delivered = 0
        self.lost = 0  # messages the gateway no longer had when asked (journal overflow)
        self._catching_up = False

    async def serve(self) -> None:
        """Consume until cancelled."""
        socket = self._context.socket(zmq.SUB)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVHWM, 100_000)
        for prefix in (stream_prefix(self.stream), ALIVE_TOPIC, *self._other_prefixes):
            socket.setsockopt(zmq.SUBSCRIBE, prefix)
        socket.connect(self._bus.events_endpoint)
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
                try:
                    message = decode(frames)
                except BusError as error:
                    log.warning("Dropped an undecodable bus message on %r: %s", frames[0][:80], error)
                    continue
                await self._dispatch(message)
        finally:
            acks.cancel()
            socket.close(linger=0)

    async def _dispatch(self, message: Message) -> None:
        if isinstance(message, GatewayAlive):
            if message.run != self.run or message.heads.get(self.stream, 0) > self.last:
                await self.catch_up()
        elif getattr(message, "stream", None) == self.stream:
            await self._accept(message)  # type: ignore[arg-type]
        elif self._handle_other is not None:
            await self._handle_other(message)

    async def _accept(self, message: SequencedMessage) -> None:
        if message.run == self.run and message.seq <= self.last:
            return  # already delivered (replayed earlier)
        if message.run != self.run or message.seq != self.last + 1:
            await self.catch_up()
            return
        await self._deliver(message)

    async def _deliver(self, message: SequencedMessage) -> None:
        try:
            await self._handle(message)
        except Exception:
            log.exception(
                "Failed to handle %s %s/%s of %s; skipped", message.stream, message.run, message.seq, message.cp
            )
        self.last = message.seq
        self.delivered += 1

    async def catch_up(self) -> None:
        """Replay from the gateway until this consumer has everything up to the head."""
        if self._catching_up:
            return
        self._catching_up = True
        try:
            while True:
                reply = await self._client.request(
                    "replay",
                    {
                        "stream": self.stream,
                        "consumer": self.name,
                        "run": self.run,
                        "after": self.last,
                        "limit": self._bus.replay_batch,
                    },
                )
                if not reply.ok:
                    log.debug("Replay of %s not possible now: %s %s", self.stream, reply.error, reply.reason)
                    return
                result = reply.result
                if result["run"] != self.run:
                    if self.run is not None:
                        log.info("Gateway run changed from %s to %s; following the new run", self.run, result["run"])
                    self.run = result["run"]
                    self.last = int(result["after"])
                messages = [from_dict(body) for body in result["messages"]]
                first = int(result["first"])
                if messages and first > self.last + 1:
                    missing = first - self.last - 1
                    self.lost += missing
                    log.error(
                        "%d %s messages were dropped by the gateway's journal before %s got them",
                        missing,
                        self.stream,
                        self.name,
                    )
                    self.last = first - 1
                for message in messages:
                    if message.seq > self.last:  # type: ignore[union-attr]
                        await self._deliver(message)  # type: ignore[arg-type]
                if not messages or self.last >= int(result["head"]):
                    return
        finally:
            self._catching_up = False

    async def _ack_loop(self) -> None:
        while True:
            await asyncio.sleep(self._bus.heartbeat_interval)
            await self.flush_ack()

    async def flush_ack(self) -> None:
        position = (self.run, self.last)
        if self.run is None or position == self._acked:
            return
        reply = await self._client.request(
            "ack", {"stream": self.stream, "consumer": self.name, "run": self.run, "seq": self.last}
        )
        if reply.ok:
            self._acked = position
