"""MqttLink: a process's MQTT connection, paho-mqtt 2 driven by the process's asyncio loop.

paho's network thread (``loop_start``) costs a thread wake-up, a socket-pair write and a lock
hand-over for every publication. Here paho runs in the event loop instead (its documented
external-loop interface: ``loop_read``/``loop_write``/``loop_misc`` and the socket callbacks), so
its callbacks (on_connect, on_message, on_subscribe) run in the loop's thread. The socket I/O is
gathered: packets leave in one ``send`` per loop iteration (per 2 ms when the link is busy),
incoming bytes are read 64 KiB at a time (common/mqtt/paho_adapter.py does the paho side). paho
keeps everything else: packet encoding, QoS flows, re-sending its unconfirmed messages after a
reconnection.

Subscriptions are (re)made in the on-connect path every time, so a broker restart or a clean
session never loses them. A broker that is gone (no TCP connection) is tried again every half
second or so however long it is away; one that refuses the connection is backed off from, capped
(common/mqtt/reconnect.py). ``publish`` may be called from any thread (log records); everything
else runs in the loop's thread.

With ``persistent_session`` (the raw logger) the client id is fixed and the broker keeps the
session between connections (clean session 0), so QoS 2 flows in flight survive a reconnection
(common/mqtt/exactly_once.py). The first connection of each process run discards the session an
earlier run left (clean session 1, then at once DISCONNECT and connect again keeping it): that
run's unfinished flows are unknown here (they are published again from the journal) and would
otherwise hold the broker's in-flight slots for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from common.mqtt.connect import open_tcp, tls_handshake
from common.mqtt.messages import MqttMessage, to_json
from common.mqtt.paho_adapter import GatheringClient
from common.mqtt.reconnect import OutageLog, ReconnectPolicy
from common.settings import MqttSettings

#: The name these lines have always been logged under (before the module became a package).
log = logging.getLogger("common.mqtt")

#: Seconds a busy link gathers packets before the next ``send`` (see MqttLink._schedule_write).
GATHER_INTERVAL = 0.002
#: Seconds between two ``loop_misc`` calls (keepalive pings, a silent broker detected).
MISC_INTERVAL = 1.0


class MqttLink:
    """One process's connection to the broker, kept up for the process's lifetime.

    What a process needs and paho leaves to it: reconnecting by itself without blocking the
    loop, subscriptions that survive a clean session, publications whose broker confirmation a
    consumer can wait for (``publish_confirmed`` returns a serial, ``confirmed_serial`` tells
    how far the broker has confirmed), and few, large socket writes. The functions that log keep
    their names: BEMCom's log topic names the function as the emitter.

    ``on_message``, ``on_connected`` and ``on_subscribed`` are called from paho's callbacks, so
    in the loop's thread: no hop to the loop is needed, but they must not raise (paho passes an
    exception up through ``loop_read``) and must not block."""

    def __init__(
        self,
        settings: MqttSettings,
        client_name: str,
        on_message: Callable[[MqttMessage], None] | None = None,
        *,
        confirmed_qos: Literal[1, 2] = 1,
        persistent_session: bool = False,
    ) -> None:
        """``confirmed_qos``: the QoS of ``publish_confirmed``; ``persistent_session``: the client
        id is ``client_name`` itself and the broker keeps the session (see the module's text)."""
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
        self._connack_seen = False
        self._discard_session = persistent_session  # first: clear what an earlier run left
        self._persistent = persistent_session
        self._outage = OutageLog(f"{settings.host}:{settings.port}", log.warning, log.debug)
        self.client_id = client_name if persistent_session else f"{client_name}-{uuid.uuid4().hex[:8]}"
        self.client = GatheringClient(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True, confirmed_qos=confirmed_qos
        )
        if settings.username is not None:
            self.client.username_pw_set(settings.username, settings.password)
        if settings.tls_ca_file is not None:
            self.client.tls_set(ca_certs=settings.tls_ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        # No in-flight limit in paho: it would scan its in-flight messages on every PUBACK, and
        # hold messages back for a round trip. A 3.1.1 broker takes any number of QoS 1 ones;
        # QoS 2 confirmed publications keep within mosquitto's limit themselves (exactly_once.py).
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
        self._confirmations = self.client.confirmations

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
        """Connect, reconnect after a loss (common/mqtt/reconnect.py says when), and run paho's
        periodic work (keepalive) while connected."""
        policy = ReconnectPolicy(float(self._settings.reconnect_max_delay))
        while True:
            if self.client.socket() is None:
                self._socket_gone.clear()
                pause = await self._try_connect(policy)
                if pause is not None:
                    await asyncio.sleep(pause)
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._socket_gone.wait(), MISC_INTERVAL)
            if self._socket_gone.is_set():
                if self._connack_seen:  # that connection worked: start afresh
                    self._connack_seen = False
                    await asyncio.sleep(policy.accepted())
                else:  # TCP connected, but no CONNACK accepted it
                    await asyncio.sleep(policy.refused())
            else:
                self.client.loop_misc()

    async def _try_connect(self, policy: ReconnectPolicy) -> float | None:
        """One connection attempt: None once paho has the socket (and sends CONNECT), else the
        pause before the next. Name lookup, TCP connect and TLS handshake run without blocking
        the loop (a broker host that does not answer must not stall the process)."""
        try:
            sock: socket.socket = await self._open_tcp()
        except OSError as error:  # refused, unreachable, timed out, no address: gone
            self._outage.gone(str(error), time.monotonic())
            return policy.gone()
        try:
            if self._settings.tls_ca_file is not None:
                sock = await self._tls_handshake(sock)
            self.client.connected_socket = sock
            self.client.reconnect()
        except (OSError, ssl.SSLError) as error:  # the broker is there, the connection failed
            sock.close()
            self._outage.refused(str(error), time.monotonic())
            return policy.refused()
        return None

    async def _open_tcp(self) -> socket.socket:
        return await open_tcp(self.loop, self._settings.host, self._settings.port, self.client.connect_timeout)

    async def _tls_handshake(self, sock: socket.socket) -> ssl.SSLSocket:
        """The TLS handshake with paho's own context (``tls_set``: the CA, the broker's host
        name checked), bounded by paho's connect timeout, without blocking the loop."""
        context = self.client.ssl_context
        if context is None:
            raise ssl.SSLError("no TLS context")
        return await tls_handshake(self.loop, sock, context, self._settings.host, self.client.connect_timeout)

    # -- socket I/O (paho's external-loop callbacks) ----------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("MqttLink.start() has not been called")
        return self._loop

    def _socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        # Neither paho nor the kernel turns Nagle off: a __result right after a publication waited
        # up to ~40 ms for the next packet (bench.actuator_latency).
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        if client.replies_pending:  # PUBRELs, and PUBLISHes the window let in: not gathered, each
            client.replies_pending = False  # round trip of a QoS 2 flow would wait for it
            if not self._write_blocked:
                self._flush()

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
        """A QoS 1 (or ``confirmed_qos``) publication whose confirmation is tracked by serial
        number (common/mqtt/confirmed.py, exactly_once.py); only from the loop's thread. Returns
        its serial. While stopping it is held, never confirmed, so what caused it is not
        acknowledged either."""
        return self.client.publish_confirmed(topic, to_json(payload).encode("utf-8"), retain)

    def publish_confirmed_json(self, topic: str, text: str, retain: bool = False) -> int:
        """:meth:`publish_confirmed` of a payload already encoded as JSON text."""
        return self.client.publish_confirmed(topic, text.encode("utf-8"), retain)

    @property
    def last_serial(self) -> int:
        """The serial of the newest confirmed publication (0 before the first)."""
        return self._confirmations.last_serial

    @property
    def confirmed_serial(self) -> int:
        """Every confirmed publication up to this serial has the broker's PUBACK."""
        return self._confirmations.confirmed_serial

    @property
    def unconfirmed(self) -> int:
        """Confirmed publications the broker has not confirmed yet."""
        return len(self._confirmations)

    @property
    def session_present(self) -> bool:
        """The last CONNACK's session-present flag: the broker had kept this client's session."""
        return self.client.session_present

    # -- paho callbacks (in the loop's thread) -------------------------------------------

    def _handle_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            # 134/135: MQTT 5 codes, also paho's for MQTT 3.1.1's "bad user name or password"/"not authorised"
            hint = " (check MQTT_USERNAME and MQTT_PASSWORD)" if reason.value in (134, 135) else ""
            self._outage.refused(f"{reason}{hint}", time.monotonic())
            return
        self._connack_seen = True
        if self._discard_session:  # an earlier run's session is gone now; connect again keeping one
            self._discard_session = False
            self.client.keep_sessions()
            log.debug("Discarded the broker's earlier session of %s", self.client_id)
            self.client.disconnect()
            return
        away = self._outage.connected(time.monotonic())
        session = (" (session resumed)" if self.session_present else " (new session)") if self._persistent else ""
        after = f" after {away:.1f} s away" if away is not None else ""
        log.info("Connected to the MQTT broker %s:%d%s%s", self._settings.host, self._settings.port, after, session)
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
            self._outage.lost(str(reason), time.monotonic())

    def _handle_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        topics = self._pending_subscribes.pop(mid, [])
        if self.on_subscribed is not None:
            for topic in topics:
                self.on_subscribed(topic)

    def _handle_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if self._on_message is not None:
            self._on_message(MqttMessage(message.topic, bytes(message.payload), bool(message.retain)))
