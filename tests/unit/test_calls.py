"""Unit tests of the gateway's pure parts: charge point id from the URL path, building
schema-checked calls, and the transaction store."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call, call_result
from ocpp.v16.enums import ConfigurationStatus

from common.bus import ErrorCode
from common.schemas import CENTRAL_SYSTEM_ACTIONS, V16
from processes.gateway.calls import build_call, result_payload
from processes.gateway.commands import CommandError
from processes.gateway.server import charge_point_id
from processes.gateway.store import ID_EPOCH, Store, Transaction

STARTED = "2026-01-01T00:00:00Z"
STOPPED = "2026-01-01T01:00:00Z"

# --------------------------------------------------------------------------- charge point id


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/CP_1", "CP_1"),
        ("/ocpp/CP_1", "CP_1"),
        ("/ocpp/v16/site.a/CP.1", "CP.1"),
        ("/CP_1/", "CP_1"),
        ("/ocpp/CP_1//", "CP_1"),
        ("/CP_1?token=abc", "CP_1"),
        ("/ocpp/CP_1/?a=1&b=2", "CP_1"),
        ("/CP%201", "CP 1"),
        ("/Lades%C3%A4ule%2F7", "Ladesäule/7"),
        ("/CP%3F1", "CP?1"),
        ("CP_1", "CP_1"),
    ],
)
def test_charge_point_id(path: str, expected: str) -> None:
    assert charge_point_id(path) == expected


@pytest.mark.parametrize("path", ["", "/", "//", "/?id=CP_1", "/%00", "/CP%0A1", "/CP%091", "/%1F"])
def test_charge_point_id_missing_or_with_control_characters(path: str) -> None:
    assert charge_point_id(path) is None


# --------------------------------------------------------------------------- readable unique id


# --------------------------------------------------------------------------- build_call


def test_central_system_actions_are_the_ocpp16_ones() -> None:
    assert len(CENTRAL_SYSTEM_ACTIONS[V16]) == 19
    for action in CENTRAL_SYSTEM_ACTIONS[V16]:
        assert hasattr(call, action)
    assert "BootNotification" not in CENTRAL_SYSTEM_ACTIONS[V16]


@pytest.mark.parametrize("action", ["BootNotification", "Heartbeat", "reset", "Teleport", ""])
def test_build_call_rejects_unknown_actions(action: str) -> None:
    with pytest.raises(CommandError) as caught:
        build_call(action, {})
    assert caught.value.code == ErrorCode.INVALID_VALUE
    assert caught.value.reason


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("Reset", {}),
        ("Reset", {"type": "Reboot"}),
        ("Reset", {"type": "Soft", "extra": 1}),
        ("ChangeAvailability", {"connectorId": "1", "type": "Operative"}),
        ("RemoteStartTransaction", {"idTag": "x" * 21}),
        ("UnlockConnector", {}),
        ("GetConfiguration", {"key": "HeartbeatInterval"}),
        ("TriggerMessage", {"requestedMessage": "Authorize"}),
        (
            "SetChargingProfile",
            {
                "connectorId": 1,
                "csChargingProfiles": {
                    "chargingProfileId": 1,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "chargingProfileKind": "Absolute",
                    "chargingSchedule": {
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.05}],
                    },
                },
            },
        ),
    ],
)
def test_build_call_rejects_schema_invalid_payloads(action: str, payload: dict[str, Any]) -> None:
    with pytest.raises(CommandError) as caught:
        build_call(action, payload)
    assert caught.value.code == ErrorCode.INVALID_VALUE
    assert action in caught.value.reason
    assert str(caught.value).startswith("InvalidValue: ")


def test_build_call_gives_the_ocpp_dataclass() -> None:
    assert build_call("Reset", {"type": "Hard"}) == call.Reset(type="Hard")
    assert build_call("ClearCache", {}) == call.ClearCache()
    assert build_call("GetConfiguration", {}) == call.GetConfiguration()
    assert build_call("GetConfiguration", {"key": ["A", "B"]}) == call.GetConfiguration(key=["A", "B"])
    assert build_call("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 2}) == call.TriggerMessage(
        requested_message="MeterValues", connector_id=2
    )
    assert build_call("DataTransfer", {"vendorId": "v", "messageId": "m", "data": "d"}) == call.DataTransfer(
        vendor_id="v", message_id="m", data="d"
    )


def test_build_call_converts_nested_keys_to_snake_case() -> None:
    payload = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1001,
            "stackLevel": 2,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": "2026-01-01T00:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 15.9, "numberPhases": 3}],
            },
        },
    }
    built = build_call("SetChargingProfile", payload)
    assert isinstance(built, call.SetChargingProfile)
    assert built.connector_id == 1
    profile = built.cs_charging_profiles
    assert profile["charging_profile_id"] == 1001
    assert profile["charging_schedule"]["charging_schedule_period"] == [
        {"start_period": 0, "limit": 15.9, "number_phases": 3}
    ]


def test_result_payload() -> None:
    assert result_payload(call_result.ChangeConfiguration(status=ConfigurationStatus.accepted)) == {
        "status": "Accepted"
    }
    assert result_payload(
        call_result.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}], unknown_key=None
        )
    ) == {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
    assert result_payload(call_result.GetConfiguration(unknown_key=["Nope"])) == {"unknownKey": ["Nope"]}
    assert result_payload(call_result.ClearCache(status="Rejected")) == {"status": "Rejected"}


# --------------------------------------------------------------------------- store


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store(":memory:")
    yield opened
    opened.close()


def test_transaction_ids_are_seeded_from_the_clock(store: Store) -> None:
    before = int(time.time()) - ID_EPOCH
    first = store.start_transaction("CP_1", 1, "TAG", 0, STARTED)
    after = int(time.time()) - ID_EPOCH
    assert first > 100_000_000
    assert before < first <= after + 1


def test_transaction_ids_are_unique_and_increasing(store: Store) -> None:
    ids = [store.start_transaction(f"CP_{n % 3}", n % 2 + 1, "TAG", n, STARTED) for n in range(50)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(b == a + 1 for a, b in itertools.pairwise(ids))
    assert ids[-1] < 2**31  # fits OCPP's integer


def test_find_is_per_charge_point(store: Store) -> None:
    transaction_id = store.start_transaction("CP.1", 2, "TAG_1", 1500, STARTED)
    assert store.find("CP.1", transaction_id) == Transaction(transaction_id, "CP.1", 2, "TAG_1", 1500)
    assert store.find("CP.2", transaction_id) is None
    assert store.find("CP.1", transaction_id + 1) is None


def test_find_remembers_transactions_not_their_absence(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import processes.gateway.store as store_module

    monkeypatch.setattr(store_module, "FOUND_CACHE_SIZE", 3)
    unknown = ID_EPOCH  # below every id the clock-seeded sequence hands out
    assert store.find("CP_1", unknown) is None
    store.db.execute(
        "INSERT INTO transactions (id, charge_point, connector, id_tag, meter_start, started_at)"
        " VALUES (?, 'CP_1', 3, 'LATE', 7, ?)",
        (unknown, STARTED),
    )
    assert store.find("CP_1", unknown) == Transaction(unknown, "CP_1", 3, "LATE", 7)  # its absence was not kept
    ids = [store.start_transaction("CP_1", 1, f"TAG_{n}", n, STARTED) for n in range(5)]
    expected = [Transaction(tid, "CP_1", 1, f"TAG_{n}", n) for n, tid in enumerate(ids)]
    assert [store.find("CP_1", tid) for tid in ids] == expected
    store.stop_transaction("CP_1", ids[-1], 99, STOPPED)  # superseding and stopping change none of it
    assert [store.find("CP_1", tid) for tid in ids] == expected
    assert len(store._found) <= 3  # bounded


def test_active_transaction(store: Store) -> None:
    assert store.active_transaction("CP_1", 1) is None
    first = store.start_transaction("CP_1", 1, "TAG_1", 0, STARTED)
    other_connector = store.start_transaction("CP_1", 2, "TAG_2", 0, STARTED)
    other_cp = store.start_transaction("CP_2", 1, "TAG_3", 0, STARTED)
    active = store.active_transaction("CP_1", 1)
    assert active is not None
    assert active.id == first
    second = store.start_transaction("CP_1", 1, "TAG_4", 10, STARTED)  # the newest wins
    active = store.active_transaction("CP_1", 1)
    assert active is not None
    assert active.id == second
    connector_2 = store.active_transaction("CP_1", 2)
    cp_2 = store.active_transaction("CP_2", 1)
    assert connector_2 is not None
    assert connector_2.id == other_connector
    assert cp_2 is not None
    assert cp_2.id == other_cp


def test_stop_transaction(store: Store) -> None:
    transaction_id = store.start_transaction("CP_1", 1, "TAG_1", 1000, STARTED)
    stopped = store.stop_transaction("CP_1", transaction_id, 5000, STOPPED)
    assert stopped == Transaction(transaction_id, "CP_1", 1, "TAG_1", 1000)
    assert store.active_transaction("CP_1", 1) is None
    # a repeated StopTransaction (the charge point retries) still finds it
    assert store.stop_transaction("CP_1", transaction_id, 6000, STOPPED) == stopped


def test_stop_unknown_or_foreign_transaction(store: Store) -> None:
    transaction_id = store.start_transaction("CP_1", 1, "TAG_1", 1000, STARTED)
    assert store.stop_transaction("CP_1", transaction_id + 100, 5000, STOPPED) is None
    assert store.stop_transaction("CP_2", transaction_id, 5000, STOPPED) is None
    assert store.active_transaction("CP_1", 1) is not None  # not stopped by another charge point


def test_file_store_keeps_ids_unique_across_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "state" / "gateway.sqlite3")  # the directory is created
    first = Store(path)
    ids = [first.start_transaction("CP_1", 1, "TAG", 0, f"2026-01-01T00:0{i}:00Z") for i in range(3)]
    first.close()

    second = Store(path)
    try:
        later = second.start_transaction("CP_1", 1, "TAG", 0, STARTED)
        assert later > max(ids)
        assert second.find("CP_1", ids[1]) == Transaction(ids[1], "CP_1", 1, "TAG", 0)
        active = second.active_transaction("CP_1", 1)
        assert active is not None
        assert active.id == later
    finally:
        second.close()


def test_file_store_keeps_ids_unique_after_all_transactions_are_deleted(tmp_path: Path) -> None:
    path = str(tmp_path / "gateway.sqlite3")
    first = Store(path)
    last = first.start_transaction("CP_1", 1, "TAG", 0, STARTED)
    first.db.execute("DELETE FROM transactions")
    first.close()
    second = Store(path)
    try:
        assert second.start_transaction("CP_1", 1, "TAG", 0, STARTED) > last
    finally:
        second.close()


def test_a_start_transaction_sent_again_gets_the_same_id(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "db.sqlite3"))
    try:
        first = store.start_transaction("CP_1", 1, "TAG", 10, STARTED)
        assert store.start_transaction("CP_1", 1, "TAG", 10, STARTED) == first  # the retry of an unanswered call
        assert [t.id for t in store.active_transactions("CP_1", 1)] == [first]
    finally:
        store.close()


def test_a_new_transaction_closes_an_older_one_left_open_on_its_connector(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "db.sqlite3"))
    try:
        orphan = store.start_transaction("CP_1", 1, "TAG", 10, STARTED)
        current = store.start_transaction("CP_1", 1, "TAG", 50, STOPPED)
        other = store.start_transaction("CP_1", 2, "TAG", 0, STARTED)
        assert [t.id for t in store.active_transactions("CP_1", 1)] == [current]
        assert orphan != current
        # Connector 0 stands for the whole charge point.
        assert {t.id for t in store.active_transactions("CP_1", 0)} == {current, other}
    finally:
        store.close()


# --------------------------------------------------------------------------- command server


def test_a_reply_that_cannot_be_encoded_is_answered_as_an_error(tmp_path: Path) -> None:
    """A charge point's answer can hold a lone surrogate (msgpack has no encoding for it): the
    requester gets an InternalError reply at once instead of waiting for its timeout."""
    import asyncio

    import zmq.asyncio

    from common.bus import Request
    from common.command_client import CommandClient
    from processes.gateway.commands import CommandServer

    async def main() -> None:
        context = zmq.asyncio.Context()
        endpoint = f"ipc://{tmp_path}/commands.ipc"

        async def unencodable(request: Request) -> dict[str, Any]:
            return {"payload": {"idTag": "\ud800"}}

        async def fine(request: Request) -> dict[str, Any]:
            return {"status": "Accepted"}

        server = CommandServer(context, endpoint, {"unencodable": unencodable, "fine": fine})
        serving = asyncio.create_task(server.serve())
        client = CommandClient(context, endpoint, 5.0)
        try:
            for _ in range(100):  # until the client's connection is up
                good = await client.request("fine", timeout=3.0)
                if good.ok:
                    break
                await asyncio.sleep(0.05)
            bad = await client.request("unencodable", timeout=3.0)
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            await client.close()
            context.destroy(linger=0)
        assert (good.ok, good.result) == (True, {"status": "Accepted"})
        assert (bad.ok, bad.error) == (False, ErrorCode.INTERNAL_ERROR)
        assert "cannot be encoded" in bad.reason

    asyncio.run(main())
