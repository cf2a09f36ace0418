"""Confirmed publications: MQTT 3.1.1 QoS 1 PUBLISH packets and their bookkeeping, without paho.

Sensor values and raw messages are many and small; paho builds a message object, an info with
a ``threading.Condition`` and a queue entry for each (a third of the bridge's time). Here a
publication is a packet built directly and, while in flight, a short list in a deque. Each gets
a serial number; ``confirmed_serial`` says up to which serial all of them have their PUBACK,
which is what a consumer needs before it acknowledges what caused them (common/delivery.py).

Nothing here touches a socket or paho: :class:`common.mqtt.paho_adapter.GatheringClient` hands
in the message ids it takes from paho and the PUBACKs it reads, and writes what comes out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

#: PUBLISH with QoS 1 (MQTT 3.1.1, 3.3.1); | 0x01 sets the retain flag, | DUP the re-delivery flag.
PUBLISH_QOS1 = 0x32
DUP = 0x08
#: A PUBACK's first byte; its remaining length is always 2, the message id (3.4).
PUBACK = 0x40
#: The largest payload: the largest remaining length, less the topic's length field, the largest
#: topic and the message id.
MAX_PAYLOAD = 268_435_455 - 65_535 - 4

# The fields of an in-flight entry: a list, the cheapest record to build once per publication.
_MID, _SERIAL, _PACKET, _WRITTEN, _CONFIRMED = range(5)


def remaining_length(length: int) -> bytes:
    """MQTT's variable-length integer (3.1.1, 2.2.3)."""
    if length < 128:
        return bytes((length,))
    out = bytearray()
    while True:
        digit, length = length & 0x7F, length >> 7
        if length:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


def topic_head(encoded: bytes) -> bytes:
    """A topic as PUBLISH carries it: its UTF-8 bytes behind a two-byte length. Refuses the
    empty topic; wildcards and the length are paho's to check (the adapter asks it first)."""
    if not encoded:
        raise ValueError("Invalid topic.")
    return len(encoded).to_bytes(2, "big") + encoded


class ConfirmedPublications:
    """The confirmed publications in flight, oldest first, each with its message id and serial.

    MQTT 3.1.1 brokers send PUBACKs in the order of the PUBLISH packets (4.6): the oldest entry is
    normally the one confirmed, and ``confirmed_serial`` moves forward as the front of the deque
    is confirmed. A broker that confirms out of order only holds ``confirmed_serial`` back until
    the older ones are confirmed too. After a reconnection every unconfirmed one is sent again
    (:meth:`to_resend`), as paho does with its own messages."""

    def __init__(self) -> None:
        #: Oldest first: [mid, serial, packet, written, confirmed].
        self._in_flight: deque[list[Any]] = deque()
        self._by_mid: dict[int, list[Any]] = {}
        self.last_serial = 0  # of the newest confirmed publication
        self.confirmed_serial = 0  # every confirmed publication up to this serial has its PUBACK

    def __len__(self) -> int:
        """Publications in flight from the oldest unconfirmed one on (brokers confirm in order:
        in practice, the ones the broker has not confirmed yet)."""
        return len(self._in_flight)

    def add(self, head: bytes, mid: int, payload: bytes, retain: bool, written: bool) -> bytes:
        """A new publication: its PUBLISH packet, to be written to the socket now if ``written``
        (else after the next CONNACK); its serial is then :attr:`last_serial`. ``head`` comes
        from :func:`topic_head`; ``payload`` is at most MAX_PAYLOAD bytes (the caller checks
        before it takes a message id for it)."""
        packet = b"".join(
            (
                bytes((PUBLISH_QOS1 | retain,)),
                remaining_length(len(head) + 2 + len(payload)),
                head,
                mid.to_bytes(2, "big"),
                payload,
            )
        )
        self.last_serial += 1
        entry = [mid, self.last_serial, packet, written, False]
        self._in_flight.append(entry)
        self._by_mid[mid] = entry
        return packet

    def in_flight(self, mid: int) -> bool:
        """Whether a publication with this message id awaits its PUBACK."""
        return mid in self._by_mid

    def confirm(self, mid: int) -> bool:
        """A PUBACK: False when ``mid`` is not a confirmed publication's (one of paho's own)."""
        entry = self._by_mid.pop(mid, None)
        if entry is None:
            return False
        entry[_CONFIRMED] = True
        in_flight = self._in_flight
        while in_flight and in_flight[0][_CONFIRMED]:
            in_flight.popleft()
        self.confirmed_serial = in_flight[0][_SERIAL] - 1 if in_flight else self.last_serial
        return True

    def to_resend(self) -> Iterator[bytes]:
        """After a CONNACK: the packet of every unconfirmed publication, in order, with DUP set
        if it was written before (3.3.1.1); each counts as written from then on."""
        for entry in self._in_flight:
            if entry[_CONFIRMED]:
                continue  # confirmed out of order already
            packet: bytes = entry[_PACKET]
            if entry[_WRITTEN]:
                packet = bytes((packet[0] | DUP,)) + packet[1:]
            entry[_WRITTEN] = True
            yield packet
