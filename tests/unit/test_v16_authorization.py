"""The OCPP 1.6 answers to id tags (processes/gateway/v16/session.py) on a real session over a fake
socket: ``OCPP_AUTHORIZE=all`` answers exactly as before, ``listed`` from the id tags file; a refused
StartTransaction still gets its transaction id; ConcurrentTx; the statuses in the events; and the
store that remembers them (processes/gateway/store.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

from processes.gateway.authorization import Authorizer
from processes.gateway.id_tags import IdTag, of
from processes.gateway.store import Store
from processes.gateway.v16.session import ChargePointSession
from tests.support.buses import RecordingBus

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
TAGS = of(
    IdTag("FLEET-A", parent="FLEET", expiry=dt.datetime(2027, 6, 30, tzinfo=dt.UTC)),
    IdTag("LOST", status="Blocked"),
    IdTag("OLD", expiry=NOW - dt.timedelta(days=1)),
)


class Socket:
    def __init__(self) -> None:
        self.sent: list[list[Any]] = []

    async def recv(self, decode: bool | None = None) -> str:
        raise AssertionError("route_message is driven directly")

    async def send(self, message: str) -> None:
        self.sent.append(json.loads(message))


def run(
    calls: list[tuple[str, dict[str, Any]]], authorizer: Authorizer | None, store: Store | None = None, cp: str = "CP_1"
) -> tuple[list[Any], RecordingBus]:
    """The answers (payloads) to these calls, in order, and the events."""
    bus, socket = RecordingBus(), Socket()
    own = store is None
    store = store or Store(":memory:")

    async def main() -> None:
        session = ChargePointSession(
            cp, socket, bus=bus, store=store, heartbeat_interval=300, response_timeout=1, authorizer=authorizer
        )
        for number, (action, payload) in enumerate(calls):
            await session.route_message(json.dumps([2, f"m{number}", action, payload]))

    try:
        asyncio.run(main())
    finally:
        if own:
            store.close()
    assert [frame[0] for frame in socket.sent] == [3] * len(calls), socket.sent
    return [frame[2] for frame in socket.sent], bus


def start(connector: int, tag: str, meter: int = 0) -> tuple[str, dict[str, Any]]:
    payload = {"connectorId": connector, "idTag": tag, "meterStart": meter, "timestamp": f"2026-12-01T12:00:0{meter}Z"}
    return "StartTransaction", payload


def stop(transaction: int, tag: str | None = None) -> tuple[str, dict[str, Any]]:
    payload: dict[str, Any] = {"transactionId": transaction, "meterStop": 10, "timestamp": "2026-12-01T13:00:00Z"}
    if tag is not None:
        payload["idTag"] = tag
    return "StopTransaction", payload


def test_authorize_all_answers_as_before_every_time() -> None:
    answers, bus = run([("Authorize", {"idTag": "ANYONE"}), ("Authorize", {"idTag": "ANYONE"})], None)
    assert answers == [{"idTagInfo": {"status": "Accepted"}}, {"idTagInfo": {"status": "Accepted"}}]
    assert [(kind, ctx) for kind, _, ctx in bus.events] == [("Authorize", {"status": "Accepted"})] * 2


def test_transactions_with_authorize_all_answer_as_before() -> None:
    store = Store(":memory:")
    try:
        answers, bus = run([start(1, "ANYONE"), start(2, "ANYONE", 1)], None, store)
        first, second = (answer["transactionId"] for answer in answers)
        stops, _ = run([stop(first, "ANYONE"), stop(second)], None, store)
    finally:
        store.close()
    assert answers == [
        {"transactionId": first, "idTagInfo": {"status": "Accepted"}},  # the same tag twice: no ConcurrentTx
        {"transactionId": second, "idTagInfo": {"status": "Accepted"}},
    ]
    assert stops == [{"idTagInfo": {"status": "Accepted"}}, {}]
    assert [ctx["id_tag_status"] for kind, _, ctx in bus.events] == ["Accepted", "Accepted"]


def test_authorize_listed_answers_from_the_file() -> None:
    authorizer = Authorizer(TAGS, clock=lambda: NOW)
    tags = ["fleet-a", "LOST", "OLD", "STRANGER"]
    answers, bus = run([("Authorize", {"idTag": tag}) for tag in tags], authorizer)
    assert answers == [
        {"idTagInfo": {"status": "Accepted", "expiryDate": "2027-06-30T00:00:00Z", "parentIdTag": "FLEET"}},
        {"idTagInfo": {"status": "Blocked"}},
        {"idTagInfo": {"status": "Expired", "expiryDate": "2026-11-30T12:00:00Z"}},
        {"idTagInfo": {"status": "Invalid"}},
    ]
    assert [ctx["status"] for _, _, ctx in bus.events] == ["Accepted", "Blocked", "Expired", "Invalid"]
    assert [payload["id_tag"] for _, payload, _ in bus.events] == tags  # the payload as received


def test_a_refused_start_gets_a_transaction_id_and_its_status_is_published() -> None:
    answers, bus = run([start(1, "STRANGER"), start(2, "LOST", 1)], Authorizer(TAGS, clock=lambda: NOW))
    assert [answer["idTagInfo"] for answer in answers] == [{"status": "Invalid"}, {"status": "Blocked"}]
    assert all(isinstance(answer["transactionId"], int) for answer in answers)
    assert answers[0]["transactionId"] != answers[1]["transactionId"]
    assert [(ctx["transaction_id"], ctx["id_tag_status"]) for _, _, ctx in bus.events] == [
        (answers[0]["transactionId"], "Invalid"),
        (answers[1]["transactionId"], "Blocked"),
    ]


def test_a_tag_charging_on_another_connector_or_charge_point_gets_concurrent_tx() -> None:
    authorizer = Authorizer(TAGS, clock=lambda: NOW)
    store = Store(":memory:")
    try:
        first, _ = run([start(1, "FLEET-A")], authorizer, store)
        again, _ = run([start(1, "FLEET-A")], authorizer, store)  # sent again: the same transaction
        elsewhere, _ = run([start(2, "fleet-a", 1)], authorizer, store)
        other_cp, _ = run([start(1, "FLEET-A", 2)], authorizer, store, cp="CP_2")
        refused = elsewhere[0]["transactionId"]
        stopped, _ = run([stop(first[0]["transactionId"], "FLEET-A"), stop(refused)], authorizer, store)
        after, _ = run([start(2, "FLEET-A", 3)], authorizer, store)
    finally:
        store.close()
    assert first[0]["idTagInfo"]["status"] == "Accepted"
    assert again[0] == first[0]
    assert elsewhere[0]["idTagInfo"]["status"] == "ConcurrentTx"
    assert other_cp[0]["idTagInfo"]["status"] == "ConcurrentTx"
    assert stopped[0] == {"idTagInfo": first[0]["idTagInfo"]}  # the stop's tag as the file says
    # Once it stopped (and the refused ones do not count), it may charge again; CP_2's refused
    # transaction is still open but was not accepted.
    assert after[0]["idTagInfo"]["status"] == "Accepted"


def test_the_store_remembers_the_status_and_an_older_database_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE transactions (id INTEGER PRIMARY KEY AUTOINCREMENT, charge_point TEXT NOT NULL,"
        " connector INTEGER NOT NULL, id_tag TEXT NOT NULL, meter_start INTEGER NOT NULL, started_at TEXT NOT NULL,"
        " meter_stop INTEGER, stopped_at TEXT)"
    )
    old.execute(
        "INSERT INTO transactions (charge_point, connector, id_tag, meter_start, started_at)"
        " VALUES ('CP', 1, 'T', 0, 'x')"
    )
    old.commit()
    old.close()
    store = Store(str(path))
    try:
        assert store.charging_elsewhere("t", "CP", 2)  # started before: every tag was accepted
        assert not store.charging_elsewhere("t", "CP", 1)  # its own connector
        store.start_transaction("CP", 3, "U", 0, "y", "Invalid")
        assert not store.charging_elsewhere("U", "CP", 4)  # refused: not charging
        assert store.local_list("CP") is None
        store.remember_local_list("CP", 4, "{}")
        assert store.local_list("CP") == (4, "{}")
        store.forget_local_list("CP")
        assert store.local_list("CP") is None
    finally:
        store.close()
