"""Local authorization lists (processes/gateway/local_list.py, v16/local_list.py) on a real OCPP 1.6
session with onboarding wired as the gateway wires it, against a scripted charger that keeps its
list as the simulator does (tools/local_list.py): after each boot and each change of the file the
charger holds the file; Differential where it fits, else Full in chunks; failures end in a Full
update; versions persist across restarts."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from processes.gateway import v16
from processes.gateway.authorization import local_list
from processes.gateway.id_tags import IdTag, IdTags, of
from processes.gateway.local_list import LocalLists
from processes.gateway.store import Store
from tests.support.onboarding_site import FACTORY, ScriptedCharger, Site
from tools.local_list import LocalAuthorizationList

FLEET = of(
    IdTag("CARD1", parent="FLEET"),
    IdTag("CARD2", expiry=dt.datetime(2027, 6, 30, tzinfo=dt.UTC)),
    IdTag("LOST", status="Blocked"),
)


class ListCharger(ScriptedCharger):
    """A scripted charger that keeps a local list within its SendLocalListMaxLength and
    LocalAuthListMaxLength; ``refusals`` are the next SendLocalList answers it gives instead."""

    def __init__(self, send_max: int = 100, list_max: int = 1000, profiles: str | None = None) -> None:
        configuration = dict(FACTORY, SendLocalListMaxLength=str(send_max), LocalAuthListMaxLength=str(list_max))
        if profiles is not None:
            configuration["SupportedFeatureProfiles"] = profiles
        super().__init__(configuration)
        self.list = LocalAuthorizationList()
        self.send_max, self.list_max = send_max, list_max
        self.refusals: list[str] = []
        self.sending = asyncio.Event()  # set at the first SendLocalList

    async def send(self, message: str) -> None:
        if '"SendLocalList"' in message:
            self.sending.set()
        await super().send(message)

    def answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "GetLocalListVersion":
            return {"listVersion": self.list.version}
        if action == "SendLocalList":
            if self.refusals:
                return {"status": self.refusals.pop(0)}
            return {"status": self.list.update(payload, max_length=self.list_max, send_max_length=self.send_max)}
        return super().answer(action, payload)

    def holds(self, tags: IdTags) -> bool:
        return self.list.entries == dict(local_list(tags))

    def sent(self) -> list[tuple[str, int, int]]:
        """(updateType, listVersion, entries) of every SendLocalList."""
        return [
            (p["updateType"], p["listVersion"], len(p.get("localAuthorizationList", [])))
            for action, p in self.calls
            if action == "SendLocalList"
        ]

    def asked(self) -> int:
        return [action for action, _ in self.calls].count("GetLocalListVersion")


class CountedLists(LocalLists):
    """Tells whoever waits when an update has ended."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.ended = asyncio.Condition()

    async def _update(self, session: Any) -> None:
        await super()._update(session)
        async with self.ended:
            self.ended.notify_all()


class ListSite(Site):
    """The site with local lists kept, as ``access.py`` wires them."""

    def __init__(self, store: Store, charger: ListCharger, tags: IdTags = FLEET) -> None:
        super().__init__(store, charger)
        self.lists = CountedLists(tags, store, self.onboarding.caller, {v16.SUBPROTOCOL: v16.keep_local_list})
        self.onboarding.follow_ups.append(self.lists.after_onboarding)

    async def __aenter__(self) -> ListSite:
        await super().__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(*exc)
        await self.lists.close()

    async def updates(self, count: int, timeout: float = 5) -> None:  # noqa: ASYNC109
        """Until ``count`` updates have ended."""
        async with asyncio.timeout(timeout), self.lists.ended:
            await self.lists.ended.wait_for(lambda: self.lists.finished >= count)

    def change(self, tags: IdTags) -> None:
        self.lists.changed(tags, [self.session])


def run(scenario: Callable[[Store], Coroutine[Any, Any, None]], path: Path | None = None) -> None:
    store = Store(str(path) if path else ":memory:")
    try:
        asyncio.run(scenario(store))
    finally:
        store.close()


def test_after_a_boot_the_charger_gets_the_file_and_a_reboot_sends_nothing() -> None:
    async def scenario(store: Store) -> None:
        charger = ListCharger()
        async with ListSite(store, charger) as site:
            site.boot()
            await site.updates(1)
            assert charger.holds(FLEET)
            assert charger.sent() == [("Full", 1, 3)]
            site.boot()
            await site.updates(2)
        assert charger.asked() == 2
        assert charger.sent() == [("Full", 1, 3)]  # up to date: nothing sent
        outcomes = [payload["status"] for kind, payload, _ in site.bus.events if kind == "LocalList"]
        assert outcomes == ["version 1: Full update of 3 id tags", "up to date (version 1)"]
        assert store.local_list("CP_1") is not None and store.local_list("CP_1")[0] == 1  # type: ignore[index]

    run(scenario)


def test_a_change_of_the_file_is_sent_as_a_differential_update() -> None:
    changed = of(IdTag("CARD1", parent="FLEET"), IdTag("CARD2", status="Blocked"), IdTag("NEW"))  # LOST gone

    async def scenario(store: Store) -> None:
        charger = ListCharger()
        async with ListSite(store, charger) as site:
            site.boot()
            await site.updates(1)
            site.change(changed)
            await site.updates(2)
            assert charger.holds(changed)
        [(_, payload)] = [
            (a, p) for a, p in charger.calls if a == "SendLocalList" and p["updateType"] == "Differential"
        ]
        assert payload["listVersion"] == 2
        changes = {entry["idTag"]: entry.get("idTagInfo") for entry in payload["localAuthorizationList"]}
        assert changes == {"CARD2": {"status": "Blocked"}, "NEW": {"status": "Accepted"}, "LOST": None}

    run(scenario)


def test_a_difference_longer_than_one_message_is_a_full_update_in_chunks() -> None:
    many = of(*(IdTag(f"CARD{number:03}") for number in range(7)), IdTag("LOST", status="Blocked"))

    async def scenario(store: Store) -> None:
        charger = ListCharger(send_max=3)
        async with ListSite(store, charger) as site:
            site.boot()
            await site.updates(1)
            assert charger.sent() == [("Full", 1, 3)]
            site.change(many)
            await site.updates(2)
            assert charger.holds(many)
        assert charger.sent()[1:] == [("Full", 2, 3), ("Differential", 3, 3), ("Differential", 4, 2)]
        assert all(count <= 3 for _, _, count in charger.sent())
        full = next(p for a, p in charger.calls if a == "SendLocalList" and p["listVersion"] == 2)
        assert all(entry["idTagInfo"]["status"] == "Accepted" for entry in full["localAuthorizationList"])

    run(scenario)


@pytest.mark.parametrize("refusal", ["VersionMismatch", "Failed"])
def test_a_refused_differential_update_ends_in_a_full_one_and_is_logged(
    refusal: str, caplog: pytest.LogCaptureFixture
) -> None:
    changed = of(IdTag("CARD1"))

    async def scenario(store: Store) -> None:
        charger = ListCharger()
        async with ListSite(store, charger) as site:
            site.boot()
            await site.updates(1)
            charger.refusals = [refusal]
            site.change(changed)
            await site.updates(2)
            assert charger.holds(changed)
        assert charger.sent() == [("Full", 1, 3), ("Differential", 2, 3), ("Full", 3, 1)]

    caplog.set_level(logging.INFO)
    run(scenario)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"CP_1 answered SendLocalList (Differential, version 2) with {refusal}; sending the full list" in warnings


def test_a_refused_full_update_is_logged_and_the_next_one_is_full_again(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(store: Store) -> None:
        charger = ListCharger()
        async with ListSite(store, charger) as site:
            charger.refusals = ["Failed"]
            site.boot()
            await site.updates(1)
            assert store.local_list("CP_1") is None
            site.boot()
            await site.updates(2)
            assert charger.holds(FLEET)
            # A Differential refused, then the Full refused too: what the charger holds is not
            # known any more, so the next update is Full again (never a Differential on a guess).
            charger.refusals = ["VersionMismatch", "Failed"]
            site.change(of(IdTag("CARD1")))
            await site.updates(3)
            site.boot()
            await site.updates(4)
            assert charger.holds(of(IdTag("CARD1")))
        assert charger.sent() == [
            ("Full", 1, 3),
            ("Full", 1, 3),
            ("Differential", 2, 3),
            ("Full", 3, 1),
            ("Full", 2, 1),
        ]

    run(scenario)
    assert any(
        "CP_1 local authorization list: not updated: SendLocalList (Full, version 1) Failed" in r.getMessage()
        and r.levelno == logging.WARNING
        for r in caplog.records
    )


def test_versions_persist_across_restarts_and_a_charger_with_another_version_gets_the_full_list(
    tmp_path: Path,
) -> None:
    database = tmp_path / "gateway.sqlite3"
    charger = ListCharger()

    async def boot_once(store: Store) -> None:
        charger.incoming = asyncio.Queue()  # this run's event loop
        async with ListSite(store, charger) as site:
            site.boot()
            await site.updates(1)

    run(boot_once, database)
    assert charger.sent() == [("Full", 1, 3)]
    run(boot_once, database)  # the connector restarted; the charger kept its list
    assert charger.sent() == [("Full", 1, 3)]
    assert charger.asked() == 2
    charger.list = LocalAuthorizationList()  # the charger reset to its factory state: version 0, empty
    run(boot_once, database)
    assert charger.sent() == [("Full", 1, 3), ("Full", 2, 3)]
    assert charger.holds(FLEET)


def test_a_charger_without_local_lists_is_left_alone_and_an_empty_file_clears_a_list() -> None:
    async def scenario(store: Store) -> None:
        plain = ListCharger(profiles="Core,SmartCharging")
        async with ListSite(store, plain) as site:
            site.boot()
            await site.outcome()
            await asyncio.sleep(0.05)
        assert plain.asked() == 0 and plain.sent() == []
        charger = ListCharger()
        async with ListSite(store, charger) as site:
            site.boot()
            await site.updates(1)
            site.change(of())
            await site.updates(2)
        assert charger.sent() == [("Full", 1, 3), ("Differential", 2, 3)]
        assert charger.list.entries == {}

    run(scenario)


def test_a_list_longer_than_the_charger_holds_keeps_the_accepted_tags(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(store: Store) -> None:
        charger = ListCharger(list_max=2)
        async with ListSite(store, charger) as site:
            site.boot()
            await site.updates(1)
        assert sorted(entry["idTag"] for entry in charger.list.entries.values()) == ["CARD1", "CARD2"]

    run(scenario)
    assert any("holds at most 2 id tags" in r.getMessage() for r in caplog.records)


def test_changes_during_an_update_make_one_more_with_the_newest_file() -> None:
    second, third = of(IdTag("A")), of(IdTag("B"))

    async def scenario(store: Store) -> None:
        charger = ListCharger()
        charger.silent = {"SendLocalList"}  # the first update waits for its answer (call timeout 1 s)
        async with ListSite(store, charger) as site:
            site.boot()
            await charger.sending.wait()
            charger.silent = set()
            site.change(second)
            site.change(third)
            await site.updates(2)
            assert charger.holds(third)
        assert charger.asked() == 2  # one more update, not one per change
        assert charger.sent()[1:] == [("Full", 1, 1)]

    run(scenario)


def test_a_disconnect_during_an_update_ends_it_quietly() -> None:
    async def scenario(store: Store) -> None:
        charger = ListCharger()
        charger.silent = {"SendLocalList"}
        async with ListSite(store, charger) as site:
            site.boot()
            await charger.sending.wait()
            site.session.closed.set()
            await site.updates(1)
        assert store.local_list("CP_1") is None

    run(scenario)
