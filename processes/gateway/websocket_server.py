"""The OCPP websocket server: which requests may upgrade (``admission.py``), which OCPP
version a connection speaks (its subprotocol), and one session per connection."""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from common.binding import BindError, reason_of
from common.settings import GatewaySettings
from processes.gateway.admission import Admission, charge_point_id
from processes.gateway.registry import ConnectionRegistry
from processes.gateway.session import OcppSession

log = logging.getLogger(__name__)

#: Frames a connection buffers before the session reads them (websockets' default is 16).
MAX_QUEUE = 4

#: Connections the kernel queues before the server accepts them (the usual somaxconn).
BACKLOG = 4096

#: Builds the session of one connection (charge point id, websocket) for one OCPP version.
SessionFactory = Callable[[str, ServerConnection], OcppSession]


class SessionWatcher(Protocol):
    """Told when a session starts and ends (the onboarding, ``onboarding.py``)."""

    def connected(self, session: OcppSession) -> None: ...
    def ended(self, session: OcppSession) -> None: ...


class WebsocketServer:
    """Serves the OCPP port. ``sessions`` maps each subprotocol offered (in order of
    preference) to the factory of its sessions."""

    def __init__(
        self,
        settings: GatewaySettings,
        registry: ConnectionRegistry,
        admission: Admission,
        sessions: Mapping[str, SessionFactory],
        watcher: SessionWatcher | None = None,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._admission = admission
        self._sessions = sessions
        self._watcher = watcher

    def serve(self) -> Server:
        """The server, to use as ``async with``."""
        settings = self._settings
        return serve(
            self.handle,
            settings.ocpp_host,
            settings.ocpp_port,
            subprotocols=[Subprotocol(name) for name in self._sessions],
            process_request=self._admission,
            max_size=settings.max_frame_bytes,
            # Frames read from the socket but not yet by the session: the bound on what one
            # connection can hold (MAX_QUEUE x OCPP_MAX_FRAME_BYTES; the pacer holds its own 256 KiB).
            max_queue=MAX_QUEUE,
            # A restart brings every charge point back at once: asyncio's default backlog of 100
            # made the kernel drop most of 10,000 handshakes (their retries back off up to 64 s).
            backlog=BACKLOG,
            compression=None,
            ssl=settings.tls.context() if settings.tls is not None else None,
        )

    async def start(self) -> Server:
        """Listen on the OCPP port (the server, to use as ``async with``), or raise BindError
        naming OCPP_PORT (OCPP_HOST when the host is not an address of this one)."""
        settings = self._settings
        try:
            return await self.serve()
        except OSError as error:
            wrong_host = isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL
            address = f"{settings.ocpp_host}:{settings.ocpp_port}"
            raise BindError("OCPP_HOST" if wrong_host else "OCPP_PORT", address, reason_of(error)) from None

    async def handle(self, websocket: ServerConnection) -> None:
        """The websockets handler: runs one charge point session until the socket closes."""
        cp_id = charge_point_id(websocket.request.path if websocket.request else "")
        if cp_id is None:  # admission already refused it; belt and braces
            await websocket.close(1008, "no charge point id")
            return
        factory = self._sessions.get(websocket.subprotocol or "")
        if factory is None:
            await websocket.close(1002, f"subprotocol {' or '.join(self._sessions)} required")
            return
        watcher = self._watcher
        async with self._registry.serving(cp_id, factory(cp_id, websocket), websocket) as session:
            if watcher is not None:
                watcher.connected(session)
            try:
                await session.start()
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else closed.sent.code if closed.sent else "no close frame"
                log.info("Charge point %s disconnected (%s)", cp_id, code)
            finally:
                if watcher is not None:
                    watcher.ended(session)
