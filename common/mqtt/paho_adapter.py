"""The one place that reaches into paho-mqtt's private members: a ``paho.Client`` subclass.

paho's public external-loop interface (``loop_read``/``loop_write``/``loop_misc`` and the socket
callbacks) lets the event loop drive it, but paho still writes each packet with its own ``send``,
reads each incoming packet with three or more ``recv`` calls, connects and shakes hands with TLS
blocking, and builds a message object, a reason code and a properties object per QoS 1 message.
:class:`GatheringClient` replaces exactly those private steps of paho 2.2 and nothing more.

Every private paho member it overrides, calls, reads or writes is listed once in
:data:`PAHO_PRIVATE_MEMBERS`, with what it is used for; :data:`PAHO_HOOK_CALLERS` lists the paho
methods that call the overrides (how they call them is part of the contract too). Nothing
outside this module touches a private paho member. tests/unit/test_paho_contract.py checks them
against the installed paho: a paho upgrade that changes one of them fails there first.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode, _ConnectionState
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from common.mqtt.confirmed import MAX_PAYLOAD, PUBACK, ConfirmedPublications, topic_head

#: The paho-mqtt release the members below were checked against (requirements.txt pins it).
PAHO_VERSION = "2.2.0"


@dataclass(frozen=True, slots=True)
class PahoMember:
    """A member of ``paho.mqtt.client.Client`` (or, with a dotted name, of a paho module) that
    this module depends on. For methods, ``signature`` is ``str(inspect.signature(...))`` and
    ``source_sha256`` the first 16 hex digits of the SHA-256 of ``inspect.getsource(...)``, both
    of paho's own method under PAHO_VERSION."""

    name: str
    kind: Literal["overridden", "called", "attribute", "module"]
    use: str
    signature: str = ""
    source_sha256: str = ""


# fmt: off
PAHO_PRIVATE_MEMBERS: tuple[PahoMember, ...] = (
    # -- methods overridden (each also calls paho's own through super()) --
    PahoMember(
        "_sock_send", "overridden",
        "socket writes go into out_buffer (MqttLink sends it once per loop iteration); BlockingIOError "
        "when it is full keeps paho's packet queued",
        "(self, buf: 'bytes | bytearray') -> 'int'", "300d9f1031bd0dbd",
    ),
    PahoMember(
        "_sock_recv", "overridden",
        "socket reads are served from a 64 KiB chunk; paho's own reads the next chunk",
        "(self, bufsize: 'int') -> 'bytes'", "c3b9043a46dd81b7",
    ),
    PahoMember(
        "_create_socket_connection", "overridden",
        "returns the TCP socket MqttLink connected without blocking; paho's own when there is none",
        "(self) -> '_socket.socket'", "fb7815d85a2c9461",
    ),
    PahoMember(
        "_ssl_wrap_socket", "overridden",
        "returns the SSL socket whose handshake MqttLink did without blocking; paho's own otherwise",
        "(self, tcp_sock: '_socket.socket') -> 'ssl.SSLSocket'", "a71513b1452dc33b",
    ),
    PahoMember(
        "_handle_pubackcomp", "overridden",
        "the MQTT 3.1.1 PUBACK without reason code and properties objects: confirms a confirmed "
        "publication, or completes paho's own message; paho's own for MQTT 5 and when on_publish is set",
        "(self, cmd: \"Literal['PUBACK', 'PUBCOMP']\") -> 'MQTTErrorCode'", "04d39ba283b1f3be",
    ),
    PahoMember(
        "_handle_connack", "overridden",
        "after paho's own: every unconfirmed confirmed publication is sent again once connected",
        "(self) -> 'MQTTErrorCode'", "39267140212c8b5f",
    ),
    PahoMember(
        "_packet_read", "overridden",
        "between packets, a run of PUBACKs for confirmed publications is read straight from the "
        "chunk; paho's own reads every other packet",
        "(self) -> 'MQTTErrorCode'", "bbe32d8af1e37955",
    ),
    # -- methods called --
    PahoMember(
        "_do_on_publish", "called",
        "completes paho's own QoS 1 message on the short PUBACK path, as paho's handler does",
        "(self, mid: 'int', reason_code: 'ReasonCode', properties: 'Properties') -> 'MQTTErrorCode'",
        "5bbcad6f9447107a",
    ),
    PahoMember(
        "_mid_generate", "called",
        "message ids of confirmed publications, from paho's counter: never one of paho's own in flight",
        "(self) -> 'int'", "55fc1e4a5f1584fb",
    ),
    PahoMember(
        "_raise_for_invalid_topic", "called",
        "the topic check of paho's publish (no wildcards, at most 65535 bytes) for confirmed publications",
        "(topic: 'bytes') -> 'None'", "985dad9e15a6396a",
    ),
    # -- attributes (instance attributes paho's __init__ sets) --
    PahoMember("_sock", "attribute", "read: None means not connected; its pending() counts decrypted TLS bytes"),
    PahoMember("_state", "attribute", "read: MQTT_CS_CONNECTED, a confirmed publication is written at once"),
    PahoMember(
        "_in_packet", "attribute",
        "read: 'command' 0 means between packets (a PUBACK run may be read), 'packet' is the variable header",
    ),
    PahoMember("_protocol", "attribute", "read: MQTTv5 takes paho's own paths (the short paths speak 3.1.1)"),
    PahoMember("_out_message_mutex", "attribute", "held while paho's own message for a PUBACK is looked up"),
    PahoMember("_out_messages", "attribute", "read: paho's own QoS 1/2 messages in flight, by message id"),
    PahoMember(
        "_last_bytes_received", "attribute",
        "written after a PUBACK run, as paho's read does (the keepalive's sign of a live broker)",
    ),
    PahoMember("_connect_timeout", "attribute", "read: the pre-connected socket's timeout, as paho's connect sets"),
    PahoMember("_ssl_context", "attribute", "read: tls_set's context, for MqttLink's handshake (ssl_context)"),
    # -- private names of paho's modules --
    PahoMember("paho.mqtt.enums._ConnectionState", "module", "MQTT_CS_CONNECTED, the value of _state compared"),
)

#: paho methods that call the overrides above: what they catch and do with the results is what
#: the overrides rely on, so their source is pinned as well (they are not touched here).
PAHO_HOOK_CALLERS: tuple[PahoMember, ...] = (
    PahoMember(
        "reconnect", "called",
        "resets _in_packet, calls _create_socket, makes the socket non-blocking, calls on_socket_open",
        "(self) -> 'MQTTErrorCode'", "3ecdf1a8299e8c8a",
    ),
    PahoMember(
        "_create_socket", "called",
        "calls _create_socket_connection, then _ssl_wrap_socket when TLS is set",
        "(self) -> 'SocketLike'", "3043436f2eb23690",
    ),
    PahoMember(
        "_packet_write", "called",
        "calls _sock_send with the rest of each packet; BlockingIOError keeps it queued (MQTT_ERR_AGAIN)",
        "(self) -> 'MQTTErrorCode'", "d097b7b51bed128d",
    ),
    PahoMember(
        "loop_read", "called",
        "calls _packet_read until MQTT_ERR_AGAIN, an error or its packet limit",
        "(self, max_packets: 'int' = 1) -> 'MQTTErrorCode'", "4fa11ca2d451dbec",
    ),
    PahoMember(
        "_packet_handle", "called",
        "hands PUBACK and PUBCOMP to _handle_pubackcomp, CONNACK to _handle_connack",
        "(self) -> 'MQTTErrorCode'", "ac4c129ed409db42",
    ),
)
# fmt: on

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
    PUBACKs take a short path (paho builds a reason code and a properties object for each, a
    fifth of the bridge's time).

    Confirmed publications (:meth:`publish_confirmed`, QoS 1, the loop's thread only) bypass
    paho's message objects: :attr:`confirmations` (common/mqtt/confirmed.py) builds their
    packets and keeps them until confirmed; this class checks their topics as paho would, takes
    their message ids from paho's counter, writes them, and reads the broker's PUBACKs, which
    MQTT 3.1.1 sends in the order of the PUBLISH packets (4.6), in runs straight from the input
    chunk."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: A TCP connection MqttLink opened without blocking; paho's next connect uses it.
        self.connected_socket: socket.socket | None = None
        self.out_buffer = bytearray()
        self._in_chunk = b""
        self._in_pos = 0
        self.confirmations = ConfirmedPublications()
        self._topic_heads: dict[str, bytes] = {}
        #: Called when a confirmed publication was put into ``out_buffer`` (MqttLink schedules a write).
        self.on_buffered: Callable[[], None] | None = None

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The context ``tls_set`` built (the CA, the broker's host name checked)."""
        return self._ssl_context

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
        rc = super()._handle_connack()
        if self._state == _ConnectionState.MQTT_CS_CONNECTED:
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

    # -- PUBACKs ---------------------------------------------------------------------------

    def _packet_read(self) -> MQTTErrorCode:
        """Runs of PUBACKs for confirmed publications straight from the chunk; paho reads the rest."""
        if self._in_packet["command"] == 0 and self.confirmations:
            try:
                if not self._next_chunk():
                    return MQTTErrorCode.MQTT_ERR_CONN_LOST
            except BlockingIOError:
                return MQTTErrorCode.MQTT_ERR_AGAIN
            except OSError:
                return MQTTErrorCode.MQTT_ERR_CONN_LOST
            chunk, pos = self._in_chunk, self._in_pos
            end = len(chunk) - 3
            start = pos
            confirm = self.confirmations.confirm
            while pos < end and chunk[pos] == PUBACK and chunk[pos + 1] == 2:
                if not confirm((chunk[pos + 2] << 8) | chunk[pos + 3]):
                    break  # paho's own message: its handler takes this packet
                pos += 4
            if pos != start:
                self._in_pos = pos
                self._last_bytes_received = time.monotonic()
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._packet_read()

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = self._in_packet["packet"]
        if self._protocol == paho.MQTTv5 or len(packet) != 2 or self.on_publish is not None:
            return super()._handle_pubackcomp(cmd)
        # MQTT 3.1.1: the packet is the message id; no reason code, no properties.
        mid = (packet[0] << 8) | packet[1]
        if cmd == "PUBACK" and self.confirmations.confirm(mid):
            return MQTTErrorCode.MQTT_ERR_SUCCESS
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
        """A QoS 1 publication tracked by serial number (returned). Held while disconnected."""
        if self._protocol == paho.MQTTv5:
            raise RuntimeError("publish_confirmed speaks MQTT 3.1.1")
        head = self._topic_head(topic)
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("Payload too large.")
        written = self._state == _ConnectionState.MQTT_CS_CONNECTED and self._sock is not None
        packet = self.confirmations.add(head, self._mid_generate(), payload, retain, written)
        if written:
            self.out_buffer += packet
            if self.on_buffered is not None:
                self.on_buffered()
        return self.confirmations.last_serial

    def _resend_confirmations(self) -> None:
        """After a CONNACK: every unconfirmed publication again, in order (DUP if it was sent)."""
        if not self.confirmations or self._sock is None:
            return
        for packet in self.confirmations.to_resend():
            self.out_buffer += packet
        if self.on_buffered is not None:
            self.on_buffered()
