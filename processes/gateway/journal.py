"""What the gateway has published, kept durably so that consumers can ask for what they missed.

The journal lives in SQLite in WAL mode (the ``JOURNAL_PATH`` database, beside the
transactions): every event and raw frame is committed before the gateway answers the charge
point or sends the frame, so what was answered survives the death of any process, the
gateway's own included. ``synchronous=NORMAL`` keeps commits in the WAL without an fsync each:
that survives a killed process (the operating system holds the data), not a power cut.

Each message carries the gateway's run id and a sequence number per stream and run. The
journal numbers the messages of each stream across runs without gaps (``pos``), so a consumer
that was at ``(run, seq)`` of an earlier run resumes with the rest of that run and then the
next ones. Consumers acknowledge what they have delivered; a consumer that restarts resumes
from its acknowledged position. Disk is bounded by ``max_per_stream``: older entries are
deleted beyond it, and entries deleted before every consumer had them are logged and counted.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from common.bus import STREAMS, pack, unpack

log = logging.getLogger(__name__)

#: One table per stream whose rowid is the position: an append touches one B-tree (the
#: earlier single table with two indexes cost twice as much per message, docs/performance.md).
#: ``runs`` maps a run's sequence numbers to positions: within a run, positions and sequence
#: numbers of a stream advance together (every message of a stream is journaled, or, raw frames
#: without SEND_RAW_MESSAGE_TO_DB, none), so ``pos = first_pos + seq - first_seq``.
SCHEMA = """
CREATE TABLE IF NOT EXISTS journal_event (
    pos INTEGER PRIMARY KEY, run TEXT NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS journal_raw (
    pos INTEGER PRIMARY KEY, run TEXT NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    stream TEXT NOT NULL,
    run TEXT NOT NULL,
    first_pos INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    PRIMARY KEY (stream, run)
);
CREATE TABLE IF NOT EXISTS cursors (
    consumer TEXT NOT NULL,
    stream TEXT NOT NULL,
    pos INTEGER NOT NULL,
    PRIMARY KEY (consumer, stream)
);
"""
TABLES = {stream: f"journal_{stream}" for stream in STREAMS}

#: Deleting old entries every so many appends keeps the cost of trimming off the hot path.
TRIM_EVERY = 500


def migrate(db: sqlite3.Connection) -> None:
    """Moves a journal of connector 0.5 and earlier (one ``journal`` table for both streams,
    indexed by stream and position and by stream, run and sequence number) into the tables of
    :data:`SCHEMA`, in one transaction: what consumers had not yet acknowledged survives an
    upgrade. Positions already taken in the new tables (an upgrade, a downgrade, an upgrade
    again) keep what they hold. A run whose positions and sequence numbers did not advance
    together (0.5 could skip a sequence number without a position) gets no entry in ``runs``:
    consumers resume in it from their acknowledged position instead."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal'").fetchone() is None:
        return
    moved = 0
    with db:
        db.execute("BEGIN")
        for stream, table in TABLES.items():
            moved += db.execute(
                f"INSERT OR IGNORE INTO {table} (pos, run, seq, body)"
                " SELECT pos, run, seq, body FROM journal WHERE stream = ?",
                (stream,),
            ).rowcount
            db.execute(
                f"INSERT OR IGNORE INTO runs (stream, run, first_pos, first_seq)"
                f" SELECT ?, run, MIN(pos), MIN(seq) FROM {table}"
                " WHERE run IN (SELECT run FROM journal WHERE stream = ?)"
                " GROUP BY run HAVING MIN(pos - seq) = MAX(pos - seq)",
                (stream, stream),
            )
        db.execute("DROP TABLE journal")
    log.info("Journal moved to one table per stream (%d messages)", moved)


@dataclass(frozen=True, slots=True)
class Replay:
    bodies: list[bytes]  # the messages as journaled: packed, as on the bus
    lost: bool  # the consumer's position was deleted before it got what followed (journal full)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [unpack(body) for body in self.bodies]


class Journal:
    def __init__(self, db: sqlite3.Connection, run: str, max_per_stream: int) -> None:
        self._db = db
        self.run = run
        self._max = max_per_stream
        self._db.executescript(SCHEMA)
        migrate(self._db)
        self._heads: dict[str, int] = dict.fromkeys(STREAMS, 0)
        self._positions = {stream: self._last_position(stream) for stream in STREAMS}
        self._appends = 0
        #: Rows (pos, run, seq, body) of each stream waiting for the next commit.
        self._pending: dict[str, list[tuple[int, str, int, bytes]]] = {stream: [] for stream in STREAMS}
        self._uncommitted = 0
        #: (stream, run) -> (first position, first sequence number); this run's are added at
        #: its first append of the stream, the others read on demand.
        self._runs: dict[tuple[str, str], tuple[int, int]] = {}
        self._new_runs: list[tuple[str, str, int, int]] = []
        self.dropped: dict[str, int] = dict.fromkeys(STREAMS, 0)
        #: A read's or ack's commit that failed, dropping appended messages: raised by commit().
        self._lost: BaseException | None = None

    def next_seq(self, stream: str) -> int:
        self._heads[stream] += 1
        return self._heads[stream]

    def heads(self) -> dict[str, int]:
        """Sequence number of the newest message of each stream in this run."""
        return dict(self._heads)

    def _last_position(self, stream: str) -> int:
        row = self._db.execute(f"SELECT MAX(pos) FROM {TABLES[stream]}").fetchone()
        return 0 if row[0] is None else int(row[0])

    def append(self, stream: str, seq: int, body: dict[str, Any]) -> bytes:
        """Add a message to the next commit (see :meth:`commit`); returns its packed body.

        Its position follows from its sequence number (the run's first position plus the
        distance from the run's first sequence number): a sequence number that never got this
        far (a body that cannot be packed, a commit that failed) leaves a hole in both, never
        a shift between them."""
        first = self._runs.get((stream, self.run))
        if first is None:
            first = self._runs[stream, self.run] = (self._positions[stream] + 1, seq)
            self._new_runs.append((stream, self.run, *first))
        position = first[0] + seq - first[1]
        self._positions[stream] = max(self._positions[stream], position)
        packed = pack(body)
        self._pending[stream].append((position, self.run, seq, packed))
        self._uncommitted += 1
        return packed

    @property
    def uncommitted(self) -> int:
        return self._uncommitted

    def commit(self) -> None:
        """Write every appended message in one transaction. The gateway commits before it sends
        anything that depends on them (answers, frames, bus messages), so grouping the messages
        of one event-loop iteration into one commit keeps the rule: committed before answered.

        This is the publisher's commit: it also raises the failure of a commit that a ``read`` or
        an ``ack`` made in between (and that dropped messages appended before it), so that no
        sender waiting for those messages goes on as if they were durable."""
        lost, self._lost = self._lost, None
        self._commit()
        if lost is not None:
            raise lost

    def _commit_first(self) -> None:
        """A read's or an ack's commit of what was appended: its failure is remembered for
        :meth:`commit` (the messages' senders wait on that one), and raised here too."""
        try:
            self._commit()
        except BaseException as error:
            self._lost = error
            raise

    def _commit(self) -> None:
        count = self._uncommitted
        if not count:
            return
        pending, new_runs = self._pending, self._new_runs
        self._pending = {stream: [] for stream in STREAMS}
        self._new_runs = []
        self._uncommitted = 0
        try:
            with self._db:  # BEGIN ... COMMIT (ROLLBACK on error)
                self._db.execute("BEGIN")
                if new_runs:
                    self._db.executemany(
                        "INSERT INTO runs (stream, run, first_pos, first_seq) VALUES (?, ?, ?, ?)", new_runs
                    )
                for stream, rows in pending.items():
                    if rows:
                        self._db.executemany(
                            f"INSERT INTO {TABLES[stream]} (pos, run, seq, body) VALUES (?, ?, ?, ?)", rows
                        )
        except BaseException:
            # The messages are lost (nothing of them was answered or published), their numbers
            # used up; the run's first numbers still place the messages that follow.
            self._new_runs = new_runs + self._new_runs
            raise
        before = self._appends
        self._appends += count
        if self._appends // TRIM_EVERY != before // TRIM_EVERY:
            self.trim()

    def _first(self, stream: str, run: str) -> tuple[int, int] | None:
        """(first position, first sequence number) of ``run`` in ``stream``, if it journaled any."""
        first = self._runs.get((stream, run))
        if first is None:
            row = self._db.execute(
                "SELECT first_pos, first_seq FROM runs WHERE stream = ? AND run = ?", (stream, run)
            ).fetchone()
            if row is None:
                return None
            first = self._runs[stream, run] = (int(row[0]), int(row[1]))
        return first

    def _position(self, stream: str, run: str, seq: int) -> int | None:
        """Journal position of ``(run, seq)``, or None when it is not (or no longer) there."""
        first = self._first(stream, run)
        if first is None:
            return None
        position = first[0] + seq - first[1]
        row = self._db.execute(f"SELECT run, seq FROM {TABLES[stream]} WHERE pos = ?", (position,)).fetchone()
        return position if row is not None and row[0] == run and row[1] == seq else None

    def _resume(self, stream: str, run: str, after: int) -> tuple[int, bool] | None:
        """(journal position just before what follows ``(run, after)``, whether some of what
        follows was deleted), or None when the journal does not know that position."""
        first = self._first(stream, run)
        if first is None:
            return None
        following = max(first[0] + after + 1 - first[1], first[0])
        row = self._db.execute(
            f"SELECT pos, run, seq FROM {TABLES[stream]} WHERE pos >= ? ORDER BY pos LIMIT 1",
            (following,),
        ).fetchone()
        if row is not None and row[1] == run:
            return int(row[0]) - 1, int(row[2]) > after + 1
        position = self._position(stream, run, after)  # the run ended there
        return None if position is None else (position, False)

    def cursor(self, consumer: str, stream: str) -> int:
        row = self._db.execute(
            "SELECT pos FROM cursors WHERE consumer = ? AND stream = ?", (consumer, stream)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def read(self, stream: str, consumer: str, run: str | None, after: int, limit: int) -> Replay:
        """Messages after the consumer's position ``(run, after)``; where that position is not
        known (a consumer's first start, or its entry was deleted), after its acknowledged one."""
        self._commit_first()
        resume = self._resume(stream, run, after) if run is not None else None
        position, lost = resume if resume is not None else (self.cursor(consumer, stream), False)
        rows = self._db.execute(
            f"SELECT pos, body FROM {TABLES[stream]} WHERE pos > ? ORDER BY pos LIMIT ?",
            (position, limit),
        ).fetchall()
        lost = lost or (bool(rows) and rows[0][0] > position + 1)
        return Replay([body for _, body in rows], lost)

    def ack(self, consumer: str, stream: str, run: str, seq: int) -> None:
        self._commit_first()
        position = self._position(stream, run, seq)
        if position is None:
            return
        self._db.execute(
            "INSERT INTO cursors (consumer, stream, pos) VALUES (?, ?, ?) "
            "ON CONFLICT (consumer, stream) DO UPDATE SET pos = MAX(pos, excluded.pos)",
            (consumer, stream, position),
        )

    def trim(self) -> None:
        for stream, table in TABLES.items():
            keep_from = self._positions[stream] - self._max
            if keep_from <= 0:
                continue
            slowest = self._db.execute("SELECT MIN(pos) FROM cursors WHERE stream = ?", (stream,)).fetchone()[0]
            slowest = 0 if slowest is None else slowest  # no consumer has acknowledged anything yet
            unread = 0
            if slowest < keep_from:
                unread = self._db.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE pos > ? AND pos <= ?",
                    (slowest, keep_from),
                ).fetchone()[0]
            deleted = self._db.execute(f"DELETE FROM {table} WHERE pos <= ?", (keep_from,)).rowcount
            if unread:
                self.dropped[stream] += unread
                log.error(
                    "Journal full (JOURNAL_MAX_EVENTS=%d): deleted %d %s messages a consumer had not yet delivered "
                    "(%d so far)",
                    self._max,
                    unread,
                    stream,
                    self.dropped[stream],
                )
            elif deleted:
                log.debug("Journal: deleted %d delivered %s messages", deleted, stream)

    def cursors(self) -> dict[str, int]:
        rows = self._db.execute("SELECT consumer, stream, pos FROM cursors").fetchall()
        return {f"{consumer}/{stream}": int(pos) for consumer, stream, pos in rows}
