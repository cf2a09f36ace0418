"""Stopping: SIGTERM to supervisord (Ctrl-C on ``make run``, ``docker stop``) ends every process
within 5 s, leaves no orphan, and the journal is consistent and holds what the charge points were
answered."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from bench.harness import Broker, Connector, wait_until
from common.bus import unpack
from tests.support.chargepoint import SimulatedChargePoint

pytestmark = pytest.mark.e2e

STOP_WITHIN = 5.0
CHARGE_POINTS = 3


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped does not count)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


class Senders:
    """Charge points sending meter values back to back from a thread of their own, until the
    connector goes away; ``answered`` holds each value a charge point got an answer for."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answered: dict[str, list[int]] = {f"STOP_{n}": [] for n in range(1, CHARGE_POINTS + 1)}
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.thread.start()

    async def _run(self) -> None:
        await asyncio.gather(*(self._send(cp_id) for cp_id in self.answered), return_exceptions=True)

    async def _send(self, cp_id: str) -> None:
        cp = SimulatedChargePoint(self.url, cp_id, open_timeout=2)
        await cp.connect()
        value = 1
        try:
            while True:
                sampled = [{"value": str(value), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
                await cp.meter_values(1, sampled)
                self.answered[cp_id].append(value)
                value += 1
        finally:
            await cp.close()


def journaled_values(path: Path) -> tuple[str, dict[str, set[int]]]:
    """The journal's integrity check, and the meter values of each charge point in it."""
    db = sqlite3.connect(path)
    try:
        [(integrity,)] = db.execute("PRAGMA integrity_check").fetchall()
        values: dict[str, set[int]] = {}
        for (body,) in db.execute("SELECT body FROM journal_event"):
            event = unpack(body)
            if event.get("kind") != "MeterValues":
                continue
            for meter_value in event["payload"].get("meter_value", []):
                for sampled in meter_value.get("sampled_value", []):
                    values.setdefault(event["cp"], set()).add(int(sampled["value"]))
    finally:
        db.close()
    return integrity, values


def test_sigterm_to_supervisord_stops_everything_within_5_s(tmp_path: Path, broker: Broker) -> None:
    connector = Connector(tmp_path, broker.port, OCPP_MAX_CALLS_PER_SECOND="100000")
    connector.start()
    supervisord = connector._process
    assert supervisord is not None
    try:
        pids = wait_until(lambda: len(connector.child_pids()) == 3 and connector.child_pids(), 20, "3 programs")
        wait_until(lambda: "success: rawlogger entered RUNNING" in connector.output(), 20, "every program RUNNING")
        senders = Senders(connector.url)
        wait_until(lambda: all(len(v) >= 20 for v in senders.answered.values()), 20, "meter values answered")

        started = time.monotonic()
        supervisord.terminate()  # SIGTERM, as Ctrl-C on `make run` (SIGINT) and `docker stop` do
        everything = [supervisord.pid, *pids.values()]
        wait_until(lambda: supervisord.poll() is not None and not any(map(alive, everything)), 15, "every process gone")
        took = time.monotonic() - started
    finally:
        connector.stop()
    print(f"supervisord, gateway, bridge and rawlogger stopped {took:.2f} s after SIGTERM")
    assert took < STOP_WITHIN, connector.output()[-3000:]
    assert supervisord.returncode == 0
    orphans = [pid for pid in everything if alive(pid)]
    assert orphans == []

    senders.thread.join(10)
    integrity, journaled = journaled_values(tmp_path / "gateway.sqlite3")
    assert integrity == "ok"
    for cp_id, answered in senders.answered.items():
        assert answered and set(answered) <= journaled.get(cp_id, set()), cp_id
    assert "stopped by an unexpected error" not in connector.output()
