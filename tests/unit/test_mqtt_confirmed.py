"""Confirmed publications without a socket: their packets and their serial-number bookkeeping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.mqtt.confirmed import (
    DUP,
    MAX_PAYLOAD,
    ConfirmedPublications,
    remaining_length,
    topic_head,
)

HEAD = topic_head(b"t")


def decode_remaining_length(data: bytes) -> tuple[int, int]:
    """MQTT 3.1.1, 2.2.3's decoding algorithm: (value, bytes used)."""
    value, multiplier = 0, 1
    for used, byte in enumerate(data, 1):
        value += (byte & 0x7F) * multiplier
        multiplier *= 128
        if not byte & 0x80:
            return value, used
    raise AssertionError("unterminated")


@given(st.integers(0, 268_435_455))
def test_the_remaining_length_decodes_to_itself_in_as_few_bytes_as_the_standard_says(length: int) -> None:
    encoded = remaining_length(length)
    assert decode_remaining_length(encoded) == (length, len(encoded))
    assert len(encoded) == 1 + (length >= 128) + (length >= 16_384) + (length >= 2_097_152)


@given(st.text(min_size=1, max_size=50), st.integers(1, 65_535), st.binary(max_size=300), st.booleans())
def test_a_publish_packet_carries_topic_id_payload_and_flags(
    topic: str, mid: int, payload: bytes, retain: bool
) -> None:
    encoded = topic.encode("utf-8")
    confirmed = ConfirmedPublications()
    packet = confirmed.add(topic_head(encoded), mid, payload, retain, written=True)
    assert confirmed.last_serial == 1
    assert packet[0] == 0x32 | retain  # PUBLISH, QoS 1, no DUP
    length, used = decode_remaining_length(packet[1:])
    body = packet[1 + used :]
    assert len(body) == length
    assert int.from_bytes(body[:2], "big") == len(encoded)
    assert body[2 : 2 + len(encoded)] == encoded
    assert int.from_bytes(body[2 + len(encoded) : 4 + len(encoded)], "big") == mid
    assert body[4 + len(encoded) :] == payload


def test_the_empty_topic_is_refused_and_the_largest_payload_is_what_a_packet_can_hold() -> None:
    with pytest.raises(ValueError, match="Invalid topic"):
        topic_head(b"")
    assert MAX_PAYLOAD + 2 + 65_535 + 2 == 268_435_455  # topic length, longest topic, message id


def test_serials_count_up_and_in_order_confirmations_move_the_confirmed_serial() -> None:
    confirmed = ConfirmedPublications()
    assert (confirmed.last_serial, confirmed.confirmed_serial, len(confirmed)) == (0, 0, 0)
    serials = []
    for mid in (7, 8, 9):
        confirmed.add(HEAD, mid, b"p", False, written=True)
        serials.append(confirmed.last_serial)
    assert serials == [1, 2, 3] and confirmed.last_serial == 3 and len(confirmed) == 3
    assert confirmed.confirm(7) and confirmed.confirmed_serial == 1
    assert confirmed.confirm(8) and confirmed.confirm(9)
    assert (confirmed.confirmed_serial, len(confirmed)) == (3, 0)


def test_a_mid_that_is_not_a_confirmed_publications_is_left_to_paho() -> None:
    confirmed = ConfirmedPublications()
    confirmed.add(HEAD, 1, b"p", False, written=True)
    assert not confirmed.confirm(2)
    assert confirmed.confirm(1)
    assert not confirmed.confirm(1)  # confirmed once only
    assert confirmed.confirmed_serial == 1


def test_an_out_of_order_confirmation_waits_for_the_older_ones() -> None:
    confirmed = ConfirmedPublications()
    for mid in (1, 2, 3):
        confirmed.add(HEAD, mid, b"", False, written=True)
    assert confirmed.confirm(2)
    assert (confirmed.confirmed_serial, len(confirmed)) == (0, 3)
    assert confirmed.confirm(1)
    assert (confirmed.confirmed_serial, len(confirmed)) == (2, 1)


def test_after_a_reconnection_the_unconfirmed_are_resent_in_order_dup_only_if_written_before() -> None:
    confirmed = ConfirmedPublications()
    packets = {mid: confirmed.add(HEAD, mid, b"%d" % mid, False, written=mid != 4) for mid in (1, 2, 3, 4)}
    assert confirmed.confirm(2)  # out of order: not sent again
    resent = list(confirmed.to_resend())
    assert resent == [
        bytes((packets[1][0] | DUP,)) + packets[1][1:],
        bytes((packets[3][0] | DUP,)) + packets[3][1:],
        packets[4],
    ]
    assert all(packet[0] & DUP for packet in confirmed.to_resend())  # every one was written by now
    assert len(confirmed) == 4 and confirmed.confirmed_serial == 0


@given(st.permutations(range(1, 21)))
def test_the_confirmed_serial_is_the_longest_fully_confirmed_prefix_whatever_the_order(order: list[int]) -> None:
    confirmed = ConfirmedPublications()
    for mid in range(1, 21):
        confirmed.add(HEAD, mid, b"", False, written=True)  # serial == mid
    done: set[int] = set()
    for mid in order:
        assert confirmed.confirm(mid)
        done.add(mid)
        prefix = 0
        while prefix + 1 in done:
            prefix += 1
        assert confirmed.confirmed_serial == prefix
        assert len(confirmed) == 20 - prefix
    assert confirmed.confirmed_serial == confirmed.last_serial == 20


def test_message_ids_in_flight_are_never_given_twice() -> None:
    """Past 65535 publications paho's id counter wraps: an id still awaiting its PUBACK is skipped,
    and with every id in flight the publication is refused instead of overwriting one."""
    from paho.mqtt.enums import CallbackAPIVersion

    from common.mqtt.paho_adapter import GatheringClient

    client = GatheringClient(CallbackAPIVersion.VERSION2, client_id="test", clean_session=True)
    for _ in range(65535):
        client.publish_confirmed("t", b"{}", False)
    with pytest.raises(RuntimeError, match="no message id is free"):
        client.publish_confirmed("t", b"{}", False)
    confirmations = client.confirmations
    assert isinstance(confirmations, ConfirmedPublications)
    assert all(confirmations.in_flight(mid) for mid in range(1, 65536))
    assert confirmations.confirm(7) and not confirmations.in_flight(7)
    client.publish_confirmed("t", b"{}", False)  # takes the freed id 7
    assert confirmations.in_flight(7)
