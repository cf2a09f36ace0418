"""Unit tests of processes.gateway.journal.Journal (SQLite, in memory here): sequence numbers,
ordered reads across runs, bounded size with counted drops, consumer cursors."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from common.bus import EVENT_STREAM, RAW_STREAM, pack
from processes.gateway.journal import TRIM_EVERY, Journal


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    yield connection
    connection.close()


def publish(journal: Journal, stream: str, count: int) -> list[int]:
    """Publish ``count`` entries the way the gateway does: take a seq, append the body, and
    commit before anything is answered or published."""
    seqs = []
    for _ in range(count):
        seq = journal.next_seq(stream)
        journal.append(stream, seq, {"run": journal.run, "seq": seq, "stream": stream, "data": [1, "two", None]})
        seqs.append(seq)
    journal.commit()
    return seqs


def positions(messages: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(message["run"], message["seq"]) for message in messages]


def seqs_of(messages: list[dict[str, Any]]) -> list[int]:
    return [message["seq"] for message in messages]


# --------------------------------------------------------------------------- sequence numbers


def test_sequence_numbers_start_at_one_per_stream(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=1000)
    assert journal.heads() == {EVENT_STREAM: 0, RAW_STREAM: 0}
    assert publish(journal, EVENT_STREAM, 3) == [1, 2, 3]
    assert publish(journal, RAW_STREAM, 2) == [1, 2]
    assert publish(journal, EVENT_STREAM, 1) == [4]
    assert journal.heads() == {EVENT_STREAM: 4, RAW_STREAM: 2}


def test_heads_is_a_copy(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=1000)
    heads = journal.heads()
    heads[EVENT_STREAM] = 99
    assert journal.heads()[EVENT_STREAM] == 0


def test_a_new_run_starts_again_at_one(db: sqlite3.Connection) -> None:
    publish(Journal(db, "run-1", max_per_stream=1000), EVENT_STREAM, 5)
    journal = Journal(db, "run-2", max_per_stream=1000)
    assert journal.heads()[EVENT_STREAM] == 0
    assert publish(journal, EVENT_STREAM, 2) == [1, 2]


# --------------------------------------------------------------------------- reads


def test_empty_journal_reads_nothing(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=1000)
    replay = journal.read(EVENT_STREAM, "bridge", None, 0, 10)
    assert replay.messages == []
    assert replay.lost is False


def test_read_returns_entries_in_order(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=1000)
    publish(journal, EVENT_STREAM, 10)
    publish(journal, RAW_STREAM, 4)

    replay = journal.read(EVENT_STREAM, "bridge", "run-1", 0, 100)
    assert seqs_of(replay.messages) == list(range(1, 11))
    assert replay.lost is False

    replay = journal.read(EVENT_STREAM, "bridge", "run-1", 3, 4)
    assert seqs_of(replay.messages) == [4, 5, 6, 7]

    replay = journal.read(EVENT_STREAM, "bridge", "run-1", 8, 100)
    assert seqs_of(replay.messages) == [9, 10]

    replay = journal.read(RAW_STREAM, "bridge", "run-1", 2, 100)
    assert [message["stream"] for message in replay.messages] == [RAW_STREAM, RAW_STREAM]
    assert seqs_of(replay.messages) == [3, 4]


def test_bodies_come_back_as_appended(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=1000)
    body = {"t": "event", "run": "run-1", "seq": 1, "payload": {"a": [1, 2.5, None, True]}, "ctx": {}}
    journal.append(EVENT_STREAM, journal.next_seq(EVENT_STREAM), body)
    assert journal.read(EVENT_STREAM, "bridge", None, 0, 10).messages == [body]


def test_read_at_head_is_empty(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=1000)
    publish(journal, EVENT_STREAM, 5)
    replay = journal.read(EVENT_STREAM, "bridge", "run-1", 5, 10)
    assert replay.messages == []
    assert replay.lost is False


def test_first_start_without_run_reads_from_the_beginning(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=1000)
    publish(journal, EVENT_STREAM, 3)
    assert seqs_of(journal.read(EVENT_STREAM, "new-consumer", None, 0, 10).messages) == [1, 2, 3]


def test_read_continues_into_the_next_run(db: sqlite3.Connection) -> None:
    publish(Journal(db, "run-A", max_per_stream=1000), EVENT_STREAM, 3)
    journal = Journal(db, "run-B", max_per_stream=1000)
    publish(journal, EVENT_STREAM, 2)
    replay = journal.read(EVENT_STREAM, "bridge", "run-A", 1, 100)
    assert positions(replay.messages) == [("run-A", 2), ("run-A", 3), ("run-B", 1), ("run-B", 2)]
    assert replay.lost is False


def test_unknown_position_falls_back_to_the_acknowledged_one(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=1000)
    publish(journal, EVENT_STREAM, 6)
    journal.ack("bridge", EVENT_STREAM, "run-1", 4)
    assert seqs_of(journal.read(EVENT_STREAM, "bridge", None, 0, 10).messages) == [5, 6]
    assert seqs_of(journal.read(EVENT_STREAM, "bridge", "unknown-run", 2, 10).messages) == [5, 6]
    assert seqs_of(journal.read(EVENT_STREAM, "bridge", "run-1", 99, 10).messages) == [5, 6]
    # another consumer has no cursor yet: everything
    assert seqs_of(journal.read(EVENT_STREAM, "rawlogger", None, 0, 10).messages) == [1, 2, 3, 4, 5, 6]


# --------------------------------------------------------------------------- bounded size


def test_trim_drops_the_oldest(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=5)
    publish(journal, EVENT_STREAM, 12)
    publish(journal, RAW_STREAM, 3)
    journal.trim()
    replay = journal.read(EVENT_STREAM, "bridge", "run-1", 8, 100)
    assert seqs_of(replay.messages) == [9, 10, 11, 12]
    assert replay.lost is False
    assert seqs_of(journal.read(RAW_STREAM, "bridge", "run-1", 0, 100).messages) == [1, 2, 3]
    assert journal.heads() == {EVENT_STREAM: 12, RAW_STREAM: 3}


def test_size_is_bounded_without_explicit_trim(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=100)
    publish(journal, EVENT_STREAM, TRIM_EVERY)
    messages = journal.read(EVENT_STREAM, "bridge", None, 0, 10 * TRIM_EVERY).messages
    assert seqs_of(messages) == list(range(TRIM_EVERY - 99, TRIM_EVERY + 1))


def test_read_after_trimmed_entries_reports_loss(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=5)
    publish(journal, EVENT_STREAM, 3)
    journal.ack("bridge", EVENT_STREAM, "run-1", 2)
    publish(journal, EVENT_STREAM, 9)
    journal.trim()
    replay = journal.read(EVENT_STREAM, "bridge", "run-1", 2, 3)
    assert replay.lost is True  # 3..7 are gone
    assert seqs_of(replay.messages) == [8, 9, 10]


def test_new_consumer_after_trim_learns_of_the_loss(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=5)
    publish(journal, EVENT_STREAM, 12)
    journal.trim()
    replay = journal.read(EVENT_STREAM, "bridge", None, 0, 100)
    assert replay.lost is True
    assert seqs_of(replay.messages) == [8, 9, 10, 11, 12]


def test_consumer_whose_last_message_was_just_trimmed_has_lost_nothing() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        journal = Journal(db, "run-1", max_per_stream=5)
        for _ in range(12):
            seq = journal.next_seq(EVENT_STREAM)
            journal.append(EVENT_STREAM, seq, {"run": "run-1", "seq": seq})
        journal.trim()  # keeps 8..12
        replay = journal.read(EVENT_STREAM, "bridge", "run-1", 7, 100)  # the consumer has 1..7
        assert [m["seq"] for m in replay.messages] == [8, 9, 10, 11, 12]
        assert replay.lost is False  # nothing it needed was deleted
    finally:
        db.close()


def test_drops_of_undelivered_entries_are_counted_and_logged(
    db: sqlite3.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal(db, "run-1", max_per_stream=5)
    publish(journal, EVENT_STREAM, 3)
    journal.ack("bridge", EVENT_STREAM, "run-1", 2)
    publish(journal, EVENT_STREAM, 9)
    with caplog.at_level(logging.WARNING, logger="processes.gateway.journal"):
        journal.trim()
    assert journal.dropped == {EVENT_STREAM: 5, RAW_STREAM: 0}  # 3..7 were deleted unread
    assert any("Journal full" in record.getMessage() for record in caplog.records)


def test_drops_of_delivered_entries_are_not_counted(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=5)
    publish(journal, EVENT_STREAM, 12)
    journal.ack("bridge", EVENT_STREAM, "run-1", 12)
    journal.trim()
    assert journal.dropped == {EVENT_STREAM: 0, RAW_STREAM: 0}


# --------------------------------------------------------------------------- cursors


def test_cursor_defaults_to_zero(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=100)
    assert journal.cursor("bridge", EVENT_STREAM) == 0
    assert journal.cursors() == {}


def test_ack_only_moves_forward(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=100)
    publish(journal, EVENT_STREAM, 10)
    journal.ack("bridge", EVENT_STREAM, "run-1", 4)
    assert journal.cursor("bridge", EVENT_STREAM) == 4
    journal.ack("bridge", EVENT_STREAM, "run-1", 2)
    assert journal.cursor("bridge", EVENT_STREAM) == 4
    journal.ack("bridge", EVENT_STREAM, "run-1", 7)
    assert journal.cursor("bridge", EVENT_STREAM) == 7


def test_ack_never_moves_past_head(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=100)
    publish(journal, EVENT_STREAM, 5)
    journal.ack("bridge", EVENT_STREAM, "run-1", 3)
    journal.ack("bridge", EVENT_STREAM, "run-1", 1000)
    journal.ack("bridge", EVENT_STREAM, "run-1", -1)
    journal.ack("bridge", EVENT_STREAM, "other-run", 5)
    assert journal.cursor("bridge", EVENT_STREAM) == 3
    journal.ack("bridge", RAW_STREAM, "run-1", 1)  # nothing published on raw yet
    assert journal.cursor("bridge", RAW_STREAM) == 0


def test_ack_across_runs(db: sqlite3.Connection) -> None:
    first = Journal(db, "run-A", max_per_stream=100)
    publish(first, EVENT_STREAM, 3)
    second = Journal(db, "run-B", max_per_stream=100)
    publish(second, EVENT_STREAM, 3)
    second.ack("bridge", EVENT_STREAM, "run-B", 1)
    second.ack("bridge", EVENT_STREAM, "run-A", 3)  # older than what was acknowledged: ignored
    assert positions(second.read(EVENT_STREAM, "bridge", None, 0, 10).messages) == [("run-B", 2), ("run-B", 3)]


def test_cursors_are_per_consumer_and_stream(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=100)
    publish(journal, EVENT_STREAM, 5)
    publish(journal, RAW_STREAM, 5)
    journal.ack("bridge", EVENT_STREAM, "run-1", 3)
    journal.ack("rawlogger", RAW_STREAM, "run-1", 5)
    assert journal.cursor("bridge", RAW_STREAM) == 0
    assert journal.cursor("rawlogger", EVENT_STREAM) == 0
    assert journal.cursors() == {"bridge/event": 3, "rawlogger/raw": 5}


def test_cursors_survive_a_new_journal_on_the_same_database(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=100)
    publish(journal, EVENT_STREAM, 4)
    journal.ack("bridge", EVENT_STREAM, "run-1", 2)
    restarted = Journal(db, "run-2", max_per_stream=100)
    assert positions(restarted.read(EVENT_STREAM, "bridge", None, 0, 10).messages) == [("run-1", 3), ("run-1", 4)]


def test_appended_entries_wait_for_the_commit(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-1", max_per_stream=1000)
    journal.append(EVENT_STREAM, journal.next_seq(EVENT_STREAM), {"seq": 1})
    journal.append(EVENT_STREAM, journal.next_seq(EVENT_STREAM), {"seq": 2})
    assert journal.uncommitted == 2
    assert db.execute("SELECT COUNT(*) FROM journal_event").fetchone()[0] == 0
    journal.commit()  # one transaction for both
    assert journal.uncommitted == 0
    assert db.execute("SELECT COUNT(*) FROM journal_event").fetchone()[0] == 2


def test_positions_and_sequence_numbers_advance_together_in_each_run(db: sqlite3.Connection) -> None:
    """What the run table's arithmetic (pos = first_pos + seq - first_seq) relies on, across
    runs, streams and a commit that failed (its messages are lost, their numbers used up)."""
    first = Journal(db, "run-A", max_per_stream=1000)
    publish(first, EVENT_STREAM, 3)
    publish(first, RAW_STREAM, 2)
    second = Journal(db, "run-B", max_per_stream=1000)
    publish(second, EVENT_STREAM, 2)
    second.append(EVENT_STREAM, second.next_seq(EVENT_STREAM), {"seq": 3})
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON journal_event BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(sqlite3.IntegrityError):
        second.commit()
    db.execute("DROP TRIGGER refuse")
    publish(second, EVENT_STREAM, 2)
    rows = db.execute("SELECT pos, run, seq FROM journal_event ORDER BY pos").fetchall()
    assert rows == [(1, "run-A", 1), (2, "run-A", 2), (3, "run-A", 3), (4, "run-B", 1), (5, "run-B", 2),
                    (7, "run-B", 4), (8, "run-B", 5)]  # fmt: skip
    assert {pos - seq for pos, run, seq in rows if run == "run-B"} == {3}
    replay = second.read(EVENT_STREAM, "bridge", "run-B", 2, 10)
    assert positions(replay.messages) == [("run-B", 4), ("run-B", 5)] and replay.lost is True
    second.ack("bridge", EVENT_STREAM, "run-B", 4)
    assert second.cursors() == {"bridge/event": 7}


def test_a_journal_of_the_earlier_layout_is_moved_over_with_its_cursors(db: sqlite3.Connection) -> None:
    """Connector 0.5 kept both streams in one ``journal`` table; an upgrade loses nothing."""
    db.executescript(
        """
        CREATE TABLE journal (stream TEXT NOT NULL, pos INTEGER NOT NULL, run TEXT NOT NULL, seq INTEGER NOT NULL,
                              body BLOB NOT NULL, PRIMARY KEY (stream, pos));
        CREATE UNIQUE INDEX journal_run_seq ON journal (stream, run, seq);
        CREATE TABLE cursors (consumer TEXT NOT NULL, stream TEXT NOT NULL, pos INTEGER NOT NULL,
                              PRIMARY KEY (consumer, stream));
        """
    )
    old = [
        ("event", pos, "run-A", pos - 2, pack({"run": "run-A", "seq": pos - 2})) for pos in range(3, 7)
    ]  # 1-2 trimmed
    old += [("event", pos, "run-B", pos - 6, pack({"run": "run-B", "seq": pos - 6})) for pos in range(7, 10)]
    old += [("raw", pos, "run-B", pos, pack({"run": "run-B", "seq": pos})) for pos in range(1, 3)]
    db.executemany("INSERT INTO journal VALUES (?, ?, ?, ?, ?)", old)
    db.execute("INSERT INTO cursors VALUES ('bridge', 'event', 5)")  # had run-A seq 3
    journal = Journal(db, "run-C", max_per_stream=1000)
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'journal'").fetchone() is None
    assert positions(journal.read(EVENT_STREAM, "bridge", None, 0, 10).messages) == [
        ("run-A", 4), ("run-B", 1), ("run-B", 2), ("run-B", 3)
    ]  # fmt: skip
    assert positions(journal.read(EVENT_STREAM, "bridge", "run-B", 1, 10).messages) == [("run-B", 2), ("run-B", 3)]
    assert positions(journal.read(RAW_STREAM, "rawlogger", "run-B", 1, 10).messages) == [("run-B", 2)]
    journal.ack("bridge", EVENT_STREAM, "run-A", 4)
    assert journal.cursors() == {"bridge/event": 6}
    seq = journal.next_seq(EVENT_STREAM)
    journal.append(EVENT_STREAM, seq, {"run": "run-C", "seq": seq})
    journal.commit()
    assert positions(journal.read(EVENT_STREAM, "bridge", "run-B", 3, 10).messages) == [("run-C", 1)]
    Journal(db, "run-D", max_per_stream=1000)  # opening it again moves nothing twice
    assert db.execute("SELECT COUNT(*) FROM journal_event").fetchone()[0] == 8


def test_a_run_whose_first_commit_failed_is_still_found_after_a_restart(db: sqlite3.Connection) -> None:
    journal = Journal(db, "run-A", max_per_stream=1000)
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON journal_event BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    journal.append(EVENT_STREAM, journal.next_seq(EVENT_STREAM), {"run": "run-A", "seq": 1})
    with pytest.raises(sqlite3.IntegrityError):
        journal.commit()
    db.execute("DROP TRIGGER refuse")
    publish(journal, EVENT_STREAM, 3)  # seq 2, 3, 4
    restarted = Journal(db, "run-B", max_per_stream=1000)  # nothing of run-A in memory
    replay = restarted.read(EVENT_STREAM, "bridge", "run-A", 2, 10)
    assert positions(replay.messages) == [("run-A", 3), ("run-A", 4)] and replay.lost is False
    restarted.ack("bridge", EVENT_STREAM, "run-A", 3)
    assert restarted.cursors() == {"bridge/event": 3}


def test_a_body_that_cannot_be_packed_leaves_a_hole_not_a_shift(db: sqlite3.Connection) -> None:
    """A lone surrogate has no UTF-8: msgpack refuses it after the sequence number was taken."""
    journal = Journal(db, "run-A", max_per_stream=1000)
    publish(journal, EVENT_STREAM, 2)
    with pytest.raises(UnicodeEncodeError):
        journal.append(EVENT_STREAM, journal.next_seq(EVENT_STREAM), {"idTag": "\ud800"})
    publish(journal, EVENT_STREAM, 2)  # seq 4, 5
    assert db.execute("SELECT pos, seq FROM journal_event ORDER BY pos").fetchall() == [(1, 1), (2, 2), (4, 4), (5, 5)]
    journal.ack("bridge", EVENT_STREAM, "run-A", 4)
    assert journal.cursors() == {"bridge/event": 4}
    replay = journal.read(EVENT_STREAM, "bridge", "run-A", 4, 10)
    assert positions(replay.messages) == [("run-A", 5)] and replay.lost is False


def test_migration_leaves_out_runs_whose_numbers_drifted_and_positions_taken(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE journal (stream TEXT NOT NULL, pos INTEGER NOT NULL, run TEXT NOT NULL, seq INTEGER NOT NULL,
                              body BLOB NOT NULL, PRIMARY KEY (stream, pos));
        """
    )
    drifted = [(1, 1), (2, 2), (3, 4), (4, 5)]  # 0.5 took seq 3 without a position
    rows = [("event", pos, "run-A", seq, pack({"run": "run-A", "seq": seq})) for pos, seq in drifted]
    rows += [("event", pos, "run-B", pos - 4, pack({"run": "run-B", "seq": pos - 4})) for pos in range(5, 8)]
    db.executemany("INSERT INTO journal VALUES (?, ?, ?, ?, ?)", rows)
    Journal(db, "run-C", max_per_stream=1000).commit()  # moves it
    assert db.execute("SELECT stream, run, first_pos, first_seq FROM runs").fetchall() == [("event", "run-B", 5, 1)]
    journal = Journal(db, "run-D", max_per_stream=1000)
    # in the drifted run a consumer resumes from its acknowledged position (none: the beginning)
    assert seqs_of(journal.read(EVENT_STREAM, "bridge", "run-A", 4, 10).messages) == [1, 2, 4, 5, 1, 2, 3]
    assert positions(journal.read(EVENT_STREAM, "bridge", "run-B", 1, 10).messages) == [("run-B", 2), ("run-B", 3)]

    # an older journal again (a downgrade, then this version once more): positions taken keep what they hold
    db.execute("CREATE TABLE journal (stream TEXT, pos INTEGER, run TEXT, seq INTEGER, body BLOB)")
    db.executemany(
        "INSERT INTO journal VALUES ('event', ?, 'run-E', ?, ?)",
        [(pos, pos, pack({"run": "run-E", "seq": pos})) for pos in (6, 7, 8)],
    )
    journal = Journal(db, "run-F", max_per_stream=1000)
    assert db.execute("SELECT run, seq FROM journal_event WHERE pos IN (6, 7, 8) ORDER BY pos").fetchall() == [
        ("run-B", 2), ("run-B", 3), ("run-E", 8)
    ]  # fmt: skip
    assert db.execute("SELECT first_pos, first_seq FROM runs WHERE run = 'run-E'").fetchone() == (8, 8)
    assert positions(journal.read(EVENT_STREAM, "bridge", "run-E", 7, 10).messages) == [("run-E", 8)]


class FailingOnce(sqlite3.Connection):
    """A connection whose next ``executemany`` fails (a full disk, an I/O error)."""

    fail = False

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        if self.fail:
            self.fail = False
            raise sqlite3.OperationalError("disk I/O error")
        return super().executemany(sql, parameters)


def test_a_failed_commit_of_an_ack_is_raised_by_the_publishers_commit() -> None:
    """An event appended, then an ack's commit fails (dropping it): the publisher's commit, which
    the event's sender waits on, must fail too, or the charge point would be answered."""
    connection = sqlite3.connect(":memory:", isolation_level=None, factory=FailingOnce)
    try:
        journal = Journal(connection, "run-1", max_per_stream=1000)
        journal.append(EVENT_STREAM, journal.next_seq(EVENT_STREAM), {"seq": 1})
        connection.fail = True
        with pytest.raises(sqlite3.OperationalError):
            journal.ack("bridge", EVENT_STREAM, "run-1", 1)
        with pytest.raises(sqlite3.OperationalError):
            journal.commit()
        journal.commit()  # raised once: later commits go on
        assert connection.execute("SELECT COUNT(*) FROM journal_event").fetchone()[0] == 0
    finally:
        connection.close()
