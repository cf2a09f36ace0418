"""The gateway: websocket server, session registry, bus publisher and command handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from typing import Any

import zmq
import zmq.asyncio
from websockets.asyncio.server import ServerConnection, serve

from common.bus import (
    CONNECTED as CONNECTED_EVENT,
)
from common.bus import (
    DISCONNECTED as DISCONNECTED_EVENT,
)
from common.bus import (
    EVENT_STREAM,
    RAW_PREFIX,
    STREAMS,
    ErrorCode,
    Event,
    GatewayAlive,
    LogEntry,
    RawFrame,
    Request,
    pack,
    send_frames,
    to_dict,
)
from common.logs import now_ms
from common.process import run_until_stopped
from common.settings import GatewaySettings
from processes.gateway.admission import Admission, CredentialCheck
from processes.gateway.commands import CommandError, CommandServer
from processes.gateway.journal import Journal
from processes.gateway.server import SUBPROTOCOL, serve_connection
from processes.gateway.session import ChargePointSession, Connection
from processes.gateway.store import Store

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, settings: GatewaySettings, context: zmq.asyncio.Context) -> None:
        self.settings = settings
        self.run = uuid.uuid4().hex[:12]
        self.started = now_ms()
        self.store = Store(settings.journal_path)
        self.journal = Journal(self.store.db, self.run, settings.journal_max_events)
        self.sessions: dict[str, ChargePointSession] = {}
        self._websockets: dict[str, ServerConnection] = {}
        self._background: set[asyncio.Task[None]] = set()
        #: Websocket connections being served (a replaced one counts until it has closed).
        self.open_connections = 0
        self._main_thread = threading.get_ident()
        self._context = context
        # A plain (not asyncio) socket: sends never block (NOBLOCK), and the asyncio wrapper
        # costs more than the send itself.
        # XPUB: a PUB socket that also tells which prefixes its subscribers want (see
        # _read_subscriptions).
        self._pub: zmq.Socket[bytes] = zmq.Socket(context, zmq.XPUB)
        self._pub.setsockopt(zmq.SNDHWM, 100_000)
        self._pub.setsockopt(zmq.LINGER, 1000)
        self._pub.bind(settings.bus.events_endpoint)
        #: Sequenced messages appended to the journal but not yet committed, and the future the
        #: senders of frames wait on until the commit that covers them.
        self._outbox: list[tuple[bytes, bytes]] = []
        #: Topic prefixes subscribed on the bus, and whether one of them takes raw frames.
        self._subscriptions: set[bytes] = set()
        self.raw_tapped = False
        self._committed: asyncio.Future[None] | None = None
        self.commands = CommandServer(
            context,
            settings.bus.commands_endpoint,
            {
                "status": self.cmd_status,
                "replay": self.cmd_replay,
                "ack": self.cmd_ack,
                "call": self.cmd_call,
                "active_transaction": self.cmd_active_transaction,
            },
        )

    # -- publishing -------------------------------------------------------------------

    def _send(self, topic: bytes, body: dict[str, Any]) -> None:
        self._send_packed(topic, pack(body))

    def _send_packed(self, topic: bytes, packed: bytes) -> None:
        # When a subscriber's queue is full, it catches up from the journal.
        with contextlib.suppress(zmq.Again):
            send_frames(self._pub, topic, packed)

    def _publish_sequenced(self, message: Event | RawFrame, journal: bool = True) -> None:
        """Journal a message; it is committed, then published, at the end of this event-loop
        iteration, together with the others of the iteration (see :meth:`committed`). A message
        not journaled is still published in its place in that order."""
        body = to_dict(message)
        packed = self.journal.append(message.stream, message.seq, body) if journal else pack(body)
        self._outbox.append((message.topic, packed))
        if self._committed is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a unit test): commit at once
            self.commit()
            return
        self._committed = loop.create_future()
        loop.call_soon(self.commit)

    def commit(self) -> None:
        """Commit what was journaled, then publish it on the bus, then wake the senders."""
        committed, self._committed = self._committed, None
        outbox, self._outbox = self._outbox, []
        try:
            self.journal.commit()
        except Exception as error:  # nothing of it is answered or published
            log.exception("The journal could not commit %d messages", len(outbox))
            if committed is not None:
                committed.set_exception(error)
                committed.exception()  # retrieved: the senders raise it, no "never retrieved"
            return
        for topic, packed in outbox:
            self._send_packed(topic, packed)
        if committed is not None:
            committed.set_result(None)

    async def committed(self) -> None:
        """Returns once every message journaled so far is committed: send nothing before."""
        if self._committed is not None:
            await asyncio.shield(self._committed)

    def emit_event(self, cp: str, kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> None:
        seq = self.journal.next_seq(EVENT_STREAM)
        self._publish_sequenced(Event(self.run, seq, cp, kind, now_ms(), payload, ctx or {}))

    def emit_raw(self, cp: str, direction: str, frame: str) -> None:
        # Without SEND_RAW_MESSAGE_TO_DB the raw logger publishes nothing, so nothing replays
        # raw frames: journaling them would cost two of every three journal rows; and unless a
        # tool taps them (busctl tail), nobody receives them at all.
        journal = self.settings.journal_raw_frames
        if not journal and not self.raw_tapped:
            return
        seq = self.journal.next_seq("raw")
        self._publish_sequenced(RawFrame(self.run, seq, cp, direction, now_ms(), frame), journal)

    def publish_log(self, ts: int, level: int, msg: str, emitter: str) -> None:
        """Log records for BEMCom (via the bridge); zmq sockets belong to one thread."""
        if threading.get_ident() == self._main_thread and not self._pub.closed:
            entry = LogEntry("gateway", ts, level, msg, emitter)
            self._send(entry.topic, to_dict(entry))

    def publish_alive(self) -> None:
        """The heads of the streams, published behind every message they count: a consumer that
        has handled everything before it and is still behind has really missed something."""
        alive = GatewayAlive(self.run, now_ms(), self.journal.heads(), len(self.sessions))
        if self._committed is None:
            self._send(alive.topic, to_dict(alive))
        else:  # messages of this iteration wait for their commit: go out after them
            self._outbox.append((alive.topic, pack(to_dict(alive))))

    # -- sessions ---------------------------------------------------------------------

    async def open_session(self, cp_id: str, connection: Connection, websocket: ServerConnection) -> ChargePointSession:
        session = ChargePointSession(
            cp_id,
            connection,
            sink=self,
            store=self.store,
            heartbeat_interval=self.settings.heartbeat_interval,
            response_timeout=self.settings.call_timeout,
            max_calls_per_second=self.settings.max_calls_per_second,
        )
        old, old_session = self._websockets.get(cp_id), self.sessions.get(cp_id)
        self.sessions[cp_id] = session
        self._websockets[cp_id] = websocket
        if old is not None and old_session is not None:
            log.warning("Charge point %s connected again; closing its previous connection", cp_id)
            old_session.closed.set()  # a command waiting on the old connection ends now: NotConnected
            # In the background: a half-open old connection must not delay the new one's messages.
            closing = asyncio.create_task(old.close(1000, "replaced by a new connection"), name=f"replace-{cp_id}")
            self._background.add(closing)
            closing.add_done_callback(self._background.discard)
        else:
            self.store.mark_connected(cp_id, True)
            self.emit_event(cp_id, CONNECTED_EVENT, {})
        log.info("Charge point %s connected from %s", cp_id, websocket.remote_address)
        return session

    def close_session(self, cp_id: str, session: ChargePointSession) -> None:
        if self.sessions.get(cp_id) is session:
            del self.sessions[cp_id]
            del self._websockets[cp_id]
            session.closed.set()
            self.store.mark_connected(cp_id, False)
            self.emit_event(cp_id, DISCONNECTED_EVENT, {})

    # -- commands ---------------------------------------------------------------------

    async def cmd_status(self, request: Request) -> dict[str, Any]:
        return {
            "run": self.run,
            "started": self.started,
            "heads": self.journal.heads(),
            "dropped": dict(self.journal.dropped),
            "cursors": self.journal.cursors(),
            "charge_points": [
                {
                    "id": cp_id,
                    "connected_since": session.connected_since,
                    "last_message": session.last_message,
                    "connectors": {str(c): status for c, status in sorted(session.connectors.items())},
                    "boot": session.boot,
                }
                for cp_id, session in sorted(self.sessions.items())
            ],
        }

    async def cmd_replay(self, request: Request) -> dict[str, Any]:
        """Args ``stream``, ``consumer``, ``run``, ``after``, ``limit``: what follows that position."""
        args = request.args
        stream, consumer, run, after = args.get("stream"), args.get("consumer"), args.get("run"), args.get("after", 0)
        if stream not in STREAMS or not isinstance(consumer, str):
            raise CommandError(ErrorCode.INVALID_VALUE, "replay needs a stream (event or raw) and a consumer name")
        if not (run is None or isinstance(run, str)) or not isinstance(after, int) or after < 0:
            raise CommandError(ErrorCode.INVALID_VALUE, "run must be a string or null, after a non-negative integer")
        limit = args.get("limit", 500)
        limit = limit if isinstance(limit, int) and 0 < limit <= 100_000 else 500
        replay = self.journal.read(stream, consumer, run, after, limit)
        # "packed": the journaled bodies as they are (msgpack bin), decoded by the consumer;
        # unpacking and repacking them here cost more than reading them.
        return {"run": self.run, "head": self.journal.heads()[stream], "packed": replay.bodies, "lost": replay.lost}

    async def cmd_ack(self, request: Request) -> dict[str, Any]:
        args = request.args
        stream, consumer, run, seq = args.get("stream"), args.get("consumer"), args.get("run"), args.get("seq")
        if (
            stream not in STREAMS
            or not isinstance(consumer, str)
            or not isinstance(run, str)
            or not isinstance(seq, int)
        ):
            raise CommandError(ErrorCode.INVALID_VALUE, "ack needs stream, consumer, run and seq")
        self.journal.ack(consumer, stream, run, seq)
        return {}

    def _session(self, request: Request) -> ChargePointSession:
        cp = request.args.get("cp")
        if not isinstance(cp, str):
            raise CommandError(ErrorCode.INVALID_VALUE, "the command needs a charge point id 'cp'")
        session = self.sessions.get(cp)
        if session is None:
            raise CommandError(ErrorCode.NOT_CONNECTED, f"charge point {cp} is not connected")
        return session

    async def cmd_call(self, request: Request) -> dict[str, Any]:
        """Args ``cp``, ``action``, ``payload`` (OCPP-J camelCase): the charge point's answer."""
        action, payload = request.args.get("action"), request.args.get("payload", {})
        if not isinstance(action, str) or not isinstance(payload, dict):
            raise CommandError(ErrorCode.INVALID_VALUE, "call needs an action (string) and a payload (object)")
        session = self._session(request)
        result = await session.send_call(action, payload, request.timeout)
        return {"status": result.get("status"), "payload": result}

    async def cmd_active_transaction(self, request: Request) -> int | None:
        cp, connector = request.args.get("cp"), request.args.get("connector")
        if not isinstance(cp, str) or not isinstance(connector, int):
            raise CommandError(ErrorCode.INVALID_VALUE, "active_transaction needs cp and connector")
        transactions = self.store.active_transactions(cp, connector)
        if len(transactions) > 1:  # connector 0 of a charge point charging on several connectors
            ids = ", ".join(f"{t.id} on connector {t.connector}" for t in transactions)
            raise CommandError(
                ErrorCode.INVALID_VALUE, f"several active transactions ({ids}): use a connector's actuator"
            )
        return transactions[0].id if transactions else None

    # -- running ----------------------------------------------------------------------

    def _read_subscriptions(self) -> None:
        """What the XPUB socket learnt: b"\\x01" + prefix when a prefix gets its first
        subscriber, b"\\x00" + prefix when it loses its last one."""
        while True:
            try:
                message = self._pub.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if message[:1] == b"\x01":
                self._subscriptions.add(message[1:])
            elif message[:1] == b"\x00":
                self._subscriptions.discard(message[1:])
        self.raw_tapped = any(RAW_PREFIX.startswith(p) or p.startswith(RAW_PREFIX) for p in self._subscriptions)

    async def _alive_loop(self) -> None:
        while True:
            self._read_subscriptions()  # a new tap gets raw frames within a heartbeat interval
            self.publish_alive()
            await asyncio.sleep(self.settings.bus.heartbeat_interval)

    def admission(self) -> Admission:
        credentials = self.settings.credentials
        return Admission(
            allowed=self.settings.allowed_charge_points,
            credentials=CredentialCheck(credentials) if credentials is not None else None,
            max_connections=self.settings.max_connections,
            open_connections=lambda: self.open_connections,
            is_connected=lambda cp_id: cp_id in self.sessions,
        )

    async def serve(self, stop: asyncio.Event) -> None:
        settings = self.settings
        for cp_id in self.store.take_connected():  # the previous run was killed with them connected
            self.emit_event(cp_id, DISCONNECTED_EVENT, {"reason": "gateway restarted"})
        async with serve(
            lambda websocket: serve_connection(websocket, self),
            settings.ocpp_host,
            settings.ocpp_port,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            process_request=self.admission(),
            max_size=settings.max_frame_bytes,
            compression=None,
            ssl=settings.tls.context() if settings.tls is not None else None,
        ) as server:
            log.info(
                "Gateway run %s: OCPP on %s://%s:%d (security profile %d), events on %s, commands on %s, store %s",
                self.run,
                "ws" if settings.tls is None else "wss",
                settings.ocpp_host,
                settings.ocpp_port,
                settings.security_profile,
                settings.bus.events_endpoint,
                settings.bus.commands_endpoint,
                settings.journal_path,
            )
            warn_about_security(settings)
            tasks = [
                asyncio.create_task(self.commands.serve(), name="commands"),
                asyncio.create_task(self._alive_loop(), name="alive"),
            ]
            try:
                await run_until_stopped(stop, tasks)
            finally:
                log.info("Stopping: closing %d charge point connections", len(self.sessions))
                server.close()
                await server.wait_closed()

    def close(self) -> None:
        self.commit()
        self.store.close()
        self._pub.close()


def warn_about_security(settings: GatewaySettings) -> None:
    """OCPP-J 6: a central system SHOULD NOT accept unencrypted connections from the internet."""
    if settings.tls is None and settings.credentials is None:
        log.warning(
            "Any charge point may connect over plain ws:// without authentication:"
            " use this only on a closed site network (see docs/security.md)"
        )
    elif settings.tls is None:
        log.warning("Charge point passwords travel in clear text over ws:// (profile 1): use a closed network only")
    elif settings.credentials is None and settings.tls.client_ca_file is None:
        log.warning("TLS without charge point authentication: set OCPP_AUTH_FILE for security profile 2")
