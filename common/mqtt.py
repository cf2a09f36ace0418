"""The MQTT connection of a process: paho-mqtt 2, driven by the process's asyncio loop.

paho's network thread (``loop_start``) costs a thread wake-up, a socket-pair write and a lock
hand-over for every publication, and paho writes each MQTT packet with its own ``send`` and
reads each incoming packet with three or more ``recv`` calls. Here paho runs in the event loop
instead (its documented external-loop interface: ``loop_read``/``loop_write``/``loop_misc`` and
the socket callbacks), and the socket I/O is gathered: packets leave in one ``send`` per loop
iteration (per 2 ms when the link is busy), incoming bytes are read 64 KiB at a time. paho keeps
everything else: packet encoding, QoS flows, re-sending unconfirmed messages after a reconnection.

Subscriptions are (re)made in the on-connect path every time, so a broker restart or a clean
session never loses them. Reconnects back off exponentially, capped, with jitter. ``publish``
may be called from any thread (log records); everything else runs in the loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, _ConnectionState
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from common.settings import MqttSettings

log = logging.getLogger(__name__)

#: Bytes asked of the socket per read.
READ_CHUNK = 65536
#: Bytes gathered for the socket before paho is told to hold its packets back.
WRITE_BUFFER_LIMIT = 1 << 20
#: Seconds a busy link gathers packets before the next ``send`` (see MqttLink._schedule_write).
GATHER_INTERVAL = 0.002
#: Seconds between two ``loop_misc`` calls (keepalive pings, a silent broker detected).
MISC_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class MqttMessage:
    topic: str
    payload: bytes
    retain: bool


#: One encoder for every payload (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=str)


def to_json(payload: Any) -> str:
    """BEMCom parses every payload as JSON: never publish anything else (no NaN either)."""
    return _ENCODER.encode(payload)


_PUBLISH_QOS1 = 0x32  # PUBLISH, QoS 1 (MQTT 3.1.1, 3.3.1); | 0x01 retain, | 0x08 DUP
_PUBACK = 0x40
MAX_PAYLOAD = 268_435_455 - 65_535 - 4  # the largest remaining length, less topic and id


def _remaining_length(length: int) -> bytes:
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


#: What paho hands to an on_publish callback for a 3.1.1 PUBACK (no callback is set here).
_SUCCESS = ReasonCode(PacketTypes.PUBACK)
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]


class GatheringClient(paho.Client):
    """paho's client whose socket writes are gathered in a buffer (sent by :class:`MqttLink`
    once per loop iteration) and whose reads come from 64 KiB chunks.

    Only the two socket primitives of paho 2.2 are replaced (``_sock_send``, ``_sock_recv``:
    bytes in, a count or bytes out, ``BlockingIOError`` when the socket is not ready), the TCP
    connect (``_create_socket_connection``: a socket MqttLink connected asynchronously), and the
    PUBACK of MQTT 3.1.1 takes a short path (paho builds a reason code and a properties object
    for each, a fifth of the bridge's time). The pinned paho version and
    tests/unit/test_mqtt_link.py keep those contracts checked.

    Confirmed publications (:meth:`publish_confirmed`, QoS 1, the loop's thread only) bypass
    paho's message objects (a message, an info with a ``threading.Condition`` and a queue entry
    per publication were a third of the bridge's time): the packet is built here, in flight it
    is a tuple in a deque, and the broker's PUBACKs, which MQTT 3.1.1 sends in the order of the
    PUBLISH packets (4.6), are read in runs straight from the input chunk. Each publication gets
    a serial number; ``confirmed_serial`` says up to which serial all are confirmed. After a
    reconnection every unconfirmed one is sent again (DUP set), as paho does with its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: A TCP connection MqttLink opened without blocking; paho's next connect uses it.
        self.connected_socket: socket.socket | None = None
        self.out_buffer = bytearray()
        self._in_chunk = b""
        self._in_pos = 0
        #: Confirmed publications in flight, oldest first: [mid, serial, packet, written, confirmed].
        self._confirming: deque[list[Any]] = deque()
        self._confirming_mids: dict[int, list[Any]] = {}
        self._topic_heads: dict[str, bytes] = {}
        self.last_serial = 0  # of the newest confirmed publication
        self.confirmed_serial = 0  # every confirmed publication up to this serial has its PUBACK
        #: Called when a confirmed publication was put into ``out_buffer`` (MqttLink schedules a write).
        self.on_buffered: Callable[[], None] | None = None

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

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = self._in_packet["packet"]
        if self._protocol == paho.MQTTv5 or len(packet) != 2 or self.on_publish is not None:
            return super()._handle_pubackcomp(cmd)
        # MQTT 3.1.1: the packet is the message id; no reason code, no properties.
        mid = (packet[0] << 8) | packet[1]
        if cmd == "PUBACK" and self._confirm(mid):
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, _SUCCESS, _NO_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    # -- confirmed publications ----------------------------------------------------------

    @property
    def unconfirmed(self) -> int:
        """Confirmed publications the broker has not confirmed yet."""
        return len(self._confirming)

    def _topic_head(self, topic: str) -> bytes:
        head = self._topic_heads.get(topic)
        if head is None:
            encoded = topic.encode("utf-8")
            if not encoded:
                raise ValueError("Invalid topic.")
            self._raise_for_invalid_topic(encoded)
            head = len(encoded).to_bytes(2, "big") + encoded
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
        mid = self._mid_generate()
        packet = b"".join(
            (
                bytes((_PUBLISH_QOS1 | retain,)),
                _remaining_length(len(head) + 2 + len(payload)),
                head,
                mid.to_bytes(2, "big"),
                payload,
            )
        )
        self.last_serial += 1
        entry = [mid, self.last_serial, packet, False, False]
        self._confirming.append(entry)
        self._confirming_mids[mid] = entry
        if self._state == _ConnectionState.MQTT_CS_CONNECTED and self._sock is not None:
            entry[3] = True
            self.out_buffer += packet
            if self.on_buffered is not None:
                self.on_buffered()
        return self.last_serial

    def _confirm(self, mid: int) -> bool:
        """A PUBACK: False when ``mid`` is not a confirmed publication's (paho's own then)."""
        entry = self._confirming_mids.pop(mid, None)
        if entry is None:
            return False
        entry[4] = True
        confirming = self._confirming
        while confirming and confirming[0][4]:  # in order, unless a broker confirms out of order
            confirming.popleft()
        self.confirmed_serial = confirming[0][1] - 1 if confirming else self.last_serial
        return True

    def _resend_confirming(self) -> None:
        """After a CONNACK: every unconfirmed publication again, in order (DUP if it was sent)."""
        if not self._confirming or self._sock is None:
            return
        for entry in self._confirming:
            if entry[4]:
                continue  # confirmed out of order already
            packet = entry[2]
            if entry[3]:
                packet = bytes((packet[0] | 0x08,)) + packet[1:]
            entry[3] = True
            self.out_buffer += packet
        if self.on_buffered is not None:
            self.on_buffered()

    def _handle_connack(self) -> MQTTErrorCode:
        rc = super()._handle_connack()
        if self._state == _ConnectionState.MQTT_CS_CONNECTED:
            self._resend_confirming()
        return rc

    def _packet_read(self) -> MQTTErrorCode:
        """Runs of PUBACKs for confirmed publications straight from the chunk; paho reads the rest."""
        if self._in_packet["command"] == 0 and self._confirming:
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
            while pos < end and chunk[pos] == _PUBACK and chunk[pos + 1] == 2:
                if not self._confirm((chunk[pos + 2] << 8) | chunk[pos + 3]):
                    break  # paho's own message: its handler takes this packet
                pos += 4
            if pos != start:
                self._in_pos = pos
                self._last_bytes_received = time.monotonic()
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._packet_read()

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


class MqttLink:
    def __init__(
        self, settings: MqttSettings, client_name: str, on_message: Callable[[MqttMessage], None] | None = None
    ) -> None:
        self._settings = settings
        self._on_message = on_message
        self._subscriptions: dict[str, int] = {}
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.on_connected: Callable[[], None] | None = None
        self.on_subscribed: Callable[[str], None] | None = None
        self._pending_subscribes: dict[int, list[str]] = {}
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._task: asyncio.Task[None] | None = None
        self._socket_gone = asyncio.Event()
        self._write_scheduled = False
        self._last_write = 0.0
        self._write_blocked = False  # the socket took less than offered: wait for it to be writable
        self._unreachable_logged = False
        self._connack_seen = False
        client_id = f"{client_name}-{uuid.uuid4().hex[:8]}"
        self.client = GatheringClient(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if settings.username is not None:
            self.client.username_pw_set(settings.username, settings.password)
        if settings.tls_ca_file is not None:
            self.client.tls_set(ca_certs=settings.tls_ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        # No in-flight limit in paho: it would scan its in-flight messages on every PUBACK, and
        # hold messages back for a round trip. A 3.1.1 broker takes any number (mosquitto's
        # max_inflight_messages limits what it sends); MQTT_MAX_PENDING bounds them here.
        self.client.max_inflight_messages_set(0)
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_message = self._handle_message
        self.client.on_subscribe = self._handle_subscribe
        self.client.on_socket_open = self._socket_open
        self.client.on_socket_close = self._socket_close
        self.client.on_socket_register_write = self._register_write
        self.client.on_socket_unregister_write = self._unregister_write
        self.client.on_buffered = self._schedule_write

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; call from the event loop's thread."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.client.connect_async(self._settings.host, self._settings.port, keepalive=self._settings.keepalive)
        self._task = self._loop.create_task(self._maintain(), name="mqtt-connection")

    def stop(self) -> None:
        """Disconnect cleanly, sending what is still buffered."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
        if self.client.socket() is not None:
            self.client.disconnect()
            self._write()  # the DISCONNECT packet closes the socket; _socket_close sends the rest

    async def _maintain(self) -> None:
        """Connect, reconnect after a loss (capped exponential backoff with jitter), and run
        paho's periodic work (keepalive) while connected."""
        delay = 1.0
        cap = max(1.0, float(self._settings.reconnect_max_delay))
        while True:
            if self.client.socket() is None:
                self._socket_gone.clear()
                try:
                    # Name lookup, TCP connect and TLS handshake without blocking the loop (a
                    # broker host that does not answer must not stall the process); paho takes
                    # it from there (CONNECT).
                    sock = await self._open_tcp()
                    if self._settings.tls_ca_file is not None:
                        sock = await self._tls_handshake(sock)
                    self.client.connected_socket = sock
                    self.client.reconnect()
                except (OSError, ssl.SSLError) as error:
                    if not self._unreachable_logged:
                        self._unreachable_logged = True
                        log.warning(
                            "MQTT broker %s:%d unreachable (%s); retrying",
                            self._settings.host,
                            self._settings.port,
                            error,
                        )
                    await asyncio.sleep(delay * (1 + random.random()))  # noqa: S311 - jitter
                    delay = min(2 * delay, cap)
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._socket_gone.wait(), MISC_INTERVAL)
            if self._socket_gone.is_set():
                if self._connack_seen:  # that connection worked: start the backoff afresh
                    delay = 1.0
                    self._connack_seen = False
                await asyncio.sleep(delay * (1 + random.random()))  # noqa: S311 - jitter
                delay = min(2 * delay, cap)
            else:
                self.client.loop_misc()

    async def _open_tcp(self) -> socket.socket:
        loop = self.loop
        timeout = self.client.connect_timeout
        host, port = self._settings.host, self._settings.port
        addresses = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        error: OSError = OSError(f"no address for {host}")
        for family, kind, protocol, _, address in addresses:
            sock = socket.socket(family, kind, protocol)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, address), timeout)
            except OSError as failure:  # TimeoutError included
                sock.close()
                error = failure
                continue
            except BaseException:  # cancelled (stopping)
                sock.close()
                raise
            return sock
        raise error

    async def _tls_handshake(self, sock: socket.socket) -> ssl.SSLSocket:
        """The TLS handshake with paho's own context (``tls_set``: the CA, the broker's host
        name checked), bounded by paho's connect timeout, without blocking the loop."""
        context = self.client._ssl_context
        if context is None:
            raise ssl.SSLError("no TLS context")
        tls = context.wrap_socket(sock, server_hostname=self._settings.host, do_handshake_on_connect=False)
        try:
            await asyncio.wait_for(self._handshake(tls), self.client.connect_timeout)
        except BaseException:
            tls.close()
            raise
        return tls

    async def _handshake(self, tls: ssl.SSLSocket) -> None:
        loop = self.loop
        while True:
            try:
                tls.do_handshake()
                return
            except ssl.SSLWantReadError:
                add, remove = loop.add_reader, loop.remove_reader
            except ssl.SSLWantWriteError:
                add, remove = loop.add_writer, loop.remove_writer
            ready: asyncio.Future[None] = loop.create_future()
            add(tls.fileno(), _resolve, ready)
            try:
                await ready
            finally:
                remove(tls.fileno())

    # -- socket I/O (paho's external-loop callbacks) ----------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("MqttLink.start() has not been called")
        return self._loop

    def _socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self.client.reset_buffers()
        self._write_blocked = False
        self.loop.add_reader(sock, self._readable)

    def _socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)
        buffered = self.client.out_buffer
        if buffered:  # best effort: a DISCONNECT and what came before it
            with contextlib.suppress(OSError):
                sock.send(buffered)
        self.client.reset_buffers()
        self._write_blocked = False
        self._socket_gone.set()

    def _readable(self) -> None:
        client = self.client
        rc = client.loop_read()
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and client.socket() is not None and client.has_buffered_input():
            rc = client.loop_read()

    def _register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        """paho has packets to send (called by ``publish`` & co., maybe from another thread)."""
        if threading.get_ident() == self._loop_thread:
            self._schedule_write()
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(self._schedule_write)

    def _unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        pass  # writes are scheduled per loop iteration, nothing stays registered

    def _schedule_write(self) -> None:
        """Write in the next loop iteration, or, within GATHER_INTERVAL of the last write (a
        busy link), at its end: the first packet after a quiet moment leaves at once, and under
        load one ``send`` carries what a few iterations produced (each ``send`` to the broker
        costs tens of microseconds of kernel time, whatever its size)."""
        if self._write_scheduled or self._write_blocked or self._loop is None:
            return
        self._write_scheduled = True
        wait = self._last_write + GATHER_INTERVAL - self._loop.time()
        if wait > 0:
            self._loop.call_later(wait, self._write)
        else:
            self._loop.call_soon(self._write)

    def _write(self) -> None:
        """Paho's packets into the buffer, the buffer into the socket."""
        self._write_scheduled = False
        self._last_write = self.loop.time()
        client = self.client
        if client.socket() is None:
            return
        client.loop_write()
        self._flush()

    def _flush(self) -> None:
        client = self.client
        sock = client.socket()
        buffered = client.out_buffer
        if sock is None or not buffered:
            return
        try:
            sent = sock.send(buffered)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError, InterruptedError):
            sent = 0
        except OSError:
            # The connection is broken: reading says so to paho (which reconnects and
            # re-sends every unconfirmed QoS 1/2 message).
            client.reset_buffers()
            self.loop.call_soon(self._readable)
            return
        del buffered[:sent]
        if buffered:
            self._write_blocked = True
            self.loop.add_writer(sock, self._writable)
        elif client.want_write():
            self._schedule_write()  # packets paho held back while the buffer was full

    def _writable(self) -> None:
        sock = self.client.socket()
        if sock is not None and self._loop is not None:
            self._loop.remove_writer(sock)
        self._write_blocked = False
        self._write()

    # -- subscriptions and publications -------------------------------------------------

    def subscribe(self, topic: str, qos: int) -> None:
        with self._lock:
            if self._subscriptions.get(topic) == qos:
                return
            self._subscriptions[topic] = qos
        if self.connected.is_set():
            self._subscribe([(topic, qos)])

    def unsubscribe(self, topic: str) -> None:
        with self._lock:
            if self._subscriptions.pop(topic, None) is None:
                return
        if self.connected.is_set():
            self.client.unsubscribe(topic)

    def _subscribe(self, topics: list[tuple[str, int]]) -> None:
        for start in range(0, len(topics), 100):
            chunk = topics[start : start + 100]
            result, mid = self.client.subscribe(chunk)
            if result == paho.MQTT_ERR_SUCCESS and mid is not None:
                self._pending_subscribes[mid] = [topic for topic, _ in chunk]

    def publish(self, topic: str, payload: Any, qos: int = 0, retain: bool = False) -> paho.MQTTMessageInfo | None:
        if self._stopping:
            return None
        info = self.client.publish(topic, to_json(payload), qos=qos, retain=retain)
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            # paho asks for a write only when its (unlocked) "registered" flag is clear; from
            # another thread that can race with the loop's own write: ask here as well.
            self._loop.call_soon_threadsafe(self._schedule_write)
        return info

    def publish_confirmed(self, topic: str, payload: Any, retain: bool = False) -> int:
        """A QoS 1 publication whose confirmation is tracked by serial number (see
        :class:`GatheringClient`); only from the loop's thread. Returns its serial. While stopping
        it is held, never confirmed, so whatever caused it is not acknowledged either."""
        return self.client.publish_confirmed(topic, to_json(payload).encode("utf-8"), retain)

    def publish_confirmed_json(self, topic: str, text: str, retain: bool = False) -> int:
        """:meth:`publish_confirmed` of a payload already encoded as JSON text."""
        return self.client.publish_confirmed(topic, text.encode("utf-8"), retain)

    @property
    def last_serial(self) -> int:
        """The serial of the newest confirmed publication (0 before the first)."""
        return self.client.last_serial

    @property
    def confirmed_serial(self) -> int:
        return self.client.confirmed_serial

    @property
    def unconfirmed(self) -> int:
        return self.client.unconfirmed

    # -- paho callbacks (in the loop's thread) -------------------------------------------

    def _handle_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            # 134/135: MQTT 5 codes, also paho's for MQTT 3.1.1's "bad user name or password"/"not authorised"
            hint = " (check MQTT_USERNAME and MQTT_PASSWORD)" if reason.value in (134, 135) else ""
            log.warning(
                "MQTT broker %s:%d refused the connection: %s%s; retrying",
                self._settings.host,
                self._settings.port,
                reason,
                hint,
            )
            return
        log.info("Connected to the MQTT broker %s:%d", self._settings.host, self._settings.port)
        self._connack_seen = True
        self._unreachable_logged = False
        with self._lock:
            topics = list(self._subscriptions.items())
        self.connected.set()
        if topics:
            self._subscribe(topics)
        if self.on_connected is not None:
            self.on_connected()

    def _handle_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        if was_connected and not self._stopping:
            log.warning(
                "Lost the MQTT broker %s:%d (%s); reconnecting", self._settings.host, self._settings.port, reason
            )

    def _handle_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        topics = self._pending_subscribes.pop(mid, [])
        if self.on_subscribed is not None:
            for topic in topics:
                self.on_subscribed(topic)

    def _handle_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if self._on_message is not None:
            self._on_message(MqttMessage(message.topic, bytes(message.payload), bool(message.retain)))


def _resolve(future: asyncio.Future[None]) -> None:
    """A reader/writer callback: may fire again before it is removed."""
    if not future.done():
        future.set_result(None)


def thread_to_loop(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]) -> Callable[[Any], None]:
    """A callback (from any thread) that hands its argument to an asyncio queue."""

    def forward(item: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    return forward
