"""The gateway's transaction store (SQLite; in memory or a file): clock-seeded unique ids, lookups
per charge point, active transactions per connector, stops, retries of StartTransaction."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from processes.gateway.store import ID_EPOCH, Store, Transaction

STARTED = "2026-01-01T00:00:00Z"
STOPPED = "2026-01-01T01:00:00Z"


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


def test_a_late_stop_of_a_superseded_transaction_is_recorded_and_says_so(store: Store) -> None:
    """The charge point was offline: transaction A was superseded by B on the same connector
    before A's StopTransaction arrived. A's record gets its stop; B stays the active one."""
    first = store.start_transaction("CP_1", 1, "TAG", 100, STARTED)
    second = store.start_transaction("CP_1", 1, "TAG", 900, "2026-01-01T02:00:00Z")
    other = store.start_transaction("CP_1", 2, "TAG", 0, STARTED)
    late = store.stop_transaction("CP_1", first, 800, STOPPED)
    assert late is not None and store.superseded(late)
    row = store.db.execute("SELECT meter_stop, stopped_at FROM transactions WHERE id = ?", (first,)).fetchone()
    assert row == (800, STOPPED)
    assert [t.id for t in store.active_transactions("CP_1", 1)] == [second]
    current = store.stop_transaction("CP_1", second, 1000, STOPPED)
    assert current is not None and not store.superseded(current)
    lone = store.find("CP_1", other)
    assert lone is not None and not store.superseded(lone)  # another connector's transactions do not count
