"""Command client: request/reply to the gateway over DEALER/ROUTER, ids and timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import zmq
import zmq.asyncio

from common.bus import BusError, ErrorCode, Reply, Request, decode_reply, encode_request

log = logging.getLogger(__name__)

#: Extra time the client waits beyond the timeout it gives the gateway, for the reply to travel.
REPLY_GRACE = 1.0


class CommandClient:
    """Sends commands to the gateway and awaits their replies, never more than a timeout.

    The DEALER socket is ``IMMEDIATE``: while the gateway is down a request fails at once
    with ``GatewayUnavailable`` instead of being queued and executed late."""

    def __init__(self, context: zmq.asyncio.Context, endpoint: str, default_timeout: float) -> None:
        self._socket = context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.IMMEDIATE, 1)
        self._socket.connect(endpoint)
        self._default_timeout = default_timeout
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reader = asyncio.create_task(self._read_replies(), name="command-replies")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._socket.close(linger=0)

    async def request(
        self,
        command: str,
        args: dict[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - it travels with the request to the gateway
        queue_timeout: float | None = None,
    ) -> Reply:
        """Send one command; the reply, or a failure Reply (never raises for bus trouble).

        ``queue_timeout`` (a ``call``'s bound on its wait behind earlier calls in the gateway)
        goes into the args, and the reply is awaited that much longer."""
        if self._reader is None:
            self.start()
        wait = self._default_timeout if timeout is None else timeout
        args = dict(args or {})
        if queue_timeout is not None:
            args["queue_timeout"] = queue_timeout
        request = Request(id=uuid.uuid4().hex, command=command, args=args, timeout=wait)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request.id] = future
        try:
            try:
                await self._socket.send(encode_request(request), flags=zmq.NOBLOCK)
            except zmq.Again:
                return Reply.failure(
                    request.id, ErrorCode.GATEWAY_UNAVAILABLE, "the gateway is not reachable on the bus"
                )
            try:
                return await asyncio.wait_for(future, wait + (queue_timeout or 0.0) + REPLY_GRACE)
            except TimeoutError:
                return Reply.failure(request.id, ErrorCode.TIMEOUT, f"no reply from the gateway within {wait:g} s")
        finally:
            self._pending.pop(request.id, None)

    async def _read_replies(self) -> None:
        while True:
            frames = await self._socket.recv_multipart()
            try:
                reply = decode_reply(frames[-1])
            except BusError as error:
                log.warning("Dropped an undecodable reply: %s", error)
                continue
            future = self._pending.get(reply.id)
            if future is not None and not future.done():
                future.set_result(reply)
