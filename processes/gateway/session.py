"""One connected charge point, whatever its OCPP version: the frames it sends are read
defensively and answered, our calls to it are made one at a time.

This is where the rule "journaled before answered" is kept: every frame read is put on the bus
as it arrives, every frame sent is put on the bus and then waits for the commit of everything
journaled so far (:meth:`SessionBus.committed`, see ``processes/gateway/publisher.py``) before it
leaves the socket. So the answer to a message, and the event its handler emitted, are durable
before the charge point sees the answer.

A version package (``processes/gateway/v16/``) subclasses :class:`OcppSession` together with the
library's ``ChargePoint`` of that version and adds the thin ``@on`` handlers: work out what the
gateway knows beyond the payload, emit the event, answer. Nothing here awaits a call to the
charge point while answering one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Protocol

from ocpp.charge_point import (
    ChargePoint,
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError
from ocpp.messages import Call, get_validator
from websockets.exceptions import ConnectionClosed

from common.bus import INBOUND, OUTBOUND, ErrorCode
from common.schemas import passes
from processes.gateway.command_server import CommandError
from processes.gateway.frames import CALLRESULT, Rejected, TokenBucket, call_error, check_call, parse_frame

log = logging.getLogger(__name__)


#: Seconds between two "too many calls" warnings of one charge point: a flood that pauses
#: for a moment is still one flood in the log.
FLOOD_LOG_INTERVAL = 10.0


class SessionBus(Protocol):
    """What a session needs of the bus (``BusPublisher`` is one)."""

    def emit_event(self, cp: str, kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> None: ...
    def emit_raw(self, cp: str, direction: str, frame: str) -> None: ...
    async def committed(self) -> None: ...


class Connection(Protocol):
    """The websocket, as a session uses it."""

    async def recv(self, decode: bool | None = None) -> str | bytes: ...
    async def send(self, message: str) -> None: ...


#: camelCase key -> the library's snake_case of it. Payloads are schema-checked first
#: (``additionalProperties: false``), so the keys, and this cache, are bounded.
_SNAKE_KEYS: dict[str, str] = {}


def _snake_key(key: str) -> str:
    snake: str = next(iter(camel_to_snake_case({key: None})))
    _SNAKE_KEYS[key] = snake
    return snake


def snake_case_keys(data: Any) -> Any:
    """The library's ``camel_to_snake_case``, with each key converted once per process, for
    what ``json.loads`` returns (plain dicts and lists; scalars are not visited)."""
    if type(data) is dict:
        converted = {}
        keys = _SNAKE_KEYS
        for key, value in data.items():
            kind = type(value)
            converted[keys.get(key) or _snake_key(key)] = (
                snake_case_keys(value) if kind is dict or kind is list else value
            )
        return converted
    if type(data) is list:
        return [snake_case_keys(value) if type(value) is dict or type(value) is list else value for value in data]
    return data


#: ``json.dumps`` with options builds an encoder per call; answers share this one.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def empty_results(call_results: Any, version: str) -> frozenset[type]:
    """The CALLRESULT classes of a version's ``call_result`` module without fields whose schema
    takes ``{}``: their answer is always ``{}``, so serialising and checking it per call is
    wasted (MeterValues, StatusNotification, ...)."""
    empty = set()
    for name in dir(call_results):
        cls = getattr(call_results, name)
        fieldless = isinstance(cls, type) and dataclasses.is_dataclass(cls) and not dataclasses.fields(cls)
        if fieldless and passes(name, {}, response=True, version=version):
            empty.add(cls)
    return frozenset(empty)


def result_payload(result: Any) -> dict[str, Any]:
    """The camelCase payload of a call result object, without absent fields."""
    payload: dict[str, Any] = remove_nones(snake_to_camel_case(asdict(result)))
    return payload


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class OcppSession(ChargePoint):
    """The version-neutral part of a session. A subclass sets ``_ocpp_version`` (through the
    library's ``ChargePoint`` of its version), ``EMPTY_RESULTS`` and :meth:`build_call`."""

    #: Answers that are always ``{}`` (see :func:`empty_results`).
    EMPTY_RESULTS: frozenset[type] = frozenset()

    def __init__(
        self,
        cp_id: str,
        connection: Connection,
        *,
        bus: SessionBus,
        response_timeout: float,
        max_calls_per_second: int = 20,
    ) -> None:
        # Our logger, not the library's: its unexpected handler errors are ours to report.
        super().__init__(cp_id, connection, response_timeout=response_timeout, logger=log)
        self._bus = bus
        self.connected_since = int(time.time() * 1000)
        self.last_message = self.connected_since
        #: Connector (1.6) or EVSE (2.0.1) id -> its last reported status.
        self.connectors: dict[int, str] = {}
        self.boot: dict[str, Any] = {}
        self.closed = asyncio.Event()
        self._limit = max_calls_per_second
        self._bucket = TokenBucket(max_calls_per_second, max_calls_per_second)
        self._refused = 0
        self._flood_warned_at = -FLOOD_LOG_INTERVAL
        #: Message ids of our calls still waiting for an answer; other answers are dropped.
        self._awaited: set[str] = set()
        self._handled = frozenset(action for action, hooks in self.route_map.items() if "_on_action" in hooks)

    # -- frames in and out: the bus sees each one, and nothing leaves before its commit --------

    async def start(self) -> None:
        """The library's receive loop without its INFO line per frame (raw frames are the raw
        logger's job; logging each one cost more than answering it)."""
        connection, bus, cp_id = self._connection, self._bus, self.id
        while True:
            frame = await connection.recv()
            text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            bus.emit_raw(cp_id, INBOUND, text)
            await self.route_message(text)

    async def _send(self, message: str) -> None:
        self._bus.emit_raw(self.id, OUTBOUND, message)
        # Durability: the frame, and the event it answers, are committed before it leaves.
        await self._bus.committed()
        await self._connection.send(message)

    def emit(self, kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> None:
        self._bus.emit_event(self.id, kind, payload, ctx)

    # -- our calls to the charge point --------------------------------------------------

    def build_call(self, action: str, payload: dict[str, Any]) -> Any:
        """The library's payload object of a call (checked against the version's schema)."""
        raise NotImplementedError

    async def send_call(self, action: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        """Send one call and return its result payload. Calls to one charge point queue in
        order (the library's lock); a disconnect ends the wait at once."""
        request = self.build_call(action, payload)
        unique_id = str(uuid.uuid4())
        self._awaited.add(unique_id)
        calling = asyncio.ensure_future(
            self.call(request, suppress=False, skip_schema_validation=True, unique_id=unique_id)
        )
        calling.add_done_callback(lambda _: self._awaited.discard(unique_id))
        closing = asyncio.ensure_future(self.closed.wait())
        try:
            done, _ = await asyncio.wait({calling, closing}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
        if calling not in done:
            calling.cancel()
            if closing in done:
                raise CommandError(ErrorCode.NOT_CONNECTED, f"{self.id} disconnected before answering {action}")
            raise CommandError(ErrorCode.TIMEOUT, f"{self.id} did not answer {action} within {timeout:g} s")
        try:
            result = calling.result()
        except OCPPError as error:
            raise CommandError(ErrorCode.CALL_ERROR, f"{error.code}: {error.description}") from None
        except TimeoutError:
            raise CommandError(ErrorCode.TIMEOUT, f"{self.id} did not answer {action} in time") from None
        except TypeError as error:  # a result with fields the version does not have
            raise CommandError(ErrorCode.CALL_ERROR, f"FormationViolation: {error}") from None
        except UnknownCallErrorCodeError as error:
            raise CommandError(ErrorCode.CALL_ERROR, str(error)) from None
        return result_payload(result)

    # -- frames from the charge point ---------------------------------------------------

    async def route_message(self, raw_msg: str) -> None:
        """Every frame gets what OCPP-J prescribes; none can end the session but a closed socket."""
        self.last_message = int(time.time() * 1000)
        try:
            await self._route(raw_msg)
        except ConnectionClosed:
            raise
        except Exception:
            log.exception("%s: a frame could not be handled (a bug); the connection stays open", self.id)

    async def _route(self, raw_msg: str) -> None:
        message = parse_frame(raw_msg)
        if not isinstance(message, (Call, Rejected)) and message.unique_id in self._awaited:
            self._response_queue.put_nowait(message)  # an answer to our call: never rate limited
            return
        if not self._bucket.allow():
            await self._refuse(message)
            return
        if self._refused:
            log.warning("%s slowed down; %d frames beyond the rate limit were refused", self.id, self._refused)
            self._refused = 0
        if isinstance(message, Rejected):
            await self._reject(message)
        elif isinstance(message, Call):
            await self._answer(message)
        else:
            log.warning(
                "%s answered a call that is not awaited (never made, or timed out): message id %r; dropped",
                self.id,
                message.unique_id[:40],
            )

    async def _reject(self, rejected: Rejected) -> None:
        log.warning("%s %s", self.id, rejected.problem)
        if rejected.reply is not None:
            await self._send(rejected.reply)

    async def _refuse(self, message: Any) -> None:
        """Beyond OCPP_MAX_CALLS_PER_SECOND: a CallError for calls, nothing for the rest; one
        log line per flood (at most one per FLOOD_LOG_INTERVAL). GenericError: OCPP-J's code
        for what no other code covers, and a 'failure to process the message', so charge points
        retry transaction messages."""
        now = time.monotonic()
        if self._refused == 0 and now - self._flood_warned_at >= FLOOD_LOG_INTERVAL:
            self._flood_warned_at = now
            log.warning(
                "%s sends more than %d calls per second; refusing the excess with CallError GenericError",
                self.id,
                self._limit,
            )
        self._refused += 1
        if isinstance(message, Call):
            description = f"rate limit exceeded: at most {self._limit} calls per second; retry later"
            await self._send(call_error(message.unique_id, "GenericError", description, {"limit": self._limit}))

    async def _answer(self, message: Call) -> None:
        rejected = check_call(message, self._handled, self._ocpp_version)
        if rejected is not None:
            await self._reject(rejected)
            return
        await self._dispatch(message)

    async def _dispatch(self, message: Call) -> None:
        """The library's ``_handle_call`` for a call check_call has passed (so its schema is not
        checked twice), with the same answers: the handler's result, checked against the
        response schema, or InternalError when the handler raised."""
        action = str(message.action)
        try:
            response = self.route_map[action]["_on_action"](**snake_case_keys(message.payload))
            if inspect.isawaitable(response):
                response = await response
        except Exception as error:
            log.exception("%s: error while handling %s", self.id, action)
            await self._send(message.create_call_error(error).to_json())
            return
        empty = type(response) in self.EMPTY_RESULTS  # answered {}, valid by its schema (checked at import)
        payload: dict[str, Any] = {} if empty else snake_to_camel_case(remove_nones(serialize_as_dict(response)))
        version = self._ocpp_version
        valid = empty or passes(action, payload, response=True, version=version)
        if not valid and not get_validator(CALLRESULT, action, version).is_valid(payload):
            # a bug, but answer anyway
            problem = f"our answer to {action} fails the OCPP {version} schema"
            log.warning("%s: answering %s failed: %s", self.id, action, problem)
            await self._send(call_error(message.unique_id, "FormationViolation", problem))
            return
        await self._send(_ENCODER.encode([CALLRESULT, message.unique_id, payload]))
