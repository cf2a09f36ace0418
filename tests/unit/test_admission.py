"""The HTTP upgrade checks of the OCPP server, on websockets' own Request objects."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import bcrypt
import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from processes.gateway.admission import Admission, CredentialCheck

HASHES = {"CP_1": bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()}


def request(
    path: str = "/ocpp/CP_1", protocols: str | None = "ocpp1.6", auth: tuple[str, str] | None = None
) -> Request:
    headers = Headers()
    if protocols is not None:
        headers["Sec-WebSocket-Protocol"] = protocols
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    return Request(path, headers)


def check(req: Request, **options: Any) -> int | None:
    settings: dict[str, Any] = {
        "allowed": None,
        "credentials": None,
        "max_connections": 10,
        "open_connections": lambda: 0,
        "is_connected": lambda cp_id: False,
    }
    settings.update(options)

    async def run() -> int | None:
        response = await Admission(**settings)(None, req)  # type: ignore[arg-type]
        return None if response is None else response.status_code

    return asyncio.run(run())


def test_plain_admission_checks_id_subprotocol_allowlist_and_capacity() -> None:
    assert check(request()) is None
    assert check(request("/")) == 404
    assert check(request(protocols=None)) == 400
    assert check(request(protocols="ocpp2.0.1, ocpp1.5")) == 400
    assert check(request(protocols="ocpp2.0.1, ocpp1.6")) is None
    assert check(request(), allowed=frozenset({"CP_2"})) == 404
    full = {"max_connections": 1, "open_connections": lambda: 1}
    assert check(request(), **full) == 503
    assert check(request(), **full, is_connected=lambda cp_id: cp_id == "CP_1") is None  # replacing its connection


def test_basic_auth_refusals_are_401_and_logged_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)

    def creds() -> CredentialCheck:
        return CredentialCheck(HASHES)

    assert check(request(auth=("CP_1", "s3cret")), credentials=creds()) is None
    assert check(request(), credentials=creds()) == 401
    assert check(request(auth=("CP_1", "wrong-pw")), credentials=creds()) == 401
    assert check(request(auth=("CP_2", "s3cret")), credentials=creds()) == 401  # another id's credentials
    assert check(request("/ocpp/CP_9", auth=("CP_9", "s3cret")), credentials=creds()) == 401
    assert check(request(auth=("CP_1", "x" * 500)), credentials=creds()) == 401
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 5 and all("'CP_" in message and "401" in message for message in messages)
    assert not any("wrong-pw" in message or "s3cret" in message for message in messages)


def test_successful_verifications_are_cached_and_failures_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)  # the module admission calls
    credentials = CredentialCheck(HASHES)

    async def run() -> list[bool]:
        return [
            await credentials.verify("CP_1", "s3cret"),
            await credentials.verify("CP_1", "s3cret"),
            await credentials.verify("CP_1", "nope"),
            await credentials.verify("CP_1", "nope"),
            await credentials.verify("unknown", "s3cret"),
        ]

    assert asyncio.run(run()) == [True, True, False, False, False]
    assert calls == [b"s3cret", b"nope", b"nope", b"s3cret"]  # unknown ids cost a check too (timing)


def test_bcrypt_runs_off_the_event_loop() -> None:
    slow = {"CP_1": bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=12)).decode()}  # a few hundred ms
    credentials = CredentialCheck(slow)

    async def run() -> int:
        ticks = 0
        verifying = asyncio.create_task(credentials.verify("CP_1", "wrong"))
        while not verifying.done():
            ticks += 1
            await asyncio.sleep(0.001)  # a tick of the loop: counting them is the point
        assert verifying.result() is False
        return ticks

    assert asyncio.run(run()) > 5  # the loop kept running while bcrypt worked
