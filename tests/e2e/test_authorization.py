"""End to end, who may charge and who may connect (issue 17, docs/authorization.md): the connector
under supervisord with an id tags file, simulated charge points over real websockets, what BEMCom
sees on MQTT. Every status reaches the charge point and BEMCom; a change of the file is picked up,
a bad one refused; a charger's local list is kept equal to the file, applied by the charger while
the gateway is down, and not sent again after the restart; the allow-list and passwords files are
re-read and a charge point removed from them is disconnected; in security profile 3 a certificate
of another charge point is refused."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from websockets.exceptions import InvalidStatus

from bench.harness import Broker, Connector, Observer, port_open, wait_until
from tests.support.bemcom import Bemcom
from tests.support.certs import certificate_authority, client_context, signed_by
from tests.support.chargepoint import SimulatedChargePoint
from tools.configuration import factory_configuration

pytestmark = pytest.mark.e2e

TAGS = """\
[id_tags."GOOD"]
parent = "FLEET-1"
expiry = 2099-01-01T00:00:00Z

[id_tags."LOST"]
status = "Blocked"

[id_tags."OLD"]             # past its expiry
expiry = 2020-01-01T00:00:00Z

[id_tags."GONE"]
status = "Expired"

[id_tags."BANNED"]
status = "Invalid"
"""
#: GOOD blocked (a lost card), LOST gone from the file, NEWBIE new.
CHANGED = TAGS.replace('parent = "FLEET-1"', 'parent = "FLEET-1"\nstatus = "Blocked"').replace(
    '[id_tags."LOST"]\nstatus = "Blocked"', '[id_tags."NEWBIE"]'
)


@contextlib.contextmanager
def running(directory: Path, broker: Broker, **settings: str) -> Iterator[tuple[Connector, Observer]]:
    connector = Connector(directory, broker.port, OCPP_CALL_TIMEOUT="3", OCPP_BOOT_WAIT="1", **settings)
    connector.use_private_control()  # the module's connector runs beside it
    connector.start()
    try:
        observer = Observer(broker.port, connector.name)
        try:
            yield connector, observer
        finally:
            observer.close()
    finally:
        connector.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Connector, Observer, Path]]:
    directory: Path = tmp_path_factory.mktemp("authorization")
    tags = directory / "id_tags.toml"
    tags.write_text(TAGS)
    broker = Broker(directory)
    broker.start()
    try:
        with running(directory, broker, OCPP_ID_TAGS_FILE=str(tags), OCPP_AUTHORIZE="listed") as (connector, observer):
            yield connector, observer, tags
    finally:
        broker.stop()


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:  # noqa: ASYNC109
    """``wait_until`` without blocking the event loop the simulated charge points answer on."""
    return await asyncio.to_thread(wait_until, predicate, timeout, what)


async def logged(observer: Observer, text: str, since: int, timeout: float = 15) -> dict[str, Any]:  # noqa: ASYNC109
    """The first record on the log topic after the ``since``-th that contains ``text``."""

    def found() -> Any:
        return next((m.payload for m in observer.on("logs")[since:] if text in m.payload["msg"]), None)

    record: dict[str, Any] = await until(found, timeout, f"a log record with {text!r}")
    return record


def statuses(observer: Observer, key: str) -> list[Any]:
    return [message.payload["value"] for message in observer.on(f"sensor/{key}")]


def test_every_status_reaches_the_charge_point_and_bemcom(site: tuple[Connector, Observer, Path]) -> None:
    connector, observer, _ = site
    keys = [f"CP_A__{c}__transaction__id_tag_status" for c in (1, 2, 3)] + ["CP_A__Authorize__status"]
    Bemcom(observer).map(sensors=(*keys, "CP_A__2__transaction__id_tag", "CP_A__Authorize__id_tag"))
    presented = ["GOOD", "good", "LOST", "OLD", "GONE", "BANNED", "STRANGER"]

    async def scenario() -> None:
        async with SimulatedChargePoint(connector.url, "CP_A") as cp, SimulatedChargePoint(connector.url, "CP_B") as b:
            await cp.boot()
            answers = [(await cp.authorize(tag))["idTagInfo"] for tag in presented]
            assert answers == [
                {"status": "Accepted", "expiryDate": "2099-01-01T00:00:00Z", "parentIdTag": "FLEET-1"},
                {"status": "Accepted", "expiryDate": "2099-01-01T00:00:00Z", "parentIdTag": "FLEET-1"},
                {"status": "Blocked"},
                {"status": "Expired", "expiryDate": "2020-01-01T00:00:00Z"},
                {"status": "Expired"},
                {"status": "Invalid"},
                {"status": "Invalid"},
            ]
            first = await cp.start_transaction(1, "GOOD", meter_start=0)
            assert cp.last_start_transaction_result == {"transactionId": first, "idTagInfo": answers[0]}
            # The same card on another connector, on another charge point: ConcurrentTx, with an id.
            second = await cp.start_transaction(2, "GOOD", meter_start=0)
            assert cp.last_start_transaction_result == {
                "transactionId": second,
                "idTagInfo": {**answers[0], "status": "ConcurrentTx"},
            }
            await b.boot()
            await b.start_transaction(1, "good", meter_start=0)
            assert b.last_start_transaction_result is not None
            assert b.last_start_transaction_result["idTagInfo"]["status"] == "ConcurrentTx"
            # A stranger's transaction is refused, and still gets its id (OCPP 1.6 section 4.8).
            third = await cp.start_transaction(3, "STRANGER", meter_start=0)
            assert cp.last_start_transaction_result == {"transactionId": third, "idTagInfo": {"status": "Invalid"}}
            assert len({first, second, third}) == 3
            assert await cp.stop_transaction(first, 1000, idTag="GOOD") == {"idTagInfo": answers[0]}
            assert await cp.stop_transaction(second, 0, reason="DeAuthorized") == {}
            assert await b.stop_transaction(b.last_start_transaction_result["transactionId"], 0) == {}

    asyncio.run(scenario())
    wait_until(lambda: len(statuses(observer, "CP_A__Authorize__status")) == len(presented), 15, "every answer")
    assert statuses(observer, "CP_A__Authorize__status") == [
        "Accepted",
        "Accepted",
        "Blocked",
        "Expired",
        "Expired",
        "Invalid",
        "Invalid",
    ]
    assert statuses(observer, "CP_A__Authorize__id_tag") == presented
    wait_until(lambda: statuses(observer, "CP_A__3__transaction__id_tag_status"), 15, "the third transaction")
    assert statuses(observer, "CP_A__1__transaction__id_tag_status") == ["Accepted"]
    assert statuses(observer, "CP_A__2__transaction__id_tag_status") == ["ConcurrentTx"]
    assert statuses(observer, "CP_A__2__transaction__id_tag") == ["GOOD"]
    assert statuses(observer, "CP_A__3__transaction__id_tag_status") == ["Invalid"]


def test_a_change_of_the_file_is_picked_up_and_a_bad_one_refused(site: tuple[Connector, Observer, Path]) -> None:
    connector, observer, tags = site

    async def scenario() -> None:
        async with SimulatedChargePoint(connector.url, "CP_C") as cp:
            await cp.boot()
            assert (await cp.authorize("NEWBIE"))["idTagInfo"] == {"status": "Invalid"}
            mark = len(observer.on("logs"))
            tags.write_text(CHANGED)
            await logged(observer, "OCPP_ID_TAGS_FILE changed", mark)
            assert (await cp.authorize("NEWBIE"))["idTagInfo"] == {"status": "Accepted"}
            assert (await cp.authorize("GOOD"))["idTagInfo"]["status"] == "Blocked"  # the lost card
            assert (await cp.authorize("LOST"))["idTagInfo"] == {"status": "Invalid"}  # gone from the file
            mark = len(observer.on("logs"))
            tags.write_text(CHANGED + '\n[id_tags."newbie"]\n')  # listed twice (tags are case-insensitive)
            refusal = await logged(observer, "OCPP_ID_TAGS_FILE", mark)
            assert f"OCPP_ID_TAGS_FILE {tags} line" in refusal["msg"] and 'id_tags."newbie"' in refusal["msg"]
            assert refusal["level"] >= 40 and "the last good version stays in force" in refusal["msg"]
            assert (await cp.authorize("NEWBIE"))["idTagInfo"] == {"status": "Accepted"}

    try:
        asyncio.run(scenario())
    finally:
        tags.write_text(TAGS)


def test_the_local_list_is_kept_applied_offline_and_not_sent_again_after_a_restart(
    tmp_path: Path, broker: Broker
) -> None:
    tags = tmp_path / "id_tags.toml"
    tags.write_text(TAGS)
    settings = {"OCPP_ID_TAGS_FILE": str(tags), "OCPP_AUTHORIZE": "listed"}

    async def list_is(observer: Observer, expected: str, timeout: float = 20) -> None:  # noqa: ASYNC109
        """Until ``CP_L__local_list`` (mapped) says ``expected``: events are journaled, so this
        holds across the gateway's restart (log records are not)."""
        await until(lambda: expected in statuses(observer, "CP_L__local_list"), timeout, f"local list {expected!r}")

    async def scenario(connector: Connector, observer: Observer) -> None:
        await asyncio.to_thread(Bemcom(observer).map, sensors=("CP_L__local_list",))
        store = factory_configuration(1)  # LocalAuthListManagement, SendLocalListMaxLength 100
        cp = SimulatedChargePoint(connector.url, "CP_L", configuration=store)
        await cp.connect()
        try:
            await cp.boot()
            [full] = await cp.wait_for_call("SendLocalList", timeout=20)
            assert (full["updateType"], full["listVersion"], len(full["localAuthorizationList"])) == ("Full", 1, 5)
            await list_is(observer, "version 1: Full update of 5 id tags")
            tags.write_text(CHANGED)
            [_, differential] = await cp.wait_for_call("SendLocalList", timeout=20, count=2)
            assert (differential["updateType"], differential["listVersion"]) == ("Differential", 2)
            changes = {e["idTag"]: e.get("idTagInfo", {}).get("status") for e in differential["localAuthorizationList"]}
            assert changes == {"GOOD": "Blocked", "NEWBIE": "Accepted", "LOST": None}
            await list_is(observer, "version 2: Differential update of 3 entries")
            # The connector goes away: the charger decides from its list.
            pid = connector.child_pids()["gateway"]
            os.kill(pid, signal.SIGKILL)
            await until(lambda: not cp.connected, 10, "the charge point to notice")
            offline = {
                tag: (await cp.authorize(tag))["idTagInfo"]["status"] for tag in ("NEWBIE", "GOOD", "OLD", "LOST")
            }
            assert offline == {"NEWBIE": "Accepted", "GOOD": "Blocked", "OLD": "Expired", "LOST": "Invalid"}
            # Back: the list is up to date (its version is in the gateway's database), nothing is sent.
            await until(lambda: connector.child_pids().get("gateway") not in (None, pid), 20, "a new gateway")
            await until(lambda: port_open(connector.ocpp_port), 20, "the gateway to listen")
            await cp.connect()
            await cp.boot()
            await list_is(observer, "up to date (version 2)", timeout=30)
            assert [action for action, _ in cp.received_calls].count("SendLocalList") == 2
            assert [action for action, _ in cp.received_calls].count("GetLocalListVersion") == 3  # boot, file, boot
        finally:
            await cp.close()

    with running(tmp_path, broker, **settings) as (connector, observer):
        asyncio.run(scenario(connector, observer))


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def htpasswd(path: Path, *users: str) -> None:
    path.write_text("".join(f"{u}:{bcrypt.hashpw(u.encode(), bcrypt.gensalt(rounds=4)).decode()}\n" for u in users))


async def refused(cp: SimulatedChargePoint) -> int:
    with pytest.raises(InvalidStatus) as refusal:
        await cp.connect()
    return refusal.value.response.status_code


async def disconnected(cp: SimulatedChargePoint, timeout: float = 15) -> int | None:  # noqa: ASYNC109
    """Until the connector closes the connection; its close code."""
    with pytest.raises(ConnectionError):
        while True:
            await cp.next_frame(timeout)
    return cp.close_code


def test_the_allow_list_and_passwords_files_are_read_again(tmp_path: Path, broker: Broker) -> None:
    allowed, passwords = tmp_path / "allowed.txt", tmp_path / "htpasswd"
    allowed.write_text("# the site\nCP_1\nCP_2\n")
    htpasswd(passwords, "CP_1", "CP_2", "CP_3")
    settings = {"OCPP_ALLOWED_CHARGE_POINTS": str(allowed), "OCPP_AUTH_FILE": str(passwords)}

    def charge_point(connector: Connector, cp_id: str) -> SimulatedChargePoint:
        return SimulatedChargePoint(connector.url, cp_id, extra_headers=basic(cp_id, cp_id))

    async def scenario(connector: Connector) -> None:
        one, two = charge_point(connector, "CP_1"), charge_point(connector, "CP_2")
        await one.connect()
        await two.connect()
        try:
            assert await refused(charge_point(connector, "CP_3")) == 404
            allowed.write_text("CP_1\nCP_3\n")
            assert await disconnected(two) == 1008
            assert await refused(charge_point(connector, "CP_2")) == 404
            async with charge_point(connector, "CP_3") as three:
                await three.heartbeat()
            htpasswd(passwords, "CP_2", "CP_3")
            assert await disconnected(one) == 1008
            assert await refused(charge_point(connector, "CP_1")) == 401
        finally:
            await one.close()
            await two.close()

    with running(tmp_path, broker, **settings) as (connector, _):
        asyncio.run(scenario(connector))
    output = connector.output()
    assert "Disconnecting charge point 'CP_2': removed from OCPP_ALLOWED_CHARGE_POINTS" in output
    assert "Disconnecting charge point 'CP_1': removed from OCPP_AUTH_FILE" in output


def test_profile_3_refuses_the_certificate_of_another_charge_point(tmp_path: Path, broker: Broker) -> None:
    ca = certificate_authority(tmp_path, "Site CA")
    server = signed_by(ca, tmp_path, "server")
    settings = {
        "OCPP_TLS_CERT_FILE": str(server.cert),
        "OCPP_TLS_KEY_FILE": str(server.key),
        "OCPP_TLS_CLIENT_CA_FILE": str(ca.cert),
    }
    legit, other = signed_by(ca, tmp_path, "LEGIT"), signed_by(ca, tmp_path, "OTHER")

    async def scenario(connector: Connector) -> None:
        url = f"wss://localhost:{connector.ocpp_port}"
        async with SimulatedChargePoint(url, "LEGIT", ssl=client_context(ca.cert, legit)) as cp:
            await cp.boot()
            assert await refused(SimulatedChargePoint(url, "LEGIT", ssl=client_context(ca.cert, other))) == 403
            await cp.heartbeat()  # the real one is unharmed

    with running(tmp_path, broker, **settings) as (connector, _):
        asyncio.run(scenario(connector))
    assert (
        "Refused charge point 'LEGIT': it presented a client certificate for 'OTHER' (CN), not for its id (HTTP 403)"
        in connector.output()
    )
