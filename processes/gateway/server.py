"""The websocket side: which requests may upgrade, and one session per connection."""

from __future__ import annotations

import http
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

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


def _reject(status: http.HTTPStatus, text: str) -> Response:
    body = f"{text}\n".encode()
    headers = Headers([("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return Response(status.value, status.phrase, headers, body)


def request_checker(allowed: frozenset[str] | None) -> Callable[[ServerConnection, Request], Response | None]:
    def check(connection: ServerConnection, request: Request) -> Response | None:
        cp_id = charge_point_id(request.path)
        if cp_id is None:
            log.warning("Refused a connection without a charge point id in the path %r", request.path[:200])
            return _reject(http.HTTPStatus.NOT_FOUND, "no charge point id in the URL path")
        if allowed is not None and cp_id not in allowed:
            log.warning("Refused unknown charge point %r (add it to OCPP_ALLOWED_CHARGE_POINTS to let it in)", cp_id)
            return _reject(http.HTTPStatus.NOT_FOUND, "unknown charge point")
        return None

    return check


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
    session = await gateway.open_session(cp_id, TappedConnection(websocket, cp_id, gateway), websocket)
    try:
        await session.start()
    except ConnectionClosed as closed:
        log.info("Charge point %s disconnected (%s)", cp_id, closed.rcvd.code if closed.rcvd else "no close frame")
    finally:
        gateway.close_session(cp_id, session)
