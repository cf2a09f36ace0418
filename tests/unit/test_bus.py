"""Unit tests of common.bus: topics, message codec and request/reply codec."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.bus import (
    ALIVE_TOPIC,
    EVENT_PREFIX,
    EVENT_STREAM,
    LOG_PREFIX,
    RAW_PREFIX,
    RAW_STREAM,
    BusError,
    ErrorCode,
    Event,
    GatewayAlive,
    LogEntry,
    Message,
    RawFrame,
    Reply,
    Request,
    decode,
    decode_reply,
    decode_request,
    encode,
    encode_reply,
    encode_request,
    event_topic,
    raw_topic,
    stream_prefix,
)
from tests.support.depth import examples

DOTTED_CP = "site.A CP 1.2"
TS = 1_790_000_000_000

MESSAGES: list[Message] = [
    Event(
        run="run-1",
        seq=7,
        cp=DOTTED_CP,
        kind="MeterValues",
        ts=TS,
        payload={"connector_id": 1, "meter_value": [{"timestamp": "2026-01-01T00:00:00Z", "sampled_value": []}]},
        ctx={"transaction": 123, "connector": 1},
    ),
    Event(run="run-1", seq=1, cp="CP_1", kind="Connected", ts=TS),
    RawFrame(run="run-1", seq=3, cp=DOTTED_CP, direction="in", ts=TS, frame='[2,"1","Heartbeat",{}]'),
    RawFrame(run="run-1", seq=4, cp="CP_1", direction="out", ts=TS, frame='[3,"1",{"currentTime":"x"}]'),
    GatewayAlive(run="run-1", ts=TS, heads={"event": 7, "raw": 4}, charge_points=2),
    LogEntry(process="gateway", ts=TS, level=30, msg="hello ✓", emitter="processes.gateway.app"),
]


def frames_of(body: Any, topic: bytes = b"event.X.CP") -> list[bytes]:
    return [topic, msgpack.packb(body, use_bin_type=True)]


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    frames = encode(message)
    assert len(frames) == 2
    assert all(isinstance(frame, bytes) for frame in frames)
    assert frames[0] == message.topic
    assert decode(frames) == message


def test_event_topic_with_dotted_charge_point_id() -> None:
    event = MESSAGES[0]
    assert isinstance(event, Event)
    frames = encode(event)
    assert frames[0] == b"event.MeterValues.site.A CP 1.2"
    assert frames[0] == event_topic("MeterValues", DOTTED_CP)
    assert frames[0].startswith(EVENT_PREFIX)
    decoded = decode(frames)
    assert isinstance(decoded, Event)
    assert decoded.cp == DOTTED_CP
    assert decoded.stream == EVENT_STREAM


def test_id_comes_from_the_payload_not_the_topic() -> None:
    event = Event(run="r", seq=1, cp="CP.1", kind="Heartbeat", ts=TS)
    frames = encode(event)
    decoded = decode([b"event.Heartbeat.something.else", frames[1]])
    assert isinstance(decoded, Event)
    assert decoded.cp == "CP.1"
    assert decoded.kind == "Heartbeat"


def test_raw_topic() -> None:
    frame = RawFrame(run="r", seq=1, cp="a.b", direction="out", ts=TS, frame="[]")
    assert frame.topic == raw_topic("out", "a.b") == b"raw.out.a.b"
    assert frame.topic.startswith(RAW_PREFIX)
    assert frame.stream == RAW_STREAM


def test_alive_and_log_topics() -> None:
    assert GatewayAlive(run="r", ts=TS, heads={}, charge_points=0).topic == ALIVE_TOPIC == b"gateway.alive"
    log_entry = LogEntry(process="bridge", ts=TS, level=20, msg="m", emitter="e")
    assert log_entry.topic == b"log.bridge"
    assert log_entry.topic.startswith(LOG_PREFIX)


def test_topic_prefixes_do_not_overlap() -> None:
    prefixes = [EVENT_PREFIX, RAW_PREFIX, ALIVE_TOPIC, LOG_PREFIX]
    for message in MESSAGES:
        matching = [prefix for prefix in prefixes if message.topic.startswith(prefix)]
        assert len(matching) == 1


def test_stream_prefix() -> None:
    assert stream_prefix(EVENT_STREAM) == EVENT_PREFIX
    assert stream_prefix(RAW_STREAM) == RAW_PREFIX


def test_non_ascii_charge_point_id_is_utf8_in_the_topic() -> None:
    event = Event(run="r", seq=1, cp="Ladesäule.1", kind="Heartbeat", ts=TS)
    assert event.topic == "event.Heartbeat.Ladesäule.1".encode()
    assert decode(encode(event)) == event


# --------------------------------------------------------------------------- decode errors


@pytest.mark.parametrize("payload", [b"", b"\xc1", b"\x92\x01", b"\x01\x02", b"\xd9\x01\xff"])
def test_decode_rejects_bad_msgpack(payload: bytes) -> None:
    with pytest.raises(BusError):
        decode([b"event.X.CP", payload])


@pytest.mark.parametrize("count", [0, 1, 3])
def test_decode_rejects_wrong_frame_count(count: int) -> None:
    frames = [*encode(MESSAGES[1]), b"extra"][:count]
    with pytest.raises(BusError, match="2 frames"):
        decode(frames)


@pytest.mark.parametrize(
    "body",
    [
        [1, 2, 3],
        "text",
        42,
        None,
        {"run": "r"},
        {"t": "teleport", "run": "r"},
        {"t": 1, "run": "r"},
        {"t": None},
    ],
)
def test_decode_rejects_non_maps_and_unknown_tags(body: Any) -> None:
    with pytest.raises(BusError):
        decode(frames_of(body))


@pytest.mark.parametrize(
    "body",
    [
        {"t": "event", "run": "r", "seq": 1, "cp": "CP", "kind": "Heartbeat"},  # no ts
        {"t": "raw", "run": "r", "seq": 1, "cp": "CP", "direction": "in", "ts": 1},  # no frame
        {"t": "alive", "run": "r", "ts": 1},
        {"t": "log", "process": "p"},
        {"t": "event", "run": "r", "seq": 1, "cp": "CP", "kind": "K", "ts": 1, "surprise": True},
        {"t": "event", 1: "r"},
    ],
)
def test_decode_rejects_missing_or_extra_fields(body: dict[Any, Any]) -> None:
    with pytest.raises(BusError):
        decode(frames_of(body))


def test_bus_error_is_a_value_error() -> None:
    assert issubclass(BusError, ValueError)


# --------------------------------------------------------------------------- requests and replies


def test_request_round_trip() -> None:
    request = Request(id="abc", command="call", args={"cp": "CP.1", "payload": {"a": [1, 2]}}, timeout=12.5)
    assert decode_request(encode_request(request)) == request


def test_request_defaults() -> None:
    request = decode_request(msgpack.packb({"id": 7, "command": "status"}))
    assert request == Request(id="7", command="status", args={}, timeout=5.0)


@pytest.mark.parametrize(
    "body",
    [
        {"command": "x"},
        {"id": "1"},
        {"id": "1", "command": "x", "timeout": "soon"},
        {"id": "1", "command": "x", "args": 5},
        [1, 2],
        "request",
    ],
)
def test_request_decode_errors(body: Any) -> None:
    with pytest.raises(BusError):
        decode_request(msgpack.packb(body))


def test_request_decode_rejects_non_msgpack() -> None:
    with pytest.raises(BusError):
        decode_request(b"\xc1")


@pytest.mark.parametrize(
    "reply",
    [
        Reply(id="1", ok=True, result={"status": "Accepted", "payload": {"status": "Accepted"}}),
        Reply(id="2", ok=True, result=None),
        Reply(id="3", ok=True, result=123456789),
        Reply(id="4", ok=False, error="Timeout", reason="no answer"),
    ],
)
def test_reply_round_trip(reply: Reply) -> None:
    assert decode_reply(encode_reply(reply)) == reply


def test_reply_failure() -> None:
    reply = Reply.failure("req-1", ErrorCode.NOT_CONNECTED, "CP_1 is not connected")
    assert reply == Reply(id="req-1", ok=False, result=None, error="NotConnected", reason="CP_1 is not connected")
    assert decode_reply(encode_reply(reply)) == reply


@pytest.mark.parametrize("body", [[1], {"ok": True}, {"id": "1", "ok": True, "unexpected": 1}, {"id": "1"}])
def test_reply_decode_errors(body: Any) -> None:
    with pytest.raises(BusError):
        decode_reply(msgpack.packb(body))


def test_error_codes_are_the_documented_names() -> None:
    assert {code.value for code in ErrorCode} >= {"NotConnected", "Timeout", "Rejected", "InvalidValue"}


# --------------------------------------------------------------------------- property


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=examples(200), deadline=None)
@given(
    cp=st.text(min_size=1),
    kind=st.text(min_size=1, max_size=40),
    seq=st.integers(min_value=1, max_value=2**63 - 1),
    payload=st.dictionaries(st.text(), json_values, max_size=6),
    ctx=st.dictionaries(st.text(), json_values, max_size=3),
)
def test_event_round_trip_property(cp: str, kind: str, seq: int, payload: dict[str, Any], ctx: dict[str, Any]) -> None:
    event = Event(run="run", seq=seq, cp=cp, kind=kind, ts=TS, payload=payload, ctx=ctx)
    frames = encode(event)
    assert frames[0] == b"event." + kind.encode() + b"." + cp.encode()
    assert decode(frames) == event
