"""QoS 2 publications without a socket: the flow's packets, the in-flight window, the serials, and
what a reconnection sends with and without the session."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from common.mqtt.confirmed import DUP, topic_head
from common.mqtt.exactly_once import MAX_IN_FLIGHT, PUBCOMP, PUBREC, PUBREL, ExactlyOncePublications

HEAD = topic_head(b"t")


def publications(max_in_flight: int = MAX_IN_FLIGHT) -> ExactlyOncePublications:
    counter = itertools.count(1)
    return ExactlyOncePublications(lambda: next(counter), max_in_flight)


def packets(data: bytes) -> list[bytes]:
    """Split a byte string of MQTT packets whose remaining lengths are one byte (small payloads)."""
    out, pos = [], 0
    while pos < len(data):
        length = data[pos + 1]
        assert length < 128
        out.append(data[pos : pos + 2 + length])
        pos += 2 + length
    return out


def taken(pubs: ExactlyOncePublications) -> list[bytes]:
    out = packets(bytes(pubs.output))
    pubs.output.clear()
    return out


def mid_of(packet: bytes) -> int:
    """The message id of a PUBLISH on topic "t" (or of a PUBREL)."""
    if packet[0] & 0xF0 == 0x30:
        return int.from_bytes(packet[5:7], "big")
    return int.from_bytes(packet[2:4], "big")


def test_a_publication_is_a_qos2_publish_then_a_pubrel_for_its_pubrec_and_confirmed_at_pubcomp() -> None:
    pubs = publications()
    pubs.add(HEAD, b"frame", True, sending=True)
    [publish] = taken(pubs)
    assert publish == bytes((0x35, 2 + 1 + 2 + 5)) + HEAD + (1).to_bytes(2, "big") + b"frame"
    assert (pubs.last_serial, pubs.confirmed_serial, len(pubs), pubs.in_flight) == (1, 0, 1, 1)
    assert pubs.acknowledge(PUBREC, 1)
    assert taken(pubs) == [bytes((PUBREL, 2, 0, 1))]
    assert pubs.confirmed_serial == 0  # a PUBREC is not the end of the flow
    assert pubs.acknowledge(PUBREC, 1) and taken(pubs) == [bytes((PUBREL, 2, 0, 1))]  # answered again
    assert pubs.acknowledge(PUBCOMP, 1)
    assert (pubs.confirmed_serial, len(pubs), pubs.in_flight) == (1, 0, 0)
    assert not pubs.acknowledge(PUBCOMP, 1) and not pubs.acknowledge(PUBREC, 7)  # not ours: paho's


def test_no_more_than_the_window_is_in_flight_and_each_pubcomp_lets_the_next_one_in() -> None:
    pubs = publications(max_in_flight=3)
    for n in range(10):
        pubs.add(HEAD, b"%d" % n, False, sending=True)
    first = taken(pubs)
    assert [p[7:] for p in first] == [b"0", b"1", b"2"]
    assert (pubs.in_flight, len(pubs), pubs.confirmed_serial) == (3, 10, 0)
    for packet in first:
        assert pubs.acknowledge(PUBREC, mid_of(packet))
    assert taken(pubs) == [bytes((PUBREL, 2, 0, m)) for m in (1, 2, 3)]
    assert pubs.acknowledge(PUBCOMP, 1)
    [next_one] = taken(pubs)
    assert next_one[7:] == b"3" and mid_of(next_one) == 4  # a message id taken when it is sent
    assert pubs.confirmed_serial == 1 and pubs.most_in_flight == 3


def test_held_while_disconnected_then_sent_on_resume() -> None:
    pubs = publications()
    for n in range(3):
        pubs.add(HEAD, b"%d" % n, False, sending=False)
    assert not pubs.output and pubs.in_flight == 0 and len(pubs) == 3
    pubs.resume(session_present=False)
    assert [p[7:] for p in taken(pubs)] == [b"0", b"1", b"2"]


def in_flight_states() -> tuple[ExactlyOncePublications, dict[bytes, int]]:
    """Four sent: "a" has its PUBREC, "b" nothing, "c" is complete (out of order), "d" nothing;
    "e" published while disconnected."""
    pubs = publications()
    for name in (b"a", b"b", b"c", b"d"):
        pubs.add(HEAD, name, False, sending=True)
    mids = {p[7:]: mid_of(p) for p in taken(pubs)}
    assert pubs.acknowledge(PUBREC, mids[b"a"])
    assert pubs.acknowledge(PUBREC, mids[b"c"]) and pubs.acknowledge(PUBCOMP, mids[b"c"])
    pubs.output.clear()
    pubs.add(HEAD, b"e", False, sending=False)  # published while disconnected
    return pubs, mids


def test_with_the_session_present_the_protocol_finishes_each_flow() -> None:
    pubs, mids = in_flight_states()
    pubs.resume(session_present=True)
    sent = taken(pubs)
    assert sent[0] == bytes((PUBREL, 2)) + mids[b"a"].to_bytes(2, "big")  # PUBREC'd: PUBREL again
    assert sent[1][0] == 0x34 | DUP and sent[1][7:] == b"b" and mid_of(sent[1]) == mids[b"b"]  # same id
    assert sent[2][0] == 0x34 | DUP and sent[2][7:] == b"d"
    assert sent[3][0] == 0x34 and sent[3][7:] == b"e"  # new, never sent
    assert len(sent) == 4 and pubs.republished == 0


def test_without_a_session_every_message_not_completed_is_published_again_as_a_new_one() -> None:
    pubs, mids = in_flight_states()
    assert pubs.confirmed_serial == 0
    pubs.resume(session_present=False)
    sent = taken(pubs)
    assert [p[7:] for p in sent] == [b"a", b"b", b"d", b"e"]  # in order; "c" was complete
    assert all(p[0] == 0x34 for p in sent)  # new messages: no DUP, no PUBREL
    assert not {mid_of(p) for p in sent} & set(mids.values())  # with new ids
    assert pubs.republished == 3 and pubs.confirmed_serial == 0
    for packet in sent:
        assert pubs.acknowledge(PUBREC, mid_of(packet)) and pubs.acknowledge(PUBCOMP, mid_of(packet))
    assert (pubs.confirmed_serial, len(pubs), pubs.in_flight) == (5, 0, 0)
    assert not pubs.acknowledge(PUBCOMP, mids[b"a"])  # the old id is no longer one of ours


def test_message_ids_in_flight_are_never_shared() -> None:
    ids = iter([1, 2, 1, 2, 3])  # a counter that comes round to ids still in flight
    pubs = ExactlyOncePublications(lambda: next(ids), 3)
    for _ in range(3):
        pubs.add(HEAD, b"x", False, sending=True)
    assert [mid_of(p) for p in taken(pubs)] == [1, 2, 3]


@given(st.lists(st.sampled_from(["add", "rec", "comp", "drop", "resume", "resume_session"]), max_size=80))
def test_serials_confirm_in_order_within_the_window_whatever_happens(steps: list[str]) -> None:
    """Against a model: the confirmed serial is the longest prefix of completed publications, the
    window is never exceeded, and in the end every publication completes exactly once."""
    pubs = publications(max_in_flight=4)
    completed: set[int] = set()
    wire: list[int] = []  # message ids of PUBLISHes the "broker" has seen and not answered
    connected = True

    def read_output() -> None:
        for packet in taken(pubs):
            if packet[0] & 0xF0 == 0x30:
                wire.append(mid_of(packet))

    def complete(mid: int) -> None:
        serial = next(e[0] for e in pubs._sent if e[4] == mid)
        assert pubs.acknowledge(PUBREC, mid) and pubs.acknowledge(PUBCOMP, mid)
        completed.add(serial)

    for step in [*steps, "resume"]:
        if step == "add":
            pubs.add(HEAD, b"x", False, sending=connected)
        elif step in ("rec", "comp") and connected and wire:
            mid = wire.pop(0)
            if step == "comp":
                complete(mid)
            else:
                assert pubs.acknowledge(PUBREC, mid)
        elif step == "drop":
            connected, wire = False, []
            pubs.output.clear()
        elif step.startswith("resume") and not connected:
            connected = True
            pubs.resume(session_present=step == "resume_session")
        read_output()
        assert pubs.in_flight <= 4
        prefix = 0
        while prefix + 1 in completed:
            prefix += 1
        assert pubs.confirmed_serial == prefix
    while pubs.in_flight:
        complete(next(e[4] for e in pubs._sent if e[5] != 3))
        read_output()
    assert completed == set(range(1, pubs.last_serial + 1))
    assert pubs.confirmed_serial == pubs.last_serial and len(pubs) == 0
