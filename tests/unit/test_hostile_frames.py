"""Hostile and malformed frames thrown at a real ChargePointSession (fake socket, in-memory
store): nothing raises, every reply is a well-formed CALLRESULT or CALLERROR with an OCPP-J
code, a CALL with a readable id gets exactly one answer, and each problem is logged once at
WARNING without a traceback."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processes.gateway.frames import OCPP16_ACTIONS, OCPP_J_ERROR_CODES
from processes.gateway.store import Store
from processes.gateway.v16.session import ChargePointSession
from tests.support.depth import examples


class FakeConnection:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def recv(self, decode: bool | None = None) -> str:
        raise AssertionError("route_message is driven directly")

    async def send(self, message: str) -> None:
        self.sent.append(message)


class FakeSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def emit_event(self, cp: str, kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> None:
        self.events.append((cp, kind, payload))

    def emit_raw(self, cp: str, direction: str, frame: str) -> None:
        pass

    async def committed(self) -> None:
        pass


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def at_least(self, level: int) -> list[logging.LogRecord]:
        return [record for record in self.records if record.levelno >= level]


@contextmanager
def recorded_logs() -> Iterator[Records]:
    handler = Records()
    loggers = [logging.getLogger(name) for name in ("processes", "ocpp")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def route(frames: list[str], rate: int = 100_000) -> tuple[list[list[Any]], FakeSink]:
    """Feed frames to a fresh session; return what it sent (parsed) and the events."""
    connection, sink, store = FakeConnection(), FakeSink(), Store(":memory:")

    async def run() -> None:
        session = ChargePointSession(
            "CP_1", connection, bus=sink, store=store, heartbeat_interval=300, response_timeout=1,
            max_calls_per_second=rate,
        )  # fmt: skip
        for frame in frames:
            await session.route_message(frame)

    try:
        asyncio.run(run())
    finally:
        store.close()
    return [json.loads(text) for text in connection.sent], sink


def assert_well_formed(reply: list[Any]) -> None:
    assert isinstance(reply, list)
    assert reply[0] in (3, 4), reply
    assert isinstance(reply[1], str)
    if reply[0] == 3:
        assert len(reply) == 3 and isinstance(reply[2], dict), reply
    else:
        assert len(reply) == 5, reply
        assert reply[2] in OCPP_J_ERROR_CODES, reply
        assert isinstance(reply[3], str) and isinstance(reply[4], dict), reply


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def readable_call_id(text: str) -> str | None:
    """The id a CALLERROR or CALLRESULT must carry: that of a CALL, also in a frame that is
    not valid JSON as a whole (read from its start), never for other message types."""
    try:  # NaN and Infinity are not JSON (RFC 8259), whatever Python's json accepts
        frame = json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError):
        start = re.match(r'\s*\[\s*2\s*,\s*"([^"\\]{0,36})"', text)
        return start.group(1) if start else None
    if isinstance(frame, list) and len(frame) >= 2 and type(frame[0]) is int and frame[0] == 2:
        return frame[1] if isinstance(frame[1], str) else None
    return None


# -- strategies ---------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "chargePointVendor", "chargePointModel", "connectorId", "errorCode", "status", "timestamp", "idTag",
    "meterStart", "meterStop", "transactionId", "meterValue", "vendorId", "data", "reason", "info",
]  # fmt: skip
field_values = (
    st.text(max_size=25)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from(["Available", "NoError", "Charging", "2024-01-01T00:00:00Z", "Bogus"])
    | st.sampled_from(["\ud800", "a\udfffb", "\U0001f600", "\ud83d"])  # lone surrogates: \u escapes in the frame
    | json_values
)
payloads = st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=6) | json_values
actions = st.sampled_from(sorted(OCPP16_ACTIONS)) | st.text(max_size=20)
unique_ids = st.text(max_size=40) | st.integers() | st.none()
message_types = st.sampled_from([2, 2, 2, 3, 4, 0, 5, -1, "2", True, 2.0, None])
frame_lists = st.one_of(
    st.tuples(message_types, unique_ids, actions, payloads).map(list),
    st.tuples(message_types, unique_ids, payloads).map(list),
    st.tuples(message_types, unique_ids, st.text(max_size=10), st.text(max_size=10), payloads).map(list),
    st.lists(json_values, max_size=6),
)
deep = st.integers(min_value=1, max_value=20_000).map(lambda depth: '[2,"deep","DataTransfer",' + "[" * depth)
big_ints = st.integers(min_value=-(2**64), max_value=2**64) | st.sampled_from([0, -1, 2**63 - 1, -(2**63), 2**63])
stamp = st.sampled_from(["2024-01-01T00:00:00Z", "yesterday", ""])
schema_valid_calls = st.one_of(
    st.builds(
        lambda uid, connector, meter, when: [2, uid, "StartTransaction",
            {"connectorId": connector, "idTag": "T", "meterStart": meter, "timestamp": when}],
        st.text(max_size=36), big_ints, big_ints, stamp,
    ),
    st.builds(
        lambda uid, tx, meter, when: [2, uid, "StopTransaction",
            {"transactionId": tx, "meterStop": meter, "timestamp": when}],
        st.text(max_size=36), big_ints, big_ints, stamp,
    ),
    st.builds(
        lambda uid, connector, tx, value: [2, uid, "MeterValues", {"connectorId": connector, "transactionId": tx,
            "meterValue": [{"timestamp": "2024-01-01T00:00:00Z", "sampledValue": [{"value": value}]}]}],
        st.text(max_size=36), big_ints, big_ints, st.text(max_size=10),
    ),
    st.builds(
        lambda uid, connector, status: [2, uid, "StatusNotification",
            {"connectorId": connector, "errorCode": "NoError", "status": status}],
        st.text(max_size=36), big_ints, st.sampled_from(["Available", "Charging", "Faulted"]),
    ),
)  # fmt: skip
frames = st.one_of(
    schema_valid_calls.map(json.dumps),
    frame_lists.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=60),
    deep,
    st.sampled_from(["", "[", "[]", "{}", "null", "[2]", "NaN", '[2,"x","Heartbeat",NaN]', "[2," + "9" * 5000 + "]"]),
)


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames, min_size=1, max_size=5))
def test_any_frames_get_well_formed_answers_and_never_raise(batch: list[str]) -> None:
    with recorded_logs() as logs:
        replies, _ = route(batch)
    for reply in replies:
        assert_well_formed(reply)
    expected_ids = [uid for uid in map(readable_call_id, batch) if uid is not None]
    assert [reply[1] for reply in replies] == expected_ids  # exactly one answer per CALL, in order
    assert len(logs.at_least(logging.WARNING)) <= len(batch)
    assert not logs.at_least(logging.ERROR), [record.getMessage() for record in logs.at_least(logging.ERROR)]
    assert not [record for record in logs.records if record.exc_info]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('[2,"a","Heartbeat",{}]', 3),
        ('[2,"a","Heartbeat",null]', 3),
        ('[2,"a","Heartbeat"]', "FormationViolation"),
        ('[2,"a","Heartbeat",[]]', "FormationViolation"),
        ('[2,"a",7,{}]', "FormationViolation"),
        ('[2,"' + "x" * 37 + '","Heartbeat",{}]', "FormationViolation"),
        ('[2,"a","Heartbeat",{]', "FormationViolation"),
        ('[2,"a","DataTransfer",' + "[" * 50_000 + "]" * 50_000 + "]", "FormationViolation"),
        ('[2,"a","FooBar",{}]', "NotImplemented"),
        ('[2,"a","Reset",{"type":"Hard"}]', "NotSupported"),
        ('[2,"a","BootNotification",{}]', "ProtocolError"),
        ('[2,"a","BootNotification",{"chargePointVendor":1,"chargePointModel":"m"}]', "TypeConstraintViolation"),
        ('[2,"a","BootNotification",{"chargePointVendor":"v","chargePointModel":"m","x":1}]', "FormationViolation"),
        ('[2,"a","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Bogus"}]',
         "PropertyConstraintViolation"),
        ('[2,"a","StartTransaction",{"connectorId":1,"idTag":"T","meterStart":' + str(2**70) +
         ',"timestamp":"2024-01-01T00:00:00Z"}]', "PropertyConstraintViolation"),
    ],
)  # fmt: skip
def test_each_defect_gets_the_callerror_ocpp_j_prescribes(frame: str, expected: int | str) -> None:
    with recorded_logs() as logs:
        [reply], _ = route([frame])
    assert_well_formed(reply)
    assert reply[1] == ("x" * 37 if "x" * 37 in frame else "a")
    if expected == 3:
        assert reply[0] == 3
        assert not logs.at_least(logging.WARNING)
    else:
        assert reply[0] == 4 and reply[2] == expected, reply
        [warning] = logs.at_least(logging.WARNING)
        assert warning.levelno == logging.WARNING and warning.exc_info is None
        assert "CP_1" in warning.getMessage() and str(expected) in warning.getMessage()


@pytest.mark.parametrize(
    "frame",
    ["not json", "", "{}", "[]", '[5,"a","Heartbeat",{}]', "[2]", '[2,17,"Heartbeat",{}]', '[3,"never-sent",{}]',
     '[4,"never-sent","GenericError","",{}]', '[3,"a"]', '["2","a","Heartbeat",{}]', "[" * 100_000],
)  # fmt: skip
def test_frames_without_an_answerable_id_are_logged_once_and_dropped(frame: str) -> None:
    with recorded_logs() as logs:
        replies, sink = route([frame, '[2,"after","Heartbeat",{}]'])
    assert [reply[:2] for reply in replies] == [[3, "after"]]  # the session carries on
    [warning] = logs.at_least(logging.WARNING)
    assert warning.levelno == logging.WARNING and warning.exc_info is None and "CP_1" in warning.getMessage()
    assert [kind for _, kind, _ in sink.events] == ["Heartbeat"]


@pytest.mark.parametrize(
    ("connector_id", "digits_elsewhere", "answered"),
    [
        ("18446744073709551616", False, "PropertyConstraintViolation"),  # 2**64
        ("-9223372036854775809", False, "PropertyConstraintViolation"),  # below int64
        ("9223372036854775807", False, None),  # the largest int64: fine (the schema has no maximum)
        ("1", True, None),  # a 19-digit run inside a string is no integer
    ],
)
def test_integers_beyond_64_bits_are_refused_whatever_the_shortcut(
    connector_id: str, digits_elsewhere: bool, answered: str | None
) -> None:
    from processes.gateway.frames import check_call, parse_frame

    status = f'{{"connectorId":{connector_id},"errorCode":"NoError","status":"Available"}}'
    frame = f'[2,"m1","StatusNotification",{status}]'
    if digits_elsewhere:
        frame = '[2,"m1","Authorize",{"idTag":"1234567890123456789"}]'
    call = parse_frame(frame)
    rejected = check_call(call, {"StatusNotification", "Authorize"})
    if answered is None:
        assert rejected is None
    else:
        assert rejected is not None and rejected.reply is not None
        assert json.loads(rejected.reply)[2] == answered


@pytest.mark.parametrize(
    ("id_tag", "answered"),
    [
        ("\\ud800", "FormationViolation"),  # a lone surrogate: no text, nothing could store it
        ("x\\uDFFFy", "FormationViolation"),
        ("\\ud83d\\ude00", None),  # a pair: one character, fine
        ("\\u00e9t\\u00e9", None),  # other escapes, fine
        ("ud800", None),
    ],
)
def test_lone_surrogates_are_refused_as_not_text(id_tag: str, answered: str | None) -> None:
    with recorded_logs() as logs:
        replies, sink = route([f'[2,"m1","Authorize",{{"idTag":"{id_tag}"}}]'])
    [reply] = replies
    assert_well_formed(reply)
    if answered is None:
        assert reply[0] == 3 and len(sink.events) == 1
    else:
        assert reply[0] == 4 and reply[2] == answered and "lone surrogate" in reply[3]
        assert sink.events == [] and not logs.at_least(logging.ERROR)
