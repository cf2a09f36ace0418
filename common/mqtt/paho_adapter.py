"""The one place that reaches into paho-mqtt's private members: a ``paho.Client`` subclass.

paho's public external-loop interface (``loop_read``/``loop_write``/``loop_misc`` and the socket
callbacks) lets the event loop drive it, but paho still writes each packet with its own ``send``,
reads each incoming packet with three or more ``recv`` calls, connects and shakes hands with TLS
blocking, and builds a message object, a reason code and a properties object per QoS 1 message.
:class:`GatheringClient` replaces exactly those private steps of paho 2.2 and nothing more.

Every private paho member it overrides, calls, reads or writes is listed once in
:data:`PAHO_PRIVATE_MEMBERS` (common/mqtt/paho_members.py, re-exported here), with what it is
used for; :data:`PAHO_HOOK_CALLERS` lists the paho
methods that call the overrides (how they call them is part of the contract too). Nothing
outside this module touches a private paho member. tests/unit/test_paho_contract.py checks them
against the installed paho: a paho upgrade that changes one of them fails there first.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode, _ConnectionState
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from common.mqtt.confirmed import MAX_PAYLOAD, PUBACK, ConfirmedPublications, topic_head
from common.mqtt.exactly_once import PUBCOMP, PUBREC, ExactlyOncePublications
from common.mqtt.paho_members import PAHO_HOOK_CALLERS, PAHO_PRIVATE_MEMBERS, PAHO_VERSION, PahoMember

__all__ = [
    "PAHO_HOOK_CALLERS",
    "PAHO_PRIVATE_MEMBERS",
    "PAHO_VERSION",
    "WRITE_BUFFER_LIMIT",
    "GatheringClient",
    "PahoMember",
]

#: Bytes asked of the socket per read.
READ_CHUNK = 65536
#: Bytes gathered for the socket before paho is told to hold its packets back.
WRITE_BUFFER_LIMIT = 1 << 20

#: What paho hands to an on_publish callback for a 3.1.1 PUBACK (no callback is set here).
_SUCCESS = ReasonCode(PacketTypes.PUBACK)
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]


class GatheringClient(paho.Client):
    """paho's client whose socket writes are gathered in :attr:`out_buffer` (MqttLink sends it
    once per loop iteration), whose reads come from 64 KiB chunks, whose TCP connection and TLS
    handshake MqttLink makes without blocking (:attr:`connected_socket`), and whose MQTT 3.1.1
    acknowledgements of confirmed publications take a short path (paho builds a reason code and
    a properties object for each, a fifth of the bridge's time).

    Confirmed publications (:meth:`publish_confirmed`, the loop's thread only) bypass paho's
    message objects: :attr:`confirmations` builds their packets and keeps them until confirmed,
    with QoS 1 (common/mqtt/confirmed.py: PUBACK) or, with ``confirmed_qos=2``, QoS 2
    (common/mqtt/exactly_once.py: PUBREC answered with PUBREL, PUBCOMP confirms). This class
    checks their topics as paho would, takes their message ids from paho's counter, writes them,
    and reads the broker's acknowledgements, which MQTT 3.1.1 sends in the order of the PUBLISH
    packets (4.6), in runs straight from the input chunk."""

    def __init__(self, *args: Any, confirmed_qos: Literal[1, 2] = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: A TCP connection MqttLink opened without blocking; paho's next connect uses it.
        self.connected_socket: socket.socket | None = None
        self.out_buffer = bytearray()
        self._in_chunk = b""
        self._in_pos = 0
        self._at_least_once = ConfirmedPublications()  # QoS 1, unless confirmed_qos is 2
        self._exactly_once = ExactlyOncePublications(self._mid_generate) if confirmed_qos == 2 else None
        self.confirmations: ConfirmedPublications | ExactlyOncePublications = (
            self._at_least_once if self._exactly_once is None else self._exactly_once
        )
        self._topic_heads: dict[str, bytes] = {}
        #: The last CONNACK's session-present flag (3.2.2.2).
        self.session_present = False
        #: Set when acknowledgements read put packets into ``out_buffer`` (PUBRELs, PUBLISHes let
        #: into the in-flight window): MqttLink writes them once the read is done, not gathered.
        self.replies_pending = False
        #: Called when a confirmed publication was put into ``out_buffer`` (MqttLink schedules a write).
        self.on_buffered: Callable[[], None] | None = None

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The context ``tls_set`` built (the CA, the broker's host name checked)."""
        return self._ssl_context

    def keep_sessions(self) -> None:
        """From the next CONNECT on, ask the broker to keep this client's session (clean session 0)."""
        self._clean_session = False

    # -- connecting ----------------------------------------------------------------------

    def _create_socket_connection(self) -> socket.socket:
        sock, self.connected_socket = self.connected_socket, None
        if sock is None:
            return super()._create_socket_connection()
        sock.setblocking(True)  # as paho's own socket.create_connection returns it
        sock.settimeout(self._connect_timeout)
        return sock

    def _ssl_wrap_socket(self, tcp_sock: socket.socket) -> ssl.SSLSocket:
        if isinstance(tcp_sock, ssl.SSLSocket):  # MqttLink did the handshake without blocking
            return tcp_sock
        wrapped: ssl.SSLSocket = super()._ssl_wrap_socket(tcp_sock)
        return wrapped

    def _handle_connack(self) -> MQTTErrorCode:
        packet = self._in_packet["packet"]
        self.session_present = bool(packet and packet[0] & 0x01)
        rc = super()._handle_connack()
        if self._state == _ConnectionState.MQTT_CS_CONNECTED:
            self.loop_write()  # what on_connect queued (SUBSCRIBE) leaves before the publications
            self._resend_confirmations()
        return rc

    # -- gathered writes, chunked reads -------------------------------------------------

    def _sock_send(self, buf: bytes | bytearray) -> int:
        if self._sock is None:
            raise ConnectionError("no connection")
        if len(self.out_buffer) >= WRITE_BUFFER_LIMIT:
            raise BlockingIOError  # paho keeps the packet queued until the buffer drains
        self.out_buffer += buf
        return len(buf)

    def _next_chunk(self) -> bool:
        """Make sure unread input is at hand: read the next chunk when this one is used up.
        False when the broker closed the connection; BlockingIOError when nothing came yet."""
        if self._in_pos < len(self._in_chunk):
            return True
        data: bytes = super()._sock_recv(READ_CHUNK)
        if not data:
            return False
        self._in_chunk, self._in_pos = data, 0
        return True

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self._next_chunk():
            return b""  # the broker closed the connection
        start = self._in_pos
        chunk = self._in_chunk[start : start + bufsize]
        self._in_pos = start + len(chunk)
        return chunk

    def has_buffered_input(self) -> bool:
        """Bytes already read from the socket (or decrypted by TLS) that paho has not parsed:
        the socket will not become readable for them again."""
        if self._in_pos < len(self._in_chunk):
            return True
        pending = getattr(self._sock, "pending", None)
        return bool(pending is not None and pending() > 0)

    def reset_buffers(self) -> None:
        self.out_buffer.clear()
        self._in_chunk, self._in_pos = b"", 0
        if self._exactly_once is not None:
            self._exactly_once.output.clear()
        self.replies_pending = False

    # -- acknowledgements ---------------------------------------------------------------

    def _packet_read(self) -> MQTTErrorCode:
        """Runs of acknowledgements for confirmed publications straight from the chunk; paho
        reads the rest."""
        if self._in_packet["command"] == 0 and self.confirmations:
            try:
                if not self._next_chunk():
                    return MQTTErrorCode.MQTT_ERR_CONN_LOST
            except BlockingIOError:
                return MQTTErrorCode.MQTT_ERR_AGAIN
            except OSError:
                return MQTTErrorCode.MQTT_ERR_CONN_LOST
            start = self._in_pos
            pos = self._read_acknowledgements(self._in_chunk, start)
            if pos != start:
                self._in_pos = pos
                self._last_bytes_received = time.monotonic()
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._packet_read()

    def _read_acknowledgements(self, chunk: bytes, pos: int) -> int:
        """Where the run of acknowledgements of confirmed publications from ``pos`` ends."""
        end = len(chunk) - 3
        exactly_once = self._exactly_once
        if exactly_once is None:
            confirm = self._at_least_once.confirm
            while pos < end and chunk[pos] == PUBACK and chunk[pos + 1] == 2:
                if not confirm((chunk[pos + 2] << 8) | chunk[pos + 3]):
                    break  # paho's own message: its handler takes this packet
                pos += 4
            return pos
        acknowledge = exactly_once.acknowledge
        while pos < end and chunk[pos + 1] == 2 and chunk[pos] in (PUBREC, PUBCOMP):
            if not acknowledge(chunk[pos], (chunk[pos + 2] << 8) | chunk[pos + 3]):
                break
            pos += 4
        self._take_output()
        return pos

    def _take_output(self) -> None:
        """The packets the QoS 2 bookkeeping produced, into ``out_buffer``, to be written soon."""
        output = self._exactly_once.output if self._exactly_once is not None else None
        if output:
            self.out_buffer += output
            output.clear()
            self.replies_pending = True

    def _short_ack(self, kind: int) -> int | None:
        """The message id of an MQTT 3.1.1 acknowledgement that is a confirmed publication's and
        was handled here; None for paho to handle (its own, MQTT 5, an on_publish callback)."""
        packet = self._in_packet["packet"]
        if self._protocol == paho.MQTTv5 or len(packet) != 2:
            return None
        mid = (packet[0] << 8) | packet[1]
        if self._exactly_once is not None:
            if not self._exactly_once.acknowledge(kind, mid):
                return None
            self._take_output()
            return mid
        if kind == PUBACK and self.on_publish is None and self._at_least_once.confirm(mid):
            return mid
        return None

    def _handle_pubrec(self) -> MQTTErrorCode:
        if self._short_ack(PUBREC) is not None:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._handle_pubrec()

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        if self._short_ack(PUBACK if cmd == "PUBACK" else PUBCOMP) is not None:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        packet = self._in_packet["packet"]
        if self._protocol == paho.MQTTv5 or len(packet) != 2 or self.on_publish is not None:
            return super()._handle_pubackcomp(cmd)
        # MQTT 3.1.1: the packet is the message id; no reason code, no properties.
        mid = (packet[0] << 8) | packet[1]
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, _SUCCESS, _NO_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    # -- confirmed publications ----------------------------------------------------------

    def _topic_head(self, topic: str) -> bytes:
        head = self._topic_heads.get(topic)
        if head is None:
            encoded = topic.encode("utf-8")
            self._raise_for_invalid_topic(encoded)
            head = topic_head(encoded)
            if len(self._topic_heads) >= 100_000:
                self._topic_heads.clear()
            self._topic_heads[topic] = head
        return head

    def publish_confirmed(self, topic: str, payload: bytes, retain: bool) -> int:
        """A QoS 1 (or 2) publication tracked by serial number (returned). Held while disconnected."""
        if self._protocol == paho.MQTTv5:
            raise RuntimeError("publish_confirmed speaks MQTT 3.1.1")
        head = self._topic_head(topic)
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("Payload too large.")
        written = self._state == _ConnectionState.MQTT_CS_CONNECTED and self._sock is not None
        exactly_once = self._exactly_once
        if exactly_once is not None:
            exactly_once.add(head, payload, retain, written)
            packet = bytes(exactly_once.output)
            exactly_once.output.clear()
        else:
            packet = self._at_least_once.add(head, self._free_mid(), payload, retain, written)
        if written and packet:
            self.out_buffer += packet
            if self.on_buffered is not None:
                self.on_buffered()
        return self.confirmations.last_serial

    def _free_mid(self) -> int:
        """The next message id not in flight: after 65535 publications paho's counter wraps, and
        two in flight with one id could never both be confirmed."""
        in_flight = self._at_least_once.in_flight
        for _ in range(65535):
            mid: int = self._mid_generate()
            if not in_flight(mid):
                return mid
        raise RuntimeError("65535 publications in flight: no message id is free (MQTT_MAX_PENDING bounds them)")

    def _resend_confirmations(self) -> None:
        """After a CONNACK: QoS 1, every unconfirmed publication again, in order (DUP if it was
        sent); QoS 2, as the session-present flag says (ExactlyOncePublications.resume)."""
        if not self.confirmations or self._sock is None:
            return
        if self._exactly_once is not None:
            self._exactly_once.resume(self.session_present)
            self.out_buffer += self._exactly_once.output
            self._exactly_once.output.clear()
        else:
            for packet in self._at_least_once.to_resend():
                self.out_buffer += packet
        if self.on_buffered is not None:
            self.on_buffered()
