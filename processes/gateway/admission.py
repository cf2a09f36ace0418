"""Who may open an OCPP connection, decided in the HTTP upgrade before any OCPP is spoken.

In order: a charge point id in the path (else 404), room for one more connection (else 503;
a charge point that is connected already may always replace its connection), the ``ocpp1.6``
subprotocol offered (else 400), an allowed id (else 404, as OCPP-J 3.2 says), in security
profile 3 a client certificate whose CN is that id (else 403, security whitepaper A00.FR.405)
and, with ``OCPP_AUTH_FILE``, HTTP Basic credentials of that id (else 401, OCPP security
profiles 1 and 2). Every refusal is logged with the charge point id and the reason, never a
password. The allowed ids and the passwords may be replaced while serving (their files changed).
"""

from __future__ import annotations

import asyncio
import hashlib
import http
import logging
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import unquote

import bcrypt
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeader
from websockets.headers import build_www_authenticate_basic, parse_authorization_basic
from websockets.http11 import Request, Response

from common.security import client_certificate_names

log = logging.getLogger(__name__)

REALM = "OCPP"
#: bcrypt only reads the first 72 bytes of a password (Apache's htpasswd -B truncates too).
BCRYPT_MAX_BYTES = 72


def reject(status: http.HTTPStatus, text: str) -> Response:
    body = f"{text}\n".encode()
    headers = Headers([("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return Response(status.value, status.phrase, headers, body)


class CredentialCheck:
    """Verifies passwords against bcrypt hashes. bcrypt is slow by design: it runs in a
    thread (at most ``concurrency`` at once, so a stream of wrong guesses cannot take every
    core), and successful verifications are remembered for the process lifetime, keyed by a
    SHA-256 of (stored hash, password), so a reconnecting charge point costs nothing."""

    def __init__(self, credentials: Mapping[str, str], concurrency: int = 2) -> None:
        self._verified: set[bytes] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self.replace(credentials)

    def replace(self, credentials: Mapping[str, str]) -> None:
        """The passwords of a new version of the file (not empty). A remembered verification
        holds only while the hash it was made with stays (it is part of its key)."""
        self._hashes = {cp_id: hashed.encode() for cp_id, hashed in credentials.items()}
        # Unknown ids are checked against a real hash too: timing does not tell which ids exist.
        self._decoy = next(iter(self._hashes.values()))

    def knows(self, cp_id: str) -> bool:
        return cp_id in self._hashes

    async def verify(self, cp_id: str, password: str) -> bool:
        candidate = password.encode("utf-8", "surrogateescape")[:BCRYPT_MAX_BYTES]
        hashed = self._hashes.get(cp_id)
        if hashed is None:
            await self._checkpw(candidate, self._decoy)
            return False
        key = hashlib.sha256(hashed + b"\0" + candidate).digest()
        if key in self._verified:
            return True
        if await self._checkpw(candidate, hashed):
            self._verified.add(key)
            return True
        return False

    async def _checkpw(self, password: bytes, hashed: bytes) -> bool:
        async with self._slots:
            try:
                return await asyncio.to_thread(bcrypt.checkpw, password, hashed)
            except ValueError:  # a hash bcrypt cannot read
                return False


def charge_point_id(path: str) -> str | None:
    """OCPP-J: the charge point id is the last path segment, percent-decoded."""
    path = path.split("?", 1)[0].rstrip("/")
    segment = path.rsplit("/", 1)[-1]
    cp_id = unquote(segment)
    if not cp_id or any(ord(char) < 32 for char in cp_id):
        return None
    return cp_id


def offered_subprotocols(headers: Headers) -> list[str]:
    return [
        part.strip() for value in headers.get_all("Sec-WebSocket-Protocol") for part in value.split(",") if part.strip()
    ]


class Admission:
    """The ``process_request`` of the OCPP server."""

    def __init__(
        self,
        *,
        allowed: frozenset[str] | None,
        credentials: CredentialCheck | None,
        max_connections: int,
        open_connections: Callable[[], int],
        is_connected: Callable[[str], bool],
        subprotocols: Sequence[str] = ("ocpp1.6",),
        client_certificates: bool = False,
    ) -> None:
        self._subprotocols = tuple(subprotocols)
        self._required = " or ".join(self._subprotocols)
        #: The ids that may connect (None: any); replaced when OCPP_ALLOWED_CHARGE_POINTS' file changes.
        self.allowed = allowed
        #: Security profile 3: the client certificate's CN must be the charge point id.
        self._client_certificates = client_certificates
        self._credentials = credentials
        self._max_connections = max_connections
        self._open_connections = open_connections
        self._is_connected = is_connected

    async def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        cp_id = charge_point_id(request.path)
        if cp_id is None:
            log.warning("Refused a connection without a charge point id in the path %r", request.path[:200])
            return reject(http.HTTPStatus.NOT_FOUND, "no charge point id in the URL path")
        if self._open_connections() >= self._max_connections and not self._is_connected(cp_id):
            log.warning(
                "Refused charge point %r: %d connections open, the most OCPP_MAX_CONNECTIONS allows",
                cp_id,
                self._max_connections,
            )
            return reject(http.HTTPStatus.SERVICE_UNAVAILABLE, "too many connections; retry later")
        offered = offered_subprotocols(request.headers)
        if not any(subprotocol in offered for subprotocol in self._subprotocols):
            log.warning(
                "Refused charge point %r: it offers no %s subprotocol (Sec-WebSocket-Protocol: %r)",
                cp_id,
                self._required,
                ", ".join(offered)[:100] or None,
            )
            return reject(http.HTTPStatus.BAD_REQUEST, f"subprotocol {self._required} required")
        if self.allowed is not None and cp_id not in self.allowed:
            log.warning("Refused unknown charge point %r (add it to OCPP_ALLOWED_CHARGE_POINTS to let it in)", cp_id)
            return reject(http.HTTPStatus.NOT_FOUND, "unknown charge point")
        if self._client_certificates:
            refused = certificate_refusal(connection, cp_id)
            if refused is not None:
                return refused
        if self._credentials is not None:
            return await self._authenticate(self._credentials, cp_id, request)
        return None

    async def _authenticate(self, credentials: CredentialCheck, cp_id: str, request: Request) -> Response | None:
        header = request.headers.get("Authorization")
        problem = None
        if header is None:
            problem = "no HTTP Basic credentials"
        else:
            try:
                username, password = parse_authorization_basic(header)
            except InvalidHeader:
                problem = "an Authorization header that is not HTTP Basic"
            else:
                if username != cp_id:
                    problem = f"credentials of user {username[:60]!r}, not of its own id"
                elif not credentials.knows(cp_id):
                    problem = "credentials, but its id is not in OCPP_AUTH_FILE"
                    await credentials.verify(cp_id, password)
                elif not await credentials.verify(cp_id, password):
                    problem = "a wrong password"
        if problem is None:
            return None
        log.warning("Refused charge point %r: it sent %s (HTTP 401)", cp_id, problem)
        response = reject(http.HTTPStatus.UNAUTHORIZED, "authentication required")
        response.headers["WWW-Authenticate"] = build_www_authenticate_basic(REALM)
        return response


def certificate_refusal(connection: ServerConnection, cp_id: str) -> Response | None:
    """Security profile 3 (whitepaper A00.FR.405): the CN of the client certificate must be the
    charge point's id; else 403 and a WARNING (A00.FR.407/408: connection ended, logged)."""
    transport = getattr(connection, "transport", None)
    peercert = transport.get_extra_info("peercert") if transport is not None else None
    names = client_certificate_names(peercert)
    if cp_id in names:
        return None
    if not names:
        problem = "a client certificate without CN" if peercert else "no client certificate"
    else:
        problem = f"a client certificate for {', '.join(repr(name[:60]) for name in names)} (CN), not for its id"
    log.warning("Refused charge point %r: it presented %s (HTTP 403)", cp_id, problem)
    return reject(http.HTTPStatus.FORBIDDEN, "the client certificate is not this charge point's")
