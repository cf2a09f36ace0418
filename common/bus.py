"""The bus contract: topics, message types and their one msgpack codec.

Every bus message is a two-frame multipart ``[topic, payload]``. The topic is ASCII-ish
UTF-8, dot-separated, and starts with the kind of message, so a plain ZeroMQ SUB socket
can subscribe by prefix:

=================================  ==========================================
``event.<Kind>.<charge point id>``  what a charge point did (sequenced, stream ``event``)
``raw.<in|out>.<charge point id>``  one raw OCPP frame (sequenced, stream ``raw``)
``gateway.alive``                   gateway heartbeat with the head of each stream
``log.<process>``                   a log record for BEMCom's log topic
=================================  ==========================================

Charge point ids may contain dots: the id is always read from the payload, never from
the topic. Payloads are msgpack maps whose ``t`` field names the message type.

Commands (ROUTER/DEALER) are single-frame msgpack maps: :class:`Request` from a DEALER,
:class:`Reply` back from the gateway's ROUTER, matched by ``id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

import msgpack
import zmq
from zmq.backend import Socket as _BackendSocket

EVENT_STREAM = "event"
RAW_STREAM = "raw"
STREAMS = (EVENT_STREAM, RAW_STREAM)

EVENT_PREFIX = b"event."
RAW_PREFIX = b"raw."
ALIVE_TOPIC = b"gateway.alive"
LOG_PREFIX = b"log."

# Event kinds that are not OCPP actions.
CONNECTED = "Connected"
DISCONNECTED = "Disconnected"
#: A charge point's configuration pass ended (processes/gateway/onboarding.py): its outcome, the
#: capabilities learnt and the charger profile in force; ctx ``connectors``: the ids it has.
ONBOARDED = "Onboarding"
#: A charge point's local authorization list was checked against the id tags file
#: (processes/gateway/local_list.py): ``status``, what was done.
LOCAL_LIST = "LocalList"

# Raw frame directions.
INBOUND = "in"  # charge point -> central system
OUTBOUND = "out"  # central system -> charge point


class BusError(ValueError):
    """A bus message that cannot be decoded."""


@dataclass(frozen=True, slots=True)
class Event:
    """Something a charge point did. ``payload`` is the OCPP payload with snake_case keys;
    ``ctx`` holds what the gateway knows beyond it (resolved connector, transaction)."""

    run: str
    seq: int
    cp: str
    kind: str
    ts: int
    payload: dict[str, Any] = field(default_factory=dict)
    ctx: dict[str, Any] = field(default_factory=dict)

    stream = EVENT_STREAM

    @property
    def topic(self) -> bytes:
        return event_topic(self.kind, self.cp)


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One websocket text frame as it went over the wire."""

    run: str
    seq: int
    cp: str
    direction: str
    ts: int
    frame: str

    stream = RAW_STREAM

    @property
    def topic(self) -> bytes:
        return raw_topic(self.direction, self.cp)


@dataclass(frozen=True, slots=True)
class GatewayAlive:
    """Published every BUS_HEARTBEAT_INTERVAL: lets consumers see a new run or a lost tail."""

    run: str
    ts: int
    heads: dict[str, int]
    charge_points: int

    @property
    def topic(self) -> bytes:
        return ALIVE_TOPIC


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A log record of a process without its own MQTT connection, for BEMCom's log topic."""

    process: str
    ts: int
    level: int
    msg: str
    emitter: str

    @property
    def topic(self) -> bytes:
        return LOG_PREFIX + self.process.encode()


Message = Event | RawFrame | GatewayAlive | LogEntry
SequencedMessage = Event | RawFrame

_TYPES: dict[str, type[Message]] = {
    "event": Event,
    "raw": RawFrame,
    "alive": GatewayAlive,
    "log": LogEntry,
}
_TAGS: dict[type[Message], str] = {cls: tag for tag, cls in _TYPES.items()}
_FIELDS: dict[type[Message], tuple[str, ...]] = {cls: tuple(f.name for f in fields(cls)) for cls in _TYPES.values()}


def event_topic(kind: str, cp: str) -> bytes:
    return b"event." + kind.encode() + b"." + cp.encode()


def raw_topic(direction: str, cp: str) -> bytes:
    return b"raw." + direction.encode() + b"." + cp.encode()


def stream_prefix(stream: str) -> bytes:
    return EVENT_PREFIX if stream == EVENT_STREAM else RAW_PREFIX


_send_frame = _BackendSocket.send  # what zmq.Socket.send calls after its checks


def send_frames(socket: zmq.Socket[bytes], topic: bytes, body: bytes) -> None:
    """One bus message ``[topic, body]``, without blocking (zmq.Again when the socket's queue
    is full; a PUB socket drops instead). pyzmq's ``send_multipart`` spends five times as long
    on its per-frame Python checks as on sending; these frames are plain bytes."""
    _send_frame(socket, topic, zmq.SNDMORE | zmq.NOBLOCK)
    _send_frame(socket, body, zmq.NOBLOCK)


def pack(obj: Any) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


def unpack(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException, TypeError) as error:
        raise BusError(f"not msgpack: {error}") from None


def to_dict(message: Message) -> dict[str, Any]:
    """The fields of a message and its tag; nested values are shared, not copied (``asdict``
    copies them: a quarter of the gateway's cost of publishing, and nothing mutates them)."""
    cls = type(message)
    body = {name: getattr(message, name) for name in _FIELDS[cls]}
    body["t"] = _TAGS[cls]
    return body


def from_dict(body: Any) -> Message:
    if not isinstance(body, dict):
        raise BusError("payload is not a map")
    tag = body.pop("t", None)
    cls = _TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise BusError(f"unknown message type {tag!r}")
    try:
        return cls(**body)
    except TypeError as error:
        raise BusError(f"bad {tag} message: {error}") from None


def encode(message: Message) -> list[bytes]:
    """The multipart frames ``[topic, payload]`` of a message."""
    return [message.topic, pack(to_dict(message))]


def decode(frames: list[bytes]) -> Message:
    if len(frames) != 2:
        raise BusError(f"expected 2 frames, got {len(frames)}")
    return from_dict(unpack(frames[1]))


class ErrorCode(StrEnum):
    """Typed errors of command replies."""

    NOT_CONNECTED = "NotConnected"
    TIMEOUT = "Timeout"  # sent to the charge point, not answered in time
    EXPIRED = "Expired"  # waited too long behind earlier commands; never sent
    REJECTED = "Rejected"
    INVALID_VALUE = "InvalidValue"
    CALL_ERROR = "CallError"
    UNKNOWN_COMMAND = "UnknownCommand"
    GATEWAY_UNAVAILABLE = "GatewayUnavailable"
    INTERNAL_ERROR = "InternalError"


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    command: str
    args: dict[str, Any]
    timeout: float


@dataclass(frozen=True, slots=True)
class Reply:
    id: str
    ok: bool
    result: Any = None
    error: str | None = None
    reason: str = ""

    @classmethod
    def failure(cls, request_id: str, error: ErrorCode, reason: str) -> Reply:
        return cls(id=request_id, ok=False, error=error.value, reason=reason)


def encode_request(request: Request) -> bytes:
    # Shallow on purpose: ``asdict`` deep-copies the arguments.
    return pack({"id": request.id, "command": request.command, "args": request.args, "timeout": request.timeout})


def decode_request(data: bytes) -> Request:
    body = unpack(data)
    if not isinstance(body, dict):
        raise BusError("request is not a map")
    try:
        request = Request(
            id=str(body["id"]),
            command=str(body["command"]),
            args=dict(body.get("args") or {}),
            timeout=float(body.get("timeout", 5.0)),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise BusError(f"bad request: {error!r}") from None
    return request


def encode_reply(reply: Reply) -> bytes:
    # Shallow on purpose: ``asdict`` deep-copies the result (a replay of 500 messages cost the
    # gateway a fifth of its time that way).
    return pack({"id": reply.id, "ok": reply.ok, "result": reply.result, "error": reply.error, "reason": reply.reason})


def decode_reply(data: bytes) -> Reply:
    body = unpack(data)
    if not isinstance(body, dict) or "id" not in body:
        raise BusError("reply is not a map with an id")
    try:
        return Reply(**body)
    except TypeError as error:
        raise BusError(f"bad reply: {error}") from None
