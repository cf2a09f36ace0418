"""The websocket side: which requests may upgrade, and one session per connection."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import unquote

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from common.bus import INBOUND, OUTBOUND

if TYPE_CHECKING:
    from processes.gateway.app import Gateway

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"


def charge_point_id(path: str) -> str | None:
    """OCPP-J: the charge point id is the last path segment, percent-decoded."""
    path = path.split("?", 1)[0].rstrip("/")
    segment = path.rsplit("/", 1)[-1]
    cp_id = unquote(segment)
    if not cp_id or any(ord(char) < 32 for char in cp_id):
        return None
    return cp_id


class TappedConnection:
    """The websocket as the ocpp library sees it; every frame also goes onto the bus."""

    def __init__(self, websocket: ServerConnection, cp_id: str, gateway: Gateway) -> None:
        self._websocket = websocket
        self._cp_id = cp_id
        self._gateway = gateway

    async def recv(self) -> str:
        frame = await self._websocket.recv()
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        self._gateway.emit_raw(self._cp_id, INBOUND, text)
        return text

    async def send(self, message: str) -> None:
        self._gateway.emit_raw(self._cp_id, OUTBOUND, message)
        # Durability: the frame, and the event it answers, are committed before it leaves.
        await self._gateway.committed()
        await self._websocket.send(message)


async def serve_connection(websocket: ServerConnection, gateway: Gateway) -> None:
    """The websockets handler: runs one charge point session until the socket closes."""
    cp_id = charge_point_id(websocket.request.path if websocket.request else "")
    if cp_id is None:  # process_request already refused it; belt and braces
        await websocket.close(1008, "no charge point id")
        return
    if websocket.subprotocol != SUBPROTOCOL:
        await websocket.close(1002, "subprotocol ocpp1.6 required")
        return
    gateway.open_connections += 1
    try:
        session = await gateway.open_session(cp_id, TappedConnection(websocket, cp_id, gateway), websocket)
        try:
            await session.start()
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else closed.sent.code if closed.sent else "no close frame"
            log.info("Charge point %s disconnected (%s)", cp_id, code)
        finally:
            gateway.close_session(cp_id, session)
    finally:
        gateway.open_connections -= 1
