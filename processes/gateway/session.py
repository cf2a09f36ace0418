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
from collections.abc import Callable
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
from ocpp.exceptions import UnknownCallErrorCodeError
from ocpp.messages import Call, MessageType, get_validator
from websockets.exceptions import ConnectionClosed

from common.bus import INBOUND, OUTBOUND, ErrorCode
from common.schemas import passes
from processes.gateway.authorization import Authorizer
from processes.gateway.command_server import CommandError
from processes.gateway.frames import CALLRESULT, Rejected, call_error, check_call, parse_frame
from processes.gateway.pacing import Pacer
from processes.gateway.store import Store

log = logging.getLogger(__name__)


class SessionBus(Protocol):
    """What a session needs of the bus (``BusPublisher`` is one)."""

    def emit_event(self, cp: str, kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> None: ...
    def emit_raw(self, cp: str, direction: str, frame: str) -> None: ...
    async def committed(self) -> None: ...


class Lifecycle(Protocol):
    """Who is told when a charge point booted (the onboarding, ``processes/gateway/onboarding.py``):
    called once the answer to its BootNotification has been sent."""

    def booted(self, session: OcppSession) -> None: ...


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
        # 2.0.1's results all have an optional customData, which no handler here sets.
        fieldless = (
            isinstance(cls, type)
            and dataclasses.is_dataclass(cls)
            and all(item.name == "custom_data" for item in dataclasses.fields(cls))
        )
        if fieldless and passes(name, {}, response=True, version=version):
            empty.add(cls)
    return frozenset(empty)


def result_payload(result: Any) -> dict[str, Any]:
    """The camelCase payload of a call result object, without absent fields."""
    payload: dict[str, Any] = remove_nones(snake_to_camel_case(asdict(result)))
    return payload


async def _first_of(*waits: Any) -> None:
    """Wait until the first of these awaitables is done; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def log_security_event(cp_id: str, payload: dict[str, Any]) -> None:
    """A SecurityEventNotification (1.6 security extension, 2.0.1): logged at WARNING."""
    log.warning(
        "%s security event %s at %s%s",
        cp_id,
        payload.get("type"),
        payload.get("timestamp"),
        f": {payload['tech_info']}" if payload.get("tech_info") else "",
    )


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class OcppSession(ChargePoint):
    """The version-neutral part of a session. A subclass sets ``_ocpp_version`` (through the
    library's ``ChargePoint`` of its version), ``EMPTY_RESULTS`` and :meth:`build_call`."""

    #: Answers that are always ``{}`` (see :func:`empty_results`).
    EMPTY_RESULTS: frozenset[type] = frozenset()
    #: The websocket subprotocol of the version (``ocpp1.6``, ...).
    subprotocol: str = ""

    def __init__(
        self,
        cp_id: str,
        connection: Connection,
        *,
        bus: SessionBus,
        store: Store,
        heartbeat_interval: int,
        response_timeout: float,
        max_calls_per_second: int = 20,
        lifecycle: Lifecycle | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        # Our logger, not the library's: its unexpected handler errors are ours to report.
        super().__init__(cp_id, connection, response_timeout=response_timeout, logger=log)
        self._bus = bus
        #: Transactions across restarts (``store.py``); the version packages' handlers need it.
        self._store = store
        #: The ``interval`` of the BootNotification answer (OCPP_HEARTBEAT_INTERVAL).
        self._heartbeat_interval = heartbeat_interval
        #: ``OCPP_AUTHORIZE=listed``: the id tags file answers; None: every id tag is accepted.
        self._authorizer = authorizer
        self.connected_since = int(time.time() * 1000)
        self.last_message = self.connected_since
        #: Connector (1.6) or EVSE (2.0.1) id -> its last reported status.
        self.connectors: dict[int, str] = {}
        self.boot: dict[str, Any] = {}
        self.closed = asyncio.Event()
        self._pacer = Pacer(cp_id, max_calls_per_second)
        #: Our call waiting for its answer (message id -> the answer); other answers are dropped.
        self._awaited: dict[str, asyncio.Future[Any]] = {}
        self._handled = frozenset(action for action, hooks in self.route_map.items() if "_on_action" in hooks)
        self._lifecycle = lifecycle
        #: BootNotifications answered on this connection.
        self.boots = 0
        #: What onboarding learnt of the charge point (``v16/onboarding.py`` ``capabilities``).
        self.capabilities: dict[str, Any] = {}
        #: The charger profile in force for it (``charger_profiles.py``), as onboarding resolved it.
        self.charger_profile: dict[str, Any] = {}
        #: What a handler left to do once its answer is sent (see :meth:`after_answer`).
        self._after_answer: list[Callable[[], None]] = []
        #: Calls made for BEMCom or an operator (not background work) waiting or under way; the
        #: background (onboarding) waits until there are none.
        self._foreground = 0
        self._no_foreground = asyncio.Event()
        self._no_foreground.set()

    # -- frames in and out: the bus sees each one, and nothing leaves before its commit --------

    async def start(self) -> None:
        """The library's receive loop without its INFO line per frame (raw frames are the raw
        logger's job; logging each one cost more than answering it). Frames a throttled charge
        point sent ahead (``pacing.py``) come first."""
        connection, bus, cp_id, pacer = self._connection, self._bus, self.id, self._pacer
        while True:
            text = pacer.next_held() if pacer.held else None
            if text is None:
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

    def after_answer(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the answer to the call being handled has been sent (e.g. calls
        to the charge point that must follow its BootNotification's answer)."""
        self._after_answer.append(callback)

    def booted(self) -> None:
        """A handler's note that the charge point booted: the lifecycle hears of it after the answer."""
        self.boots += 1
        lifecycle = self._lifecycle
        if lifecycle is not None:
            self.after_answer(lambda: lifecycle.booted(self))

    # -- our calls to the charge point --------------------------------------------------

    def build_call(self, action: str, payload: dict[str, Any]) -> Any:
        """The library's payload object of a call (checked against the version's schema)."""
        raise NotImplementedError

    async def send_call(
        self,
        action: str,
        payload: dict[str, Any],
        timeout: float,  # noqa: ASYNC109 - it counts from the moment the call is sent
        queue_timeout: float | None = None,
        *,
        background: bool = False,
    ) -> dict[str, Any]:
        """Send one call and return its result payload.

        OCPP-J allows one outstanding call: calls to one charge point queue in order, and the next
        is sent only once the previous one is answered or has timed out. ``queue_timeout`` (default
        ``timeout``) bounds the wait in that queue (``Expired``: never sent); ``timeout`` bounds the
        wait for the answer, from the moment the call is sent (``Timeout``). A disconnect ends
        either wait at once (``NotConnected``).

        A ``background`` call (onboarding) lets every other call go first: it waits, without a
        bound, until no other call is waiting or under way, so a command written meanwhile waits
        at most for the one background call already sent."""
        request = self.build_call(action, payload)
        if background:
            await self._background_turn(action)
            return await self._call(action, request, timeout)
        self._foreground += 1
        self._no_foreground.clear()
        try:
            await self._take_turn(action, timeout if queue_timeout is None else queue_timeout)
        finally:
            self._foreground -= 1
            if not self._foreground:
                self._no_foreground.set()
        return await self._call(action, request, timeout)

    async def _background_turn(self, action: str) -> None:
        """Take the call lock once no foreground call waits for it (or raise NotConnected)."""
        while True:
            if self.closed.is_set():
                raise CommandError(ErrorCode.NOT_CONNECTED, f"{self.id} disconnected before {action} was sent")
            if not self._no_foreground.is_set():
                await _first_of(self._no_foreground.wait(), self.closed.wait())
                continue
            await self._take_turn(action, None)
            if self._foreground:  # a command came while we waited for the lock: it goes first
                self._call_lock.release()
                continue
            return

    async def _call(self, action: str, request: Any, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        """Send a call while holding the call lock (released here), and return its result."""
        unique_id = str(uuid.uuid4())
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._awaited[unique_id] = answer
        try:
            frame = Call(unique_id, action, remove_nones(snake_to_camel_case(serialize_as_dict(request))))
            try:
                await self._send(frame.to_json())
            except ConnectionClosed:
                raise CommandError(
                    ErrorCode.NOT_CONNECTED, f"{self.id} disconnected before {action} was sent"
                ) from None
            response = await self._answer_within(answer, action, timeout)
        finally:
            del self._awaited[unique_id]
            self._call_lock.release()
        return self._result(action, response)

    async def _take_turn(self, action: str, queue_timeout: float | None) -> None:
        """Hold the charge point's call lock (the library's), or raise Expired / NotConnected."""
        acquiring = asyncio.ensure_future(self._call_lock.acquire())
        closing = asyncio.ensure_future(self.closed.wait())
        try:
            await asyncio.wait({acquiring, closing}, timeout=queue_timeout, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled while waiting: never keep (or later take) the lock
            self._give_up_turn(acquiring)
            raise
        finally:
            closing.cancel()
        if acquiring.done() and not acquiring.cancelled() and not self.closed.is_set():
            return
        self._give_up_turn(acquiring)
        if self.closed.is_set():
            raise CommandError(ErrorCode.NOT_CONNECTED, f"{self.id} disconnected before {action} was sent")
        raise CommandError(
            ErrorCode.EXPIRED,
            f"{action} waited {queue_timeout:g} s behind an unanswered call to {self.id}; not sent",
        )

    def _give_up_turn(self, acquiring: asyncio.Future[Any]) -> None:
        if not acquiring.cancel():  # acquired after all, but it is too late: hand it on
            self._call_lock.release()

    async def _answer_within(self, answer: asyncio.Future[Any], action: str, timeout: float) -> Any:  # noqa: ASYNC109
        closing = asyncio.ensure_future(self.closed.wait())
        try:
            await asyncio.wait({answer, closing}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
        if answer.done():
            return answer.result()
        if self.closed.is_set():
            raise CommandError(ErrorCode.NOT_CONNECTED, f"{self.id} disconnected before answering {action}")
        raise CommandError(ErrorCode.TIMEOUT, f"{self.id} did not answer {action} within {timeout:g} s")

    def _result(self, action: str, response: Any) -> dict[str, Any]:
        """The answer's payload as the version's result class has it (unknown fields refused)."""
        if response.message_type_id == MessageType.CallError:
            try:
                error = response.to_exception()
            except UnknownCallErrorCodeError as unknown:
                raise CommandError(ErrorCode.CALL_ERROR, str(unknown)) from None
            raise CommandError(ErrorCode.CALL_ERROR, f"{error.code}: {error.description}")
        try:
            result = getattr(self._call_result, action)(**camel_to_snake_case(response.payload))
        except TypeError as error:  # a result with fields the version does not have
            raise CommandError(ErrorCode.CALL_ERROR, f"FormationViolation: {error}") from None
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
        if self._answers(message):
            return  # an answer to our call: never held back
        wait = self._pacer.delay()
        if wait > 0:
            await self._slow_down(wait)
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

    def _answers(self, message: Any) -> bool:
        """Hands an answer to our waiting call over; False for anything else."""
        if isinstance(message, (Call, Rejected)):
            return False
        answer = self._awaited.get(message.unique_id)
        if answer is None or answer.done():
            return False
        answer.set_result(message)
        return True

    async def _slow_down(self, wait: float) -> None:
        """Back-pressure: the frame being handled waits ``wait`` seconds for its token. Meanwhile
        what the charge point sends is read: answers to our calls are delivered, further frames
        held (beyond the pacer's bound, calls are refused with GenericError)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while (remaining := deadline - loop.time()) > 0:
            receiving = asyncio.ensure_future(self._connection.recv())
            try:
                done, _ = await asyncio.wait({receiving}, timeout=remaining)
            except BaseException:  # this session is cancelled: leave no recv() behind
                receiving.cancel()
                raise
            if not done:
                receiving.cancel()  # websockets: a cancelled recv() loses nothing
                try:
                    frame = await receiving
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise  # the session itself is cancelled, not only the recv()
                    return
            else:
                frame = receiving.result()
            text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            self._bus.emit_raw(self.id, INBOUND, text)
            message = parse_frame(text)
            if not self._answers(message) and not self._pacer.hold(text):
                await self._refuse(message)

    async def _reject(self, rejected: Rejected) -> None:
        log.warning("%s %s", self.id, rejected.problem)
        if rejected.reply is not None:
            await self._send(self.spelled(rejected.reply))

    def spelled(self, error_frame: str) -> str:
        """A CALLERROR frame of ``frames.py`` (OCPP-J 1.6's codes) as the version spells it."""
        return error_frame

    def identity(self) -> tuple[str | None, str | None, str | None]:
        """(vendor, model, firmware version) from the last BootNotification, where it told them."""
        return None, None, None

    async def _refuse(self, message: Any) -> None:
        """Beyond the pacer's bound: a CallError for calls, nothing for the rest. GenericError:
        OCPP-J's code for what no other code covers, and a 'failure to process the message', so
        charge points retry transaction messages."""
        if isinstance(message, Call):
            limit = self._pacer.rate
            description = f"rate limit exceeded: at most {limit} calls per second, one at a time; retry later"
            await self._send(call_error(message.unique_id, "GenericError", description, {"limit": limit}))

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
            await self._send(self.spelled(call_error(message.unique_id, "FormationViolation", problem)))
            return
        await self._send(_ENCODER.encode([CALLRESULT, message.unique_id, payload]))
        if self._after_answer:
            callbacks, self._after_answer = self._after_answer, []
            for callback in callbacks:
                callback()
