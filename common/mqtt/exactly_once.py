"""Exactly-once publications: MQTT 3.1.1 QoS 2 packets and their bookkeeping, without paho.

BEMCom's raw messages go with QoS 2, exactly once into its database (BEMCOM.md). Each one runs
the flow PUBLISH -> PUBREC -> PUBREL -> PUBCOMP (4.3.3) and counts as confirmed at its PUBCOMP;
serial numbers and ``confirmed_serial`` mean what they mean for QoS 1 (common/mqtt/confirmed.py),
so common/delivery.py acknowledges a bus message only once all it caused is complete.

At most ``max_in_flight`` messages are between PUBLISH and PUBCOMP at once: mosquitto 2.0 takes
only ``max_inflight_messages`` (20 by default) QoS 2 messages in flight from an MQTT 3.1.1
client and acknowledges the rest with a PUBREC before dropping them (OCPP_NOTES.md). The others
wait here, in order, without a message id: each takes one when it is sent.

After a reconnection, :meth:`resume` follows the CONNACK's session-present flag (4.4):
- present: the broker kept its half of every flow, and the protocol finishes them: PUBREL
  again for each message with a PUBREC, PUBLISH again (DUP set, the same id) for the others;
- absent (a new session, or a broker that lost its state): the broker knows none of them, and a
  PUBREL for an id it does not know is answered with PUBCOMP as if the message were delivered
  (OCPP_NOTES.md). So every message not yet completed is published again as a new message,
  with a new id. A broker forwards a QoS 2 message at the PUBREL (mosquitto does), so this only
  repeats one it had forwarded before it lost its state.

Nothing here touches a socket or paho: common/mqtt/paho_adapter.py hands in the packets read
and takes the packets to write from :attr:`output`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from common.mqtt.confirmed import DUP, remaining_length

#: PUBLISH with QoS 2 (3.3.1); | 0x01 sets the retain flag, | DUP the re-delivery flag.
PUBLISH_QOS2 = 0x34
#: First bytes of PUBREC, PUBREL (its reserved flags are 0010, 3.6.1) and PUBCOMP; their
#: remaining length is always 2 in MQTT 3.1.1, the message id.
PUBREC, PUBREL, PUBCOMP = 0x50, 0x62, 0x70
_PUBREL_HEAD = bytes((PUBREL, 2))
#: mosquitto's default ``max_inflight_messages``: QoS 2 messages in flight at most.
MAX_IN_FLIGHT = 20

# The fields of an entry; its state: waiting (no id yet), published (PUBREC awaited),
# released (PUBREL sent, PUBCOMP awaited), complete.
_SERIAL, _HEAD, _PAYLOAD, _RETAIN, _MID, _STATE = range(6)
_WAITING, _PUBLISHED, _RELEASED, _COMPLETE = range(4)


class ExactlyOncePublications:
    """The QoS 2 publications not yet complete, oldest first: the ones sent (at most
    ``max_in_flight`` not complete) and behind them the ones waiting for room."""

    def __init__(self, next_mid: Callable[[], int], max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._next_mid = next_mid
        self.max_in_flight = max_in_flight
        self._sent: deque[list[Any]] = deque()  # oldest first; a complete one stays until the older are
        self._waiting: deque[list[Any]] = deque()
        self._by_mid: dict[int, list[Any]] = {}  # sent and not complete
        self.last_serial = 0
        self.confirmed_serial = 0
        #: Packets to write; the adapter moves them to the socket's buffer after each call.
        self.output = bytearray()
        self.most_in_flight = 0  # the most ever in flight at once (within max_in_flight)
        self.republished = 0  # messages published again as new after a reconnection without session

    def __len__(self) -> int:
        """Publications not confirmed yet (waiting or in flight)."""
        return len(self._sent) + len(self._waiting)

    @property
    def in_flight(self) -> int:
        return len(self._by_mid)

    @property
    def awaiting_pubcomp(self) -> int:
        """In flight with their PUBREC (their PUBREL sent)."""
        return sum(1 for entry in self._by_mid.values() if entry[_STATE] == _RELEASED)

    def add(self, head: bytes, payload: bytes, retain: bool, sending: bool) -> None:
        """A new publication (serial :attr:`last_serial`), sent at once if ``sending`` (connected)
        and there is room; ``head`` from :func:`common.mqtt.confirmed.topic_head`."""
        self.last_serial += 1
        self._waiting.append([self.last_serial, head, payload, retain, 0, _WAITING])
        if sending and len(self._by_mid) < self.max_in_flight:
            self.send_waiting()

    def send_waiting(self) -> None:
        """Waiting publications into :attr:`output` as far as the in-flight limit allows; only
        while connected."""
        waiting, by_mid, output = self._waiting, self._by_mid, self.output
        while waiting and len(by_mid) < self.max_in_flight:
            entry = waiting.popleft()
            mid = self._next_mid()
            while mid in by_mid:  # never two in flight with one id
                mid = self._next_mid()
            entry[_MID], entry[_STATE] = mid, _PUBLISHED
            by_mid[mid] = entry
            self._sent.append(entry)
            output += _publish_packet(entry, 0)
        self.most_in_flight = max(self.most_in_flight, len(by_mid))

    def acknowledge(self, kind: int, mid: int) -> bool:
        """A PUBREC or PUBCOMP (``kind``, its first byte) for ``mid``: False when it is not one of
        these publications' (then it is paho's own)."""
        entry = self._by_mid.get(mid)
        if entry is None:
            return False
        if kind == PUBREC:
            entry[_STATE] = _RELEASED  # a repeated PUBREC is answered again (4.3.3)
            self.output += _PUBREL_HEAD + mid.to_bytes(2, "big")
            return True
        if kind != PUBCOMP:
            return False
        del self._by_mid[mid]
        entry[_STATE], entry[_PAYLOAD] = _COMPLETE, b""
        sent = self._sent
        while sent and sent[0][_STATE] == _COMPLETE:
            sent.popleft()
        self._update_confirmed()
        if self._waiting:
            self.send_waiting()
        return True

    def resume(self, session_present: bool) -> None:
        """After a CONNACK: finish the flows the broker kept, or publish again as new what it
        cannot know; then send what waits, as far as there is room."""
        if session_present:
            for entry in self._sent:
                if entry[_STATE] == _PUBLISHED:
                    self.output += _publish_packet(entry, DUP)
                elif entry[_STATE] == _RELEASED:
                    self.output += _PUBREL_HEAD + entry[_MID].to_bytes(2, "big")
        else:
            unfinished = [entry for entry in self._sent if entry[_STATE] != _COMPLETE]
            for entry in unfinished:
                entry[_STATE] = _WAITING
            self._sent.clear()
            self._by_mid.clear()
            self._waiting.extendleft(reversed(unfinished))
            self.republished += len(unfinished)
        self.send_waiting()

    def _update_confirmed(self) -> None:
        if self._sent:
            self.confirmed_serial = self._sent[0][_SERIAL] - 1
        elif self._waiting:
            self.confirmed_serial = self._waiting[0][_SERIAL] - 1
        else:
            self.confirmed_serial = self.last_serial


def _publish_packet(entry: list[Any], dup: int) -> bytes:
    head: bytes = entry[_HEAD]
    payload: bytes = entry[_PAYLOAD]
    return b"".join(
        (
            bytes((PUBLISH_QOS2 | entry[_RETAIN] | dup,)),
            remaining_length(len(head) + 2 + len(payload)),
            head,
            entry[_MID].to_bytes(2, "big"),
            payload,
        )
    )
