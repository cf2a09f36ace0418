"""The gateway's command socket (ROUTER): one task per request, exceptions become replies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import zmq
import zmq.asyncio

from common.binding import BindError, bind_zmq
from common.bus import BusError, ErrorCode, Reply, Request, decode_request, encode_reply

log = logging.getLogger(__name__)

CommandHandler = Callable[[Request], Awaitable[Any]]


class CommandError(Exception):
    """Raised by a handler to answer with a typed error."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(f"{code.value}: {reason}")
        self.code = code
        self.reason = reason


class CommandServer:
    def __init__(
        self,
        context: zmq.asyncio.Context,
        endpoint: str,
        handlers: Mapping[str, CommandHandler],
        setting: str = "BUS_COMMANDS_ENDPOINT",
    ) -> None:
        self._socket = context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.LINGER, 0)
        try:
            bind_zmq(self._socket, endpoint, setting)
        except BindError:
            self._socket.close(linger=0)
            raise
        self._handlers = dict(handlers)
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self) -> None:
        try:
            while True:
                frames = await self._socket.recv_multipart()
                if len(frames) < 2:
                    continue
                task = asyncio.create_task(self._answer(frames[0], frames[-1]), name="command")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            for task in self._tasks:
                task.cancel()
            self.close()

    def close(self) -> None:
        """Close the socket (also when ``serve`` never ran: a later bind failed)."""
        if not self._socket.closed:
            self._socket.close(linger=0)

    async def dispatch(self, data: bytes) -> Reply:
        try:
            request = decode_request(data)
        except BusError as error:
            log.warning("Undecodable command: %s", error)
            return Reply.failure("", ErrorCode.INVALID_VALUE, str(error))
        handler = self._handlers.get(request.command)
        if handler is None:
            return Reply.failure(request.id, ErrorCode.UNKNOWN_COMMAND, f"unknown command {request.command!r}")
        try:
            return Reply(id=request.id, ok=True, result=await handler(request))
        except CommandError as error:
            return Reply.failure(request.id, error.code, error.reason)
        except Exception as error:
            log.exception("Command %s failed", request.command)
            return Reply.failure(request.id, ErrorCode.INTERNAL_ERROR, repr(error))

    async def _answer(self, identity: bytes, data: bytes) -> None:
        reply = await self.dispatch(data)
        try:
            encoded = encode_reply(reply)
        except (TypeError, ValueError) as error:  # e.g. a charge point's answer holding a lone surrogate
            log.warning("The reply to %s cannot be encoded: %s", reply.id, error)
            encoded = encode_reply(
                Reply.failure(reply.id, ErrorCode.INTERNAL_ERROR, f"the reply cannot be encoded: {error}"[:200])
            )
        try:
            await self._socket.send_multipart([identity, encoded], flags=zmq.NOBLOCK)
        except zmq.ZMQError as error:
            log.warning("Could not send the reply to %s: %s", reply.id, error)
