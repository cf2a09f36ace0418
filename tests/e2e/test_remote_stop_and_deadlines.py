"""End to end: which transaction a remote stop stops, a late StopTransaction of a superseded
transaction, and writes queued behind a charge point that does not answer (``Timeout`` for the
call that was sent, ``Expired`` for what waited too long and was never sent)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.harness import Broker, Connector, Observer, wait_until
from tests.e2e.test_actuators import in_thread
from tests.support.bemcom import Bemcom
from tests.support.chargepoint import NO_ANSWER, AnswerSpec, JSONDict, SimulatedChargePoint

pytestmark = pytest.mark.e2e

CALL_TIMEOUT = 1.5


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Connector]]:
    directory: Path = tmp_path_factory.mktemp("site")
    broker = Broker(directory)
    broker.start()
    connector = Connector(directory, broker.port, OCPP_CALL_TIMEOUT=str(CALL_TIMEOUT))
    connector.start()
    yield broker, connector
    connector.stop()
    broker.stop()


@pytest.fixture
def bemcom(site: tuple[Broker, Connector]) -> Iterator[Bemcom]:
    observer = Observer(site[0].port, site[1].name)
    yield Bemcom(observer)
    observer.close()


@pytest.fixture
def url(site: tuple[Broker, Connector]) -> str:
    return site[1].url


class Charger:
    """What a real charger does with RemoteStopTransaction: Accepted only for a transaction it runs."""

    def __init__(self) -> None:
        self.running: set[int] = set()

    def answers(self) -> dict[str, AnswerSpec]:
        return {"RemoteStopTransaction": self.remote_stop}

    def remote_stop(self, payload: JSONDict) -> JSONDict:
        return {"status": "Accepted" if payload.get("transactionId") in self.running else "Rejected"}


async def offered(bemcom: Bemcom, *keys: str) -> None:
    await in_thread(bemcom.observer.wait_for, "available_datapoints", lambda p: set(keys) <= set(p["actuator"]))


def test_remote_stop_with_a_button_value_stops_the_active_transaction(bemcom: Bemcom, url: str) -> None:
    charger = Charger()

    async def scenario() -> None:
        async with SimulatedChargePoint(url, "CP_BUTTON", answers=charger.answers()) as cp:
            await cp.boot()
            tx = await cp.start_transaction(1, "TAG", meter_start=0)
            charger.running.add(tx)
            assert tx != 1
            key = "CP_BUTTON__1__execute_remote_stop_transaction"
            await offered(bemcom, key)
            bemcom.map(key)
            for value in (1, "1", True, "stop"):
                assert await in_thread(bemcom.write, key, value) == "Accepted", value
            calls = await cp.wait_for_call("RemoteStopTransaction", count=4)
            assert calls == [{"transactionId": tx}] * 4

    asyncio.run(scenario())


def test_remote_stop_with_the_real_transaction_id_stops_that_transaction(bemcom: Bemcom, url: str) -> None:
    charger = Charger()

    async def scenario() -> None:
        async with SimulatedChargePoint(url, "CP_NAMED", answers=charger.answers()) as cp:
            await cp.boot()
            one = await cp.start_transaction(1, "TAG_1", meter_start=0)
            two = await cp.start_transaction(2, "TAG_2", meter_start=0)
            charger.running |= {one, two}
            k0, k1 = "CP_NAMED__0__execute_remote_stop_transaction", "CP_NAMED__1__execute_remote_stop_transaction"
            await offered(bemcom, k0, k1)
            bemcom.map(k0, k1)
            # The id names the transaction, on whichever connector it runs ...
            assert await in_thread(bemcom.write, k1, two) == "Accepted"
            assert await in_thread(bemcom.write, k0, str(one)) == "Accepted"
            assert await cp.wait_for_call("RemoteStopTransaction", count=2) == [
                {"transactionId": two},
                {"transactionId": one},
            ]
            # ... and connector 0 without one is ambiguous while two transactions run.
            outcome = await in_thread(bemcom.write, k0, True)
            assert outcome.startswith("InvalidValue: several active transactions")

    asyncio.run(scenario())


def test_a_late_stop_of_a_superseded_transaction_leaves_the_newer_one_active(bemcom: Bemcom, url: str) -> None:
    active, ident = "CP_LATE__1__transaction__active", "CP_LATE__1__transaction__id"
    energy = "CP_LATE__1__Energy.Active.Import.Register__Wh"

    async def scenario() -> None:
        async with SimulatedChargePoint(url, "CP_LATE") as cp:
            await cp.boot()
            await cp.status(1)
            key = "CP_LATE__1__execute_remote_stop_transaction"
            await offered(bemcom, key)
            bemcom.map(key, sensors=(active, ident, energy))
            old = await cp.start_transaction(1, "OLD", meter_start=1000)
            new = await cp.start_transaction(1, "NEW", meter_start=5000)  # the charger never sent old's stop ...
            sample = {"timestamp": "2020-01-01T00:00:00Z", "sampledValue": [{"value": "4321"}]}
            await cp.stop_transaction(
                old, 4321, timestamp="2020-01-01T00:00:00Z", transactionData=[sample]
            )  # ... till now
            # The old transaction's sample is published (at its own time) ...
            await in_thread(bemcom.observer.wait_for, f"sensor/{energy}", lambda p: p["value"] == 4321)
            # ... the connector's state stays the new transaction's.
            assert [m.payload["value"] for m in bemcom.observer.on(f"sensor/{active}")] == [True, True]
            assert bemcom.observer.latest(f"sensor/{ident}")["value"] == new
            log = await in_thread(bemcom.observer.wait_for, "logs", lambda p: "late StopTransaction" in p["msg"])
            assert log["level"] == 20 and f"transaction {old} on connector 1" in log["msg"]

    asyncio.run(scenario())


def result_values(bemcom: Bemcom, key: str) -> list[Any]:
    return [message.payload["value"] for message in bemcom.observer.on(bemcom.result_topic(key))]


def test_writes_behind_a_charger_that_never_answers_end_timeout_or_expired(bemcom: Bemcom, url: str) -> None:
    silent: dict[str, AnswerSpec] = {"UnlockConnector": NO_ANSWER, "ChangeConfiguration": NO_ANSWER}

    async def scenario() -> None:
        async with SimulatedChargePoint(url, "CP_MUTE", answers=silent) as cp:
            await cp.boot()
            await cp.status(1)
            unlock, change, reset = (
                "CP_MUTE__1__execute_unlock_connector",
                "CP_MUTE__execute_change_configuration",
                "CP_MUTE__execute_reset",
            )
            await offered(bemcom, unlock, change, reset)
            bemcom.map(unlock, change, reset)
            bemcom.send(unlock, True)
            await cp.wait_for_call("UnlockConnector")  # sent; it is never answered
            bemcom.send(change, "HeartbeatInterval=60")  # waits behind it, about the whole bound
            bemcom.send(change, "HeartbeatInterval=61")
            bemcom.send(reset, "Soft")  # waits longer than the bound: never sent
            results = (unlock, change, change, reset)
            await in_thread(
                wait_until, lambda: sum(len(result_values(bemcom, k)) for k in set(results)) == 4, 15, "4 results"
            )
        assert result_values(bemcom, unlock) == ["Timeout"]  # sent, not answered
        assert result_values(bemcom, reset) == ["Expired"]
        assert "Reset" not in [action for action, _ in cp.received_calls]
        # Each configuration change either went out (and was not answered) or expired unsent.
        changes = result_values(bemcom, change)
        sent = [  # onboarding's own ChangeConfiguration (also unanswered) is not one of them
            payload["value"]
            for action, payload in cp.received_calls
            if action == "ChangeConfiguration" and payload["key"] == "HeartbeatInterval"
        ]
        assert set(changes) <= {"Timeout", "Expired"} and "Expired" in changes
        assert changes.count("Timeout") == len(sent)
        expired = await in_thread(
            bemcom.observer.wait_for, "logs", lambda p: p["msg"].startswith("CP_MUTE__execute_reset: Expired")
        )
        assert "not sent" in expired["msg"] and expired["level"] == 30

    asyncio.run(scenario())
