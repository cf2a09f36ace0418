"""Who may connect and who may charge, while serving (processes/gateway/access.py, admission.py,
registry.py): the allow-list file, the passwords file and the id tags file put a change in force
without a restart, a charge point removed from a file is disconnected, a bad change leaves the last
good file; in security profile 3 the client certificate's CN must be the charge point id; the
settings of issue 17; the sensors of who charged."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from common.bus import Event
from common.settings import AuthorizationSettings, SettingsError, load_gateway
from processes.bridge.sensors import sensor_values
from processes.gateway.__main__ import load as load_gateway_with_files
from processes.gateway.access import Access
from processes.gateway.admission import Admission, CredentialCheck
from processes.gateway.onboarding import Onboarding
from processes.gateway.registry import ConnectionRegistry
from processes.gateway.store import Store
from tests.support.buses import RecordingBus
from tests.support.onboarding_site import SETTINGS

# --------------------------------------------------------------------------- what a test connects


class FakeSocket:
    remote_address = ("10.0.0.1", 1234)
    subprotocol = "ocpp1.6"

    def __init__(self) -> None:
        self.closed: tuple[int, str] | None = None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


class FakeSession:
    def __init__(self, cp_id: str) -> None:
        self.id = cp_id
        self.closed = asyncio.Event()
        self.capabilities: dict[str, Any] = {}
        self.subprotocol = "ocpp1.6"


def hashed(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


async def until(predicate: Callable[[], bool], timeout: float = 5) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - the file watcher signals nothing else
            await asyncio.sleep(0.01)


def serve(
    env: dict[str, str],
    connected: list[str],
    scenario: Callable[[Access, dict[str, FakeSocket]], Awaitable[None]],
) -> None:
    """Charge points ``connected`` while the access files are watched (every 10 ms)."""
    settings = load_gateway(env)
    store = Store(":memory:")

    async def main() -> None:
        registry = ConnectionRegistry(RecordingBus(), store)
        onboarding = Onboarding(SETTINGS, 1.0, None, store, {})  # type: ignore[arg-type]  # no pass runs
        access = Access(settings, registry, onboarding, store)
        access.admission = Admission(
            allowed=access.allowed,
            credentials=access.credentials,
            max_connections=10,
            open_connections=lambda: 0,
            is_connected=registry.is_connected,
        )
        sockets = {cp_id: FakeSocket() for cp_id in connected}
        async with Connected(registry, sockets):
            watches = [asyncio.create_task(watch) for watch in access.watches(0.01)]
            try:
                await scenario(access, sockets)
            finally:
                for task in watches:
                    task.cancel()
                await asyncio.gather(*watches, return_exceptions=True)
                await access.close()

    try:
        asyncio.run(main())
    finally:
        store.close()


class Connected:
    """Every fake charge point registered as connected while the block runs."""

    def __init__(self, registry: ConnectionRegistry, sockets: dict[str, FakeSocket]) -> None:
        self.managers = [
            registry.serving(cp_id, FakeSession(cp_id), socket)  # type: ignore[arg-type]
            for cp_id, socket in sockets.items()
        ]

    async def __aenter__(self) -> None:
        for manager in self.managers:
            await manager.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        for manager in reversed(self.managers):
            await manager.__aexit__(None, None, None)


async def status(admission: Admission, cp_id: str, connection: Any = None, password: str | None = None) -> int | None:
    """The HTTP status the upgrade of ``cp_id`` gets (None: let in)."""
    headers = Headers({"Sec-WebSocket-Protocol": "ocpp1.6"})
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{cp_id}:{password}".encode()).decode()
    response = await admission(connection, Request(f"/ocpp/{cp_id}", headers))
    return None if response is None else response.status_code


# --------------------------------------------------------------------------- the allow-list file


def test_the_allow_list_file_is_read_again_and_a_removed_charge_point_is_disconnected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    allowed = tmp_path / "allowed.txt"
    allowed.write_text("# the site's charge points\nCP_1\nCP_2   # by the gate\n\n")

    async def scenario(access: Access, sockets: dict[str, FakeSocket]) -> None:
        assert access.admission is not None
        assert await status(access.admission, "CP_2") is None
        assert await status(access.admission, "CP_3") == 404
        allowed.write_text("CP_1\nCP_3\n")
        await until(lambda: sockets["CP_2"].closed is not None)
        assert sockets["CP_2"].closed == (1008, "removed from OCPP_ALLOWED_CHARGE_POINTS")
        assert sockets["CP_1"].closed is None
        assert await status(access.admission, "CP_3") is None
        assert await status(access.admission, "CP_2") == 404
        allowed.write_text("CP_1\nbad\x01id\n")  # refused: the last good file stays
        await until(lambda: any("line 2" in r.getMessage() for r in caplog.records))
        assert await status(access.admission, "CP_3") is None

    caplog.set_level(logging.INFO)
    serve({"OCPP_ALLOWED_CHARGE_POINTS": str(allowed)}, ["CP_1", "CP_2"], scenario)
    messages = [r.getMessage() for r in caplog.records]
    assert "Disconnecting charge point 'CP_2': removed from OCPP_ALLOWED_CHARGE_POINTS" in messages
    [refusal] = [r for r in caplog.records if "line 2" in r.getMessage()]
    assert refusal.levelno == logging.ERROR and f"OCPP_ALLOWED_CHARGE_POINTS {allowed}" in refusal.getMessage()


def test_the_passwords_file_is_read_again(tmp_path: Path) -> None:
    passwords = tmp_path / "htpasswd"
    passwords.write_text(f"CP_1:{hashed('one')}\nCP_2:{hashed('two')}\n")

    async def scenario(access: Access, sockets: dict[str, FakeSocket]) -> None:
        assert access.admission is not None
        assert await status(access.admission, "CP_1", password="one") is None
        passwords.write_text(f"CP_1:{hashed('new')}\nCP_3:{hashed('three')}\n")
        await until(lambda: sockets["CP_2"].closed is not None)
        assert sockets["CP_2"].closed == (1008, "removed from OCPP_AUTH_FILE")
        assert sockets["CP_1"].closed is None  # a new password is asked for at its next connection
        assert await status(access.admission, "CP_1", password="one") == 401  # remembered no longer
        assert await status(access.admission, "CP_1", password="new") is None
        assert await status(access.admission, "CP_3", password="three") is None

    serve({"OCPP_AUTH_FILE": str(passwords)}, ["CP_1", "CP_2"], scenario)


def test_the_id_tags_file_is_read_again(tmp_path: Path) -> None:
    tags = tmp_path / "tags.toml"
    tags.write_text('[id_tags."CARD"]\n')

    async def scenario(access: Access, sockets: dict[str, FakeSocket]) -> None:
        authorizer = access.authorizer
        assert authorizer is not None
        assert authorizer.authorize("card").status == "Accepted"
        tags.write_text('[id_tags."CARD"]\nstatus = "Blocked"\n')
        await until(lambda: authorizer.authorize("CARD").status == "Blocked")
        tags.write_text('[id_tags."CARD"]\nstatus = "Lost"\n')  # refused: stays Blocked
        await asyncio.sleep(0.1)
        assert authorizer.authorize("CARD").status == "Blocked"

    serve({"OCPP_ID_TAGS_FILE": str(tags), "OCPP_AUTHORIZE": "listed"}, [], scenario)


# --------------------------------------------------------------------------- security profile 3


class TlsConnection:
    """A websocket server connection as far as the CN check reads it (its TLS transport)."""

    def __init__(self, peercert: object) -> None:
        self.transport = self
        self.peercert = peercert

    def get_extra_info(self, name: str) -> object:
        return self.peercert if name == "peercert" else None


def connection_with(peercert: object) -> TlsConnection:
    return TlsConnection(peercert)


def certificate(*names: tuple[str, str]) -> dict[str, Any]:
    return {"subject": tuple(((key, value),) for key, value in names)}


def test_profile_3_needs_a_certificate_whose_cn_is_the_charge_point_id(caplog: pytest.LogCaptureFixture) -> None:
    admission = Admission(
        allowed=None,
        credentials=None,
        max_connections=10,
        open_connections=lambda: 0,
        is_connected=lambda cp_id: False,
        client_certificates=True,
    )

    async def main() -> list[int | None]:
        return [
            await status(
                admission, "CP_1", connection_with(certificate(("organizationName", "CPO"), ("commonName", "CP_1")))
            ),
            await status(admission, "CP_1", connection_with(certificate(("commonName", "CP_2")))),
            await status(admission, "CP_1", connection_with(certificate(("organizationName", "CPO")))),
            await status(admission, "CP_1", connection_with(None)),
            await status(admission, "cp_1", connection_with(certificate(("commonName", "CP_1")))),
        ]

    assert asyncio.run(main()) == [None, 403, 403, 403, 403]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert messages == [
        "Refused charge point 'CP_1': it presented a client certificate for 'CP_2' (CN), not for its id (HTTP 403)",
        "Refused charge point 'CP_1': it presented a client certificate without CN (HTTP 403)",
        "Refused charge point 'CP_1': it presented no client certificate (HTTP 403)",
        "Refused charge point 'cp_1': it presented a client certificate for 'CP_1' (CN), not for its id (HTTP 403)",
    ]


def test_credentials_replaced_keep_verifying() -> None:
    check = CredentialCheck({"CP_1": hashed("a")})

    async def main() -> list[bool]:
        first = await check.verify("CP_1", "a")
        check.replace({"CP_1": hashed("b"), "CP_2": hashed("c")})
        return [first, await check.verify("CP_1", "a"), await check.verify("CP_1", "b"), check.knows("CP_2")]

    assert asyncio.run(main()) == [True, False, True, True]


# --------------------------------------------------------------------------- settings


def test_the_settings_of_issue_17(tmp_path: Path) -> None:
    tags = tmp_path / "tags.toml"
    tags.write_text("")
    allowed = tmp_path / "allowed.txt"
    allowed.write_text("CP_1\n# CP_2\nCP 3\n")
    assert load_gateway({}).authorization == AuthorizationSettings(None, "all", True)
    settings = load_gateway(
        {
            "OCPP_ID_TAGS_FILE": str(tags),
            "OCPP_AUTHORIZE": "Listed",
            "OCPP_LOCAL_LIST": "FALSE",
            "OCPP_ALLOWED_CHARGE_POINTS": str(allowed),
        }
    )
    assert settings.authorization == AuthorizationSettings(str(tags), "listed", False)
    assert settings.allowed_charge_points == frozenset({"CP_1", "CP 3"})
    assert settings.allowed_charge_points_file == str(allowed)
    assert load_gateway({"OCPP_ALLOWED_CHARGE_POINTS": "CP_1,CP_2"}).allowed_charge_points_file is None


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"OCPP_AUTHORIZE": "some"}, "OCPP_AUTHORIZE='some' is invalid: expected all or listed"),
        ({"OCPP_AUTHORIZE": "listed"}, "OCPP_AUTHORIZE='listed' needs OCPP_ID_TAGS_FILE"),
        ({"OCPP_LOCAL_LIST": "no"}, "OCPP_LOCAL_LIST='no' is invalid: expected TRUE or FALSE"),
        ({"OCPP_ID_TAGS_FILE": "/nonexistent/tags.toml"}, "OCPP_ID_TAGS_FILE='/nonexistent/tags.toml' is invalid"),
        (
            {"OCPP_ALLOWED_CHARGE_POINTS": "/none/ids"},
            "OCPP_ALLOWED_CHARGE_POINTS='/none/ids' is invalid: expected a readable",
        ),
    ],
)
def test_bad_settings_of_issue_17_stop_with_one_line_naming_them(env: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_gateway(env)
    [line] = refused.value.problems
    assert line.startswith(problem)


def test_a_bad_id_tags_file_stops_the_gateway_at_start_naming_line_and_field(tmp_path: Path) -> None:
    tags = tmp_path / "tags.toml"
    tags.write_text('[id_tags."A"]\n\n[id_tags."B"]\nexpiry = "soon"\n')
    with pytest.raises(SettingsError) as refused:
        load_gateway_with_files({"OCPP_ID_TAGS_FILE": str(tags)})
    [line] = refused.value.problems
    assert line.startswith(f'OCPP_ID_TAGS_FILE {tags} line 4: id_tags."B".expiry: must be a date and time')


def test_a_bad_allow_list_file_names_its_line(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed.txt"
    allowed.write_text("CP_1\nCP\x072\n")
    with pytest.raises(SettingsError) as refused:
        load_gateway({"OCPP_ALLOWED_CHARGE_POINTS": str(allowed)})
    assert refused.value.problems == [
        f"OCPP_ALLOWED_CHARGE_POINTS={str(allowed)!r} is invalid: line 2: a charge point id must not contain"
        " control characters"
    ]


# --------------------------------------------------------------------------- sensors


def values(kind: str, payload: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    event = Event(run="r", seq=1, cp="CP_1", kind=kind, ts=1000, payload=payload, ctx=ctx)
    return {value.key: value.value for value in sensor_values(event)}


def test_who_charged_and_the_answers_are_sensors() -> None:
    assert values("Authorize", {"id_tag": "CARD"}, {"status": "Blocked"}) == {
        "CP_1__Authorize__id_tag": "CARD",
        "CP_1__Authorize__status": "Blocked",
    }
    start = {"connector_id": 1, "id_tag": "CARD", "meter_start": 5, "timestamp": "2026-12-01T12:00:00Z"}
    found = values("StartTransaction", start, {"transaction_id": 7, "connector_id": 1, "id_tag_status": "Invalid"})
    assert found["CP_1__1__transaction__id_tag"] == "CARD"
    assert found["CP_1__1__transaction__id_tag_status"] == "Invalid"
    assert found["CP_1__1__transaction__id"] == 7
    assert values("LocalList", {"status": "up to date (version 3)"}, {}) == {
        "CP_1__local_list": "up to date (version 3)"
    }
    # An older gateway's events have no status: no value, nothing else changes.
    assert "CP_1__Authorize__status" not in values("Authorize", {"id_tag": "CARD"}, {})
