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

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    stream TEXT NOT NULL,
    pos INTEGER NOT NULL,
    run TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (stream, pos)
);
CREATE UNIQUE INDEX IF NOT EXISTS journal_run_seq ON journal (stream, run, seq);
CREATE TABLE IF NOT EXISTS cursors (
    consumer TEXT NOT NULL,
    stream TEXT NOT NULL,
    pos INTEGER NOT NULL,
    PRIMARY KEY (consumer, stream)
);
"""

#: Deleting old entries every so many appends keeps the cost of trimming off the hot path.
TRIM_EVERY = 500


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
        self._heads: dict[str, int] = dict.fromkeys(STREAMS, 0)
        self._positions = {stream: self._last_position(stream) for stream in STREAMS}
        self._appends = 0
        self._pending: list[tuple[str, int, str, int, bytes]] = []
        self.dropped: dict[str, int] = dict.fromkeys(STREAMS, 0)

    def next_seq(self, stream: str) -> int:
        self._heads[stream] += 1
        return self._heads[stream]

    def heads(self) -> dict[str, int]:
        """Sequence number of the newest message of each stream in this run."""
        return dict(self._heads)

    def _last_position(self, stream: str) -> int:
        row = self._db.execute("SELECT MAX(pos) FROM journal WHERE stream = ?", (stream,)).fetchone()
        return 0 if row[0] is None else int(row[0])

    def append(self, stream: str, seq: int, body: dict[str, Any]) -> bytes:
        """Add a message to the next commit (see :meth:`commit`); returns its packed body."""
        packed = pack(body)
        self._positions[stream] += 1
        self._pending.append((stream, self._positions[stream], self.run, seq, packed))
        return packed

    @property
    def uncommitted(self) -> int:
        return len(self._pending)

    def commit(self) -> None:
        """Write every appended message in one transaction. The gateway commits before it sends
        anything that depends on them (answers, frames, bus messages), so grouping the messages
        of one event-loop iteration into one commit keeps the rule: committed before answered."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        with self._db:  # BEGIN ... COMMIT (ROLLBACK on error)
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO journal (stream, pos, run, seq, body) VALUES (?, ?, ?, ?, ?)", pending)
        before = self._appends
        self._appends += len(pending)
        if self._appends // TRIM_EVERY != before // TRIM_EVERY:
            self.trim()

    def _position(self, stream: str, run: str, seq: int) -> int | None:
        row = self._db.execute(
            "SELECT pos FROM journal WHERE stream = ? AND run = ? AND seq = ?", (stream, run, seq)
        ).fetchone()
        return None if row is None else int(row[0])

    def _resume(self, stream: str, run: str, after: int) -> tuple[int, bool] | None:
        """(journal position just before what follows ``(run, after)``, whether some of what
        follows was deleted), or None when the journal does not know that position."""
        row = self._db.execute(
            "SELECT pos, seq FROM journal WHERE stream = ? AND run = ? AND seq > ? ORDER BY seq LIMIT 1",
            (stream, run, after),
        ).fetchone()
        if row is not None:
            return int(row[0]) - 1, int(row[1]) > after + 1
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
        self.commit()
        resume = self._resume(stream, run, after) if run is not None else None
        position, lost = resume if resume is not None else (self.cursor(consumer, stream), False)
        rows = self._db.execute(
            "SELECT pos, body FROM journal WHERE stream = ? AND pos > ? ORDER BY pos LIMIT ?", (stream, position, limit)
        ).fetchall()
        lost = lost or (bool(rows) and rows[0][0] > position + 1)
        return Replay([body for _, body in rows], lost)

    def ack(self, consumer: str, stream: str, run: str, seq: int) -> None:
        self.commit()
        position = self._position(stream, run, seq)
        if position is None:
            return
        self._db.execute(
            "INSERT INTO cursors (consumer, stream, pos) VALUES (?, ?, ?) "
            "ON CONFLICT (consumer, stream) DO UPDATE SET pos = MAX(pos, excluded.pos)",
            (consumer, stream, position),
        )

    def trim(self) -> None:
        for stream in STREAMS:
            keep_from = self._positions[stream] - self._max
            if keep_from <= 0:
                continue
            slowest = self._db.execute("SELECT MIN(pos) FROM cursors WHERE stream = ?", (stream,)).fetchone()[0]
            slowest = 0 if slowest is None else slowest  # no consumer has acknowledged anything yet
            unread = 0
            if slowest < keep_from:
                unread = self._db.execute(
                    "SELECT COUNT(*) FROM journal WHERE stream = ? AND pos > ? AND pos <= ?",
                    (stream, slowest, keep_from),
                ).fetchone()[0]
            deleted = self._db.execute(
                "DELETE FROM journal WHERE stream = ? AND pos <= ?", (stream, keep_from)
            ).rowcount
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
