"""Local authorization lists (``OCPP_LOCAL_LIST``, docs/authorization.md): every charge point that
keeps one holds the id tags file, so it lets the fleet charge (and refuses blocked cards) while the
connector is away.

Which: charge points whose SupportedFeatureProfiles (learnt by onboarding, ``session.capabilities``)
name ``LocalAuthListManagement``. When: after each onboarding pass (an ``Onboarding`` follow-up, so
after every boot) and, for every connected one, when the file changes. One update at a time per
charge point; a change during one brings one more after it. Its calls go the onboarding's way
(``Onboarding.caller``: paced across charge points, behind every other call to the charge point).
What is sent: the version's (``v16/local_list.py``); the versions each charge point accepted are
in the gateway's database (``store.py``). Each update's outcome is logged and published
(``LocalList`` event: ``{cp}__local_list``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from common.bus import LOCAL_LIST, ErrorCode
from processes.gateway.authorization import local_list
from processes.gateway.command_server import CommandError
from processes.gateway.id_tags import IdTags
from processes.gateway.onboarding import Caller, OnboardedSession

log = logging.getLogger(__name__)

#: The feature profile of charge points that keep a local list (OCPP 1.6 section 3.5.2).
FEATURE_PROFILE: Final = "LocalAuthListManagement"

Entries = Mapping[str, dict[str, Any]]
"""AuthorizationData (camelCase, as sent) by tag key (``authorization.local_list``)."""


class ListMemory(Protocol):
    """The list each charge point last accepted from us (``store.py``)."""

    def local_list(self, charge_point: str) -> tuple[int, str] | None: ...
    def remember_local_list(self, charge_point: str, version: int, entries: str) -> None: ...
    def forget_local_list(self, charge_point: str) -> None: ...


SyncFunction = Callable[[Caller, Entries, Mapping[str, Any], ListMemory], Awaitable[str]]
"""One OCPP version's update (``v16/local_list.py`` ``keep_local_list``): what was done."""


@dataclass(slots=True)
class _State:
    dirty: bool = False
    running: bool = False


def keeps_local_list(capabilities: Mapping[str, Any]) -> bool:
    profiles = capabilities.get("feature_profiles")
    return isinstance(profiles, list) and FEATURE_PROFILE in profiles


class LocalLists:
    """Keeps the charge points' lists equal to ``tags`` (replaced by :meth:`changed`)."""

    def __init__(
        self,
        tags: IdTags,
        memory: ListMemory,
        caller_of: Callable[[OnboardedSession], Caller],
        syncs: Mapping[str, SyncFunction],
    ) -> None:
        self._wanted = local_list(tags)
        self._memory = memory
        self._caller_of = caller_of
        self._syncs = syncs
        self._states: weakref.WeakKeyDictionary[OnboardedSession, _State] = weakref.WeakKeyDictionary()
        self._tasks: set[asyncio.Task[None]] = set()
        #: Updates finished (any outcome), for tests and the benchmark.
        self.finished = 0

    async def after_onboarding(self, session: OnboardedSession, outcome: str, capabilities: dict[str, Any]) -> None:
        """The ``Onboarding`` follow-up: the list checked (and updated) after every pass."""
        await self._keep(session)

    def changed(self, tags: IdTags, sessions: Iterable[OnboardedSession]) -> None:
        """The file changed: every connected charge point that keeps a list gets the new one."""
        self._wanted = local_list(tags)
        for session in sessions:
            if self._supported(session):
                task = asyncio.create_task(self._keep(session), name=f"local-list-{session.id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _supported(self, session: OnboardedSession) -> bool:
        return session.subprotocol in self._syncs and keeps_local_list(session.capabilities)

    async def _keep(self, session: OnboardedSession) -> None:
        if not self._supported(session):
            return
        state = self._states.setdefault(session, _State())
        state.dirty = True
        if state.running:
            return  # the update under way makes one more
        state.running = True
        try:
            while state.dirty and not session.closed.is_set():
                state.dirty = False
                await self._update(session)
        finally:
            state.running = False

    async def _update(self, session: OnboardedSession) -> None:
        sync = self._syncs[session.subprotocol]
        try:
            done = await sync(self._caller_of(session), self._wanted, session.capabilities, self._memory)
        except CommandError as error:
            if error.code == ErrorCode.NOT_CONNECTED:
                log.info("%s disconnected during its local list update; it is updated when it is back", session.id)
            else:
                log.warning("%s local authorization list not updated: %s", session.id, error.reason)
            return
        finally:
            self.finished += 1
        level = logging.WARNING if done.startswith("not updated") else logging.INFO
        log.log(level, "%s local authorization list: %s", session.id, done)
        session.emit(LOCAL_LIST, {"status": done})
