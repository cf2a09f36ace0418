"""The gateway's durable state (SQLite, WAL): transactions, so that ids stay unique per
charge point across gateway restarts and a StopTransaction after a restart still finds
the connector and meter start of its transaction; what onboarding set on each charge point; and
the local authorization list each charge point holds (its version and entries), so that a restart
sends nothing to a charge point whose list is up to date."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    charge_point TEXT NOT NULL,
    connector INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    meter_start INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    meter_stop INTEGER,
    stopped_at TEXT,
    id_tag_status TEXT
);
CREATE TABLE IF NOT EXISTS connected (charge_point TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS configured (
    charge_point TEXT NOT NULL,
    key TEXT NOT NULL,
    wanted TEXT NOT NULL,
    achieved TEXT NOT NULL,
    PRIMARY KEY (charge_point, key)
);
CREATE INDEX IF NOT EXISTS transactions_active ON transactions (charge_point, connector, stopped_at);
CREATE TABLE IF NOT EXISTS transactions201 (
    charge_point TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    evse INTEGER,
    id_token TEXT,
    meter_start REAL,
    started_at TEXT NOT NULL,
    stopped_at TEXT,
    id_token_status TEXT,
    PRIMARY KEY (charge_point, transaction_id)
);
CREATE INDEX IF NOT EXISTS transactions201_open ON transactions201 (charge_point, evse, stopped_at);
CREATE TABLE IF NOT EXISTS local_lists (
    charge_point TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    entries TEXT NOT NULL
);
"""
#: Open transactions by id tag, for ConcurrentTx (authorization.py); made after the column exists.
OPEN_TAGS_INDEX = (
    "CREATE INDEX IF NOT EXISTS transactions_open_tags ON transactions (id_tag COLLATE NOCASE) WHERE stopped_at IS NULL"
)

#: Transaction ids of a new database start at the seconds elapsed since this epoch, so
#: that a lost database does not hand out ids a charge point has seen before (unless it
#: averaged more than one transaction a second). Stays below 2**31 until 2088.
ID_EPOCH = 1_600_000_000

#: Transactions remembered by (charge point, id) for MeterValues, which name theirs in every
#: message while charging (a query cost more than the rest of the handler).
FOUND_CACHE_SIZE = 20_000


@dataclass(frozen=True, slots=True)
class Transaction:
    id: int
    charge_point: str
    connector: int
    id_tag: str
    meter_start: int


@dataclass(frozen=True, slots=True)
class Transaction201:
    """An OCPP 2.0.1 transaction as its TransactionEvents told it: the charging station names it
    (a string), the EVSE and id token may come with any of its events."""

    id: str
    charge_point: str
    evse: int | None
    id_token: str | None
    #: The energy register (Wh) it started with, when an event of it carried one.
    meter_start: float | None
    #: Ended, or superseded by a newer transaction on its EVSE.
    stopped: bool = False
    #: A newer transaction started on its EVSE since (its events came late).
    superseded: bool = False
    #: This event was the first to name the transaction's EVSE.
    evse_learnt: bool = False
    #: What the gateway answered to its id token (None: nothing yet, or every token accepted).
    id_token_status: str | None = None


@dataclass(slots=True)
class _Row201:
    """What the store keeps in memory of a 2.0.1 transaction (``Store._rows201``)."""

    rowid: int
    evse: int | None
    id_token: str | None
    meter_start: float | None
    stopped: bool
    id_token_status: str | None


class Store:
    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self._db = self.db
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(transactions)")}
        if "id_tag_status" not in columns:  # a database of 0.7 or earlier
            self._db.execute("ALTER TABLE transactions ADD COLUMN id_tag_status TEXT")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(transactions201)")}
        if "id_token_status" not in columns:  # a database of a 0.9 development version
            self._db.execute("ALTER TABLE transactions201 ADD COLUMN id_token_status TEXT")
        self._db.execute(OPEN_TAGS_INDEX)
        #: What find() returns never changes once a transaction exists (its stop is not part of it).
        self._found: dict[tuple[str, int], Transaction] = {}
        #: 2.0.1 transactions by (charge point, id), and the newest rowid per (charge point, EVSE).
        self._rows201: dict[tuple[str, str], _Row201] = {}
        self._newest201: dict[tuple[str, int], int] = {}
        if self._db.execute("SELECT COUNT(*) FROM sqlite_sequence WHERE name='transactions'").fetchone()[0] == 0:
            seed = max(0, int(time.time()) - ID_EPOCH)
            self._db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('transactions', ?)", (seed,))

    def close(self) -> None:
        self._db.close()

    def start_transaction(
        self,
        charge_point: str,
        connector: int,
        id_tag: str,
        meter_start: int,
        started_at: str,
        id_tag_status: str | None = None,
    ) -> int:
        """The id of a new transaction. A StartTransaction sent again (the charge point got no
        answer) gets the id it was given before; an older transaction still open on the
        connector is closed, as a connector charges one transaction at a time. ``id_tag_status``:
        the answer given to its id tag (None: ``OCPP_AUTHORIZE=all``, every tag accepted)."""
        row = self._db.execute(
            "SELECT id FROM transactions WHERE charge_point = ? AND connector = ? AND id_tag = ?"
            " AND meter_start = ? AND started_at = ? AND stopped_at IS NULL",
            (charge_point, connector, id_tag, meter_start, started_at),
        ).fetchone()
        if row is not None:
            if id_tag_status is not None:
                self._db.execute("UPDATE transactions SET id_tag_status = ? WHERE id = ?", (id_tag_status, row[0]))
            return int(row[0])
        self._db.execute(
            "UPDATE transactions SET stopped_at = 'superseded' WHERE charge_point = ? AND connector = ?"
            " AND stopped_at IS NULL",
            (charge_point, connector),
        )
        cursor = self._db.execute(
            "INSERT INTO transactions (charge_point, connector, id_tag, meter_start, started_at, id_tag_status)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (charge_point, connector, id_tag, meter_start, started_at, id_tag_status),
        )
        return int(cursor.lastrowid or 0)

    def charging_elsewhere(self, id_tag: str, charge_point: str, connector: int) -> bool:
        """Whether ``id_tag`` (without regard to case) has an open transaction that was accepted
        (or started while every tag was) on another connector, of this charge point or another."""
        row = self._db.execute(
            "SELECT 1 FROM transactions WHERE stopped_at IS NULL AND id_tag = ? COLLATE NOCASE"
            " AND (id_tag_status IS NULL OR id_tag_status = 'Accepted')"
            " AND NOT (charge_point = ? AND connector = ?) LIMIT 1",
            (id_tag, charge_point, connector),
        ).fetchone()
        if row is None:  # or on an OCPP 2.0.1 charging station (its transactions are in their own table)
            row = self._db.execute(
                "SELECT 1 FROM transactions201 WHERE stopped_at IS NULL AND id_token = ? COLLATE NOCASE"
                " AND (id_token_status IS NULL OR id_token_status = 'Accepted')"
                " AND NOT (charge_point = ? AND evse = ?) LIMIT 1",
                (id_tag, charge_point, connector),
            ).fetchone()
        return row is not None

    # -- OCPP 2.0.1 transactions ----------------------------------------------------------

    def transaction_event(
        self,
        charge_point: str,
        transaction_id: str,
        event_type: str,
        timestamp: str,
        evse: int | None = None,
        id_token: str | None = None,
        meter: float | None = None,
        id_token_status: str | None = None,
    ) -> Transaction201:
        """Records one TransactionEvent and returns the transaction as known after it. The first
        event of a transaction (Started, or whatever came first) creates it; later events fill in
        what earlier ones left out (EVSE, id token, the start register, the status answered to the
        token). A newer transaction on an EVSE closes the older one still open there (superseded):
        when it starts there, or when a later event first names its EVSE. ``Ended`` closes it.
        The transactions of events being sent are kept in memory: an Updated costs no query."""
        db = self._db
        row = self._row201(charge_point, transaction_id)
        evse_learnt = False
        if row is None:
            cursor = db.execute(
                "INSERT INTO transactions201"
                " (charge_point, transaction_id, evse, id_token, meter_start, started_at, id_token_status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (charge_point, transaction_id, evse, id_token, meter, timestamp, id_token_status),
            )
            row = _Row201(int(cursor.lastrowid or 0), evse, id_token, meter, False, id_token_status)
            self._cache201(charge_point, transaction_id, row)
            if evse is not None:
                self._newer_on_evse(charge_point, evse, row.rowid)
        else:
            changed: dict[str, Any] = {}
            if row.evse is None and evse is not None:
                row.evse = changed["evse"] = evse
                evse_learnt = True
            if row.id_token is None and id_token is not None:
                row.id_token = changed["id_token"] = id_token
            if row.meter_start is None and meter is not None:
                row.meter_start = changed["meter_start"] = meter
            if row.id_token_status is None and id_token_status is not None:
                row.id_token_status = changed["id_token_status"] = id_token_status
            if changed:
                assignments = ", ".join(f"{column} = ?" for column in changed)  # our column names only
                db.execute(
                    f"UPDATE transactions201 SET {assignments} WHERE rowid = ?",  # noqa: S608
                    (*changed.values(), row.rowid),
                )
            if evse_learnt and evse is not None:
                self._newer_on_evse(charge_point, evse, row.rowid)
        if event_type == "Ended" and not row.stopped:
            db.execute(
                "UPDATE transactions201 SET stopped_at = ? WHERE rowid = ?"
                " AND (stopped_at IS NULL OR stopped_at = 'superseded')",
                (timestamp, row.rowid),
            )
            row.stopped = True
        return self._transaction201(charge_point, transaction_id, row, evse_learnt)

    def transaction201(self, charge_point: str, transaction_id: str) -> Transaction201 | None:
        row = self._row201(charge_point, transaction_id)
        return self._transaction201(charge_point, transaction_id, row) if row is not None else None

    def _row201(self, charge_point: str, transaction_id: str) -> _Row201 | None:
        row = self._rows201.get((charge_point, transaction_id))
        if row is not None:
            return row
        found = self._db.execute(
            "SELECT rowid, evse, id_token, meter_start, stopped_at, id_token_status FROM transactions201"
            " WHERE charge_point = ? AND transaction_id = ?",
            (charge_point, transaction_id),
        ).fetchone()
        if found is None:
            return None
        rowid, evse, id_token, meter_start, stopped_at, status = found
        row = _Row201(rowid, evse, id_token, meter_start, stopped_at is not None and stopped_at != "superseded", status)
        self._cache201(charge_point, transaction_id, row)
        return row

    def _cache201(self, charge_point: str, transaction_id: str, row: _Row201) -> None:
        if len(self._rows201) >= FOUND_CACHE_SIZE:
            self._rows201.clear()
            self._newest201.clear()
        self._rows201[charge_point, transaction_id] = row

    def _newest_on_evse(self, charge_point: str, evse: int) -> int:
        """The rowid of the newest transaction that ran on an EVSE (0: none)."""
        newest = self._newest201.get((charge_point, evse))
        if newest is None:
            found = self._db.execute(
                "SELECT MAX(rowid) FROM transactions201 WHERE charge_point = ? AND evse = ?", (charge_point, evse)
            ).fetchone()
            newest = self._newest201[charge_point, evse] = int(found[0] or 0)
        return newest

    def _newer_on_evse(self, charge_point: str, evse: int, rowid: int) -> None:
        """Transaction ``rowid`` runs on ``evse``: older ones still open there are superseded."""
        self._db.execute(
            "UPDATE transactions201 SET stopped_at = 'superseded' WHERE charge_point = ? AND evse = ?"
            " AND stopped_at IS NULL AND rowid < ?",
            (charge_point, evse, rowid),
        )
        self._newest201[charge_point, evse] = max(rowid, self._newest_on_evse(charge_point, evse))

    def _transaction201(
        self, charge_point: str, transaction_id: str, row: _Row201, evse_learnt: bool = False
    ) -> Transaction201:
        superseded = row.evse is not None and self._newest_on_evse(charge_point, row.evse) > row.rowid
        return Transaction201(
            transaction_id,
            charge_point,
            row.evse,
            row.id_token,
            row.meter_start,
            stopped=row.stopped,
            superseded=superseded,
            evse_learnt=evse_learnt,
            id_token_status=row.id_token_status,
        )

    def running(self, charge_point: str, v201: bool = False) -> dict[int, int | str]:
        """Connector (2.0.1: EVSE) -> the id of the newest transaction open on it, for a 1.6 charge
        point or (``v201``) a 2.0.1 station."""
        newest: dict[int, int | str] = {}
        if v201:
            for found in self.open_transactions201(charge_point, 0):  # newest first
                if found.evse is not None:
                    newest.setdefault(found.evse, found.id)
        else:
            for transaction in self.active_transactions(charge_point, 0):  # newest first
                newest.setdefault(transaction.connector, transaction.id)
        return newest

    def open_transactions201(self, charge_point: str, evse: int = 0) -> list[Transaction201]:
        """Open 2.0.1 transactions of an EVSE, newest first; EVSE 0: of every EVSE."""
        rows = self._db.execute(
            "SELECT transaction_id, charge_point, evse, id_token, meter_start FROM transactions201"
            " WHERE charge_point = ? AND (evse = ? OR ? = 0) AND stopped_at IS NULL ORDER BY rowid DESC",
            (charge_point, evse, evse),
        ).fetchall()
        return [Transaction201(*row) for row in rows]

    def local_list(self, charge_point: str) -> tuple[int, str] | None:
        """The version of the local authorization list last sent to a charge point and accepted,
        and its entries (JSON text, ``v16/local_list.py``)."""
        row = self._db.execute(
            "SELECT version, entries FROM local_lists WHERE charge_point = ?", (charge_point,)
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def remember_local_list(self, charge_point: str, version: int, entries: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO local_lists (charge_point, version, entries) VALUES (?, ?, ?)",
            (charge_point, version, entries),
        )

    def forget_local_list(self, charge_point: str) -> None:
        """What the charge point holds is not known (an update failed): the next one is Full."""
        self._db.execute("DELETE FROM local_lists WHERE charge_point = ?", (charge_point,))

    def find(self, charge_point: str, transaction_id: int) -> Transaction | None:
        found = self._found.get((charge_point, transaction_id))
        if found is not None:
            return found
        row = self._db.execute(
            "SELECT id, charge_point, connector, id_tag, meter_start FROM transactions"
            " WHERE id = ? AND charge_point = ?",
            (transaction_id, charge_point),
        ).fetchone()
        if row is None:
            return None  # not remembered: it may yet be started
        if len(self._found) >= FOUND_CACHE_SIZE:
            self._found.clear()
        found = self._found[charge_point, transaction_id] = Transaction(*row)
        return found

    def stop_transaction(
        self, charge_point: str, transaction_id: int, meter_stop: int, stopped_at: str
    ) -> Transaction | None:
        """Records the stop; also of a transaction a newer one on its connector superseded (its
        StopTransaction came late: the charge point was offline)."""
        self._db.execute(
            "UPDATE transactions SET meter_stop = ?, stopped_at = ?"
            " WHERE id = ? AND charge_point = ? AND (stopped_at IS NULL OR stopped_at = 'superseded')",
            (meter_stop, stopped_at, transaction_id, charge_point),
        )
        return self.find(charge_point, transaction_id)

    def superseded(self, transaction: Transaction) -> bool:
        """Whether a newer transaction was started on the transaction's connector."""
        row = self._db.execute(
            "SELECT 1 FROM transactions WHERE charge_point = ? AND connector = ? AND id > ? LIMIT 1",
            (transaction.charge_point, transaction.connector, transaction.id),
        ).fetchone()
        return row is not None

    def active_transactions(self, charge_point: str, connector: int) -> list[Transaction]:
        """Open transactions of a connector; connector 0 means every connector of the charge point."""
        rows = self._db.execute(
            "SELECT id, charge_point, connector, id_tag, meter_start FROM transactions "
            "WHERE charge_point = ? AND (connector = ? OR ? = 0) AND stopped_at IS NULL ORDER BY id DESC",
            (charge_point, connector, connector),
        ).fetchall()
        return [Transaction(*row) for row in rows]

    def active_transaction(self, charge_point: str, connector: int) -> Transaction | None:
        transactions = self.active_transactions(charge_point, connector)
        return transactions[0] if transactions else None

    def mark_connected(self, charge_point: str, connected: bool) -> None:
        if connected:
            self._db.execute("INSERT OR IGNORE INTO connected (charge_point) VALUES (?)", (charge_point,))
        else:
            self._db.execute("DELETE FROM connected WHERE charge_point = ?", (charge_point,))

    def configured(self, charge_point: str, key: str) -> tuple[str, str] | None:
        """What onboarding wanted for a configuration key of a charge point, and what it got."""
        row = self._db.execute(
            "SELECT wanted, achieved FROM configured WHERE charge_point = ? AND key = ?", (charge_point, key)
        ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def remember_configured(self, charge_point: str, key: str, wanted: str, achieved: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO configured (charge_point, key, wanted, achieved) VALUES (?, ?, ?, ?)",
            (charge_point, key, wanted, achieved),
        )

    def take_connected(self) -> list[str]:
        """Charge points an earlier run had connected when it ended (killed: it could not say
        they disconnected); forgotten once read."""
        rows = self._db.execute("SELECT charge_point FROM connected ORDER BY charge_point").fetchall()
        self._db.execute("DELETE FROM connected")
        return [row[0] for row in rows]

    def is_active(self, charge_point: str, transaction_id: int) -> bool:
        """Whether a transaction of this charge point is open (started, neither stopped nor superseded)."""
        if not -(2**63) <= transaction_id < 2**63:  # not an SQLite integer: no transaction has it
            return False
        row = self._db.execute(
            "SELECT 1 FROM transactions WHERE id = ? AND charge_point = ? AND stopped_at IS NULL",
            (transaction_id, charge_point),
        ).fetchone()
        return row is not None
