"""Unit tests of the gateway's ``active_transaction`` command (processes.gateway.commands) on an
in-memory store: which transaction a remote stop stops."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, cast

import pytest

from common.bus import ErrorCode, Request
from processes.gateway.command_server import CommandError
from processes.gateway.commands import GatewayCommands
from processes.gateway.journal import Journal
from processes.gateway.registry import ConnectionRegistry
from processes.gateway.store import Store

STARTED = "2026-01-01T00:00:00Z"


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store(":memory:")
    yield opened
    opened.close()


def ask(store: Store, **args: Any) -> int | str | None:
    commands = GatewayCommands(cast(ConnectionRegistry, None), cast(Journal, None), store, 0)
    return asyncio.run(commands.active_transaction(Request("1", "active_transaction", args, 5.0)))


def test_the_connector_s_active_transaction_without_a_named_one(store: Store) -> None:
    assert ask(store, cp="CP_1", connector=1) is None
    tx = store.start_transaction("CP_1", 1, "TAG", 0, STARTED)
    assert ask(store, cp="CP_1", connector=1) == tx
    assert ask(store, cp="CP_1", connector=0) == tx


def test_a_named_active_transaction_of_the_charge_point_is_stopped(store: Store) -> None:
    one = store.start_transaction("CP_1", 1, "TAG", 0, STARTED)
    two = store.start_transaction("CP_1", 2, "TAG", 0, STARTED)
    assert ask(store, cp="CP_1", connector=1, transaction=two) == two  # on any connector
    assert ask(store, cp="CP_1", connector=0, transaction=one) == one  # no "several active" error


@pytest.mark.parametrize("named", [1, 0, -5, 2**63, -(2**63) - 1, 10**30])
def test_a_number_that_is_no_active_transaction_falls_back_to_the_connector_s(store: Store, named: int) -> None:
    tx = store.start_transaction("CP_1", 1, "TAG", 0, STARTED)
    assert ask(store, cp="CP_1", connector=1, transaction=named) == tx


def test_stopped_superseded_and_other_charge_points_transactions_are_not_named(store: Store) -> None:
    stopped = store.start_transaction("CP_1", 1, "TAG", 0, STARTED)
    store.stop_transaction("CP_1", stopped, 10, STARTED)
    superseded = store.start_transaction("CP_1", 2, "TAG", 0, STARTED)
    newer = store.start_transaction("CP_1", 2, "TAG", 5, "2026-01-01T00:10:00Z")
    elsewhere = store.start_transaction("CP_2", 1, "TAG", 0, STARTED)
    assert ask(store, cp="CP_1", connector=1, transaction=stopped) is None
    assert ask(store, cp="CP_1", connector=2, transaction=superseded) == newer
    assert ask(store, cp="CP_1", connector=2, transaction=elsewhere) == newer
    assert not store.is_active("CP_1", superseded)
    assert store.is_active("CP_2", elsewhere)


def test_the_errors_stay_as_they_were(store: Store) -> None:
    one = store.start_transaction("CP_1", 1, "TAG", 0, STARTED)
    two = store.start_transaction("CP_1", 2, "TAG", 0, STARTED)
    with pytest.raises(CommandError, match=f"several active transactions \\({two} on connector 2, {one} on"):
        ask(store, cp="CP_1", connector=0, transaction=1)
    for bad in ({"cp": "CP_1"}, {"connector": 1}, {"cp": "CP_1", "connector": 1, "transaction": "7"}):
        with pytest.raises(CommandError) as raised:
            ask(store, **bad)
        assert raised.value.code is ErrorCode.INVALID_VALUE
    with pytest.raises(CommandError, match="must be an integer"):
        ask(store, cp="CP_1", connector=1, transaction=True)
