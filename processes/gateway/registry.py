"""Which charge point is on which connection: one session per charge point id, and how many
websocket connections are being served (admission limits them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from common.bus import CONNECTED, DISCONNECTED
from processes.gateway.session import OcppSession
from processes.gateway.store import Store

log = logging.getLogger(__name__)


class EventSink(Protocol):
    def emit_event(self, cp: str, kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> None: ...


class Socket(Protocol):
    """The websocket, as far as the registry needs it: to close a replaced one."""

    @property
    def remote_address(self) -> Any: ...
    @property
    def subprotocol(self) -> Any: ...
    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class ConnectionRegistry:
    def __init__(self, events: EventSink, store: Store) -> None:
        self._events = events
        self._store = store
        self.sessions: dict[str, OcppSession] = {}
        self._sockets: dict[str, Socket] = {}
        self._background: set[asyncio.Task[None]] = set()
        #: Websocket connections being served (a replaced one counts until it has closed).
        self.open_connections = 0
        #: Set when the gateway closes its store: sessions ending later change nothing.
        self.closed = False

    def is_connected(self, cp_id: str) -> bool:
        return cp_id in self.sessions

    def get(self, cp_id: str) -> OcppSession | None:
        return self.sessions.get(cp_id)

    @contextlib.asynccontextmanager
    async def serving(self, cp_id: str, session: OcppSession, socket: Socket) -> AsyncIterator[OcppSession]:
        """The session is the charge point's while the block runs, unless a newer one replaces it."""
        self.open_connections += 1
        try:
            self._register(cp_id, session, socket)
            try:
                yield session
            finally:
                self._unregister(cp_id, session)
        finally:
            self.open_connections -= 1

    def disconnect(self, cp_id: str, reason: str) -> bool:
        """Close a charge point's connection (1008, policy violation: it may no longer connect), in
        the background; its session ends as on any close. False when it is not connected."""
        socket = self._sockets.get(cp_id)
        if socket is None:
            return False
        closing = asyncio.create_task(socket.close(1008, reason[:100]), name=f"disconnect-{cp_id}")
        self._background.add(closing)
        closing.add_done_callback(self._background.discard)
        return True

    def _register(self, cp_id: str, session: OcppSession, socket: Socket) -> None:
        old, old_session = self._sockets.get(cp_id), self.sessions.get(cp_id)
        self.sessions[cp_id] = session
        self._sockets[cp_id] = socket
        if old is not None and old_session is not None:
            log.warning("Charge point %s connected again; closing its previous connection", cp_id)
            old_session.closed.set()  # a command waiting on the old connection ends now: NotConnected
            # In the background: a half-open old connection must not delay the new one's messages.
            closing = asyncio.create_task(old.close(1000, "replaced by a new connection"), name=f"replace-{cp_id}")
            self._background.add(closing)
            closing.add_done_callback(self._background.discard)
        else:
            self._store.mark_connected(cp_id, True)
            self._events.emit_event(cp_id, CONNECTED, {"protocol": str(socket.subprotocol or "")})
        log.info("Charge point %s connected from %s", cp_id, socket.remote_address)

    def _unregister(self, cp_id: str, session: OcppSession) -> None:
        if self.sessions.get(cp_id) is session:
            del self.sessions[cp_id]
            del self._sockets[cp_id]
            session.closed.set()
            if self.closed:  # the gateway stops: the next run reports it (disconnected_by_last_run)
                return
            self._events.emit_event(cp_id, DISCONNECTED, {})
            # Unmarked only once the event is committed (the commit was scheduled first), so a
            # gateway killed in between still reports the charge point disconnected at its start.
            asyncio.get_running_loop().call_soon(self._unmark, cp_id)

    def _unmark(self, cp_id: str) -> None:
        if not self.closed and cp_id not in self.sessions:
            self._store.mark_connected(cp_id, False)

    def disconnected_by_last_run(self) -> None:
        """Charge points the previous run was killed with connected get their ``Disconnected``."""
        for cp_id in self._store.take_connected():
            self._events.emit_event(cp_id, DISCONNECTED, {"reason": "gateway restarted"})
