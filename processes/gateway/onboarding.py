"""Onboarding: one configuration pass per charge point after each boot (DESIGN.md, "Second round").

When it runs: after the answer to every BootNotification; and, for a charge point that connects
without one (many do not boot again after a reconnect), ``OCPP_BOOT_WAIT`` seconds after it
connected: first a TriggerMessage(BootNotification), then, if still no boot came, the pass anyway.

What it does is the version's (``v16/onboarding.py``: GetConfiguration of every key, the
capabilities learnt from it, then only what differs from the wanted meter sampling is changed).
What it may not do: delay an answer to a charge point (its calls are made after the answer and
through the session like any call), get in the way of BEMCom's commands (each of its calls lets
every other call to that charge point go first: ``OcppSession.send_call(background=True)``), or
flood the site after a restart (its calls are paced across all charge points, and only so many
passes run at once).

Outcome: the ``Onboarding`` event (``{cp}__onboarding``: ``done``, ``partial: ...``, ``off``,
``failed: ...``, with the capabilities learnt and the charger profile in force) and a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from common.bus import ONBOARDED, ErrorCode
from common.settings import OnboardingSettings
from processes.gateway.charger_profiles import ChargerProfile, ChargerProfiles
from processes.gateway.command_server import CommandError

log = logging.getLogger(__name__)

#: Seconds the event loop may be late for a slot before onboarding backs off.
LATE = 0.05

DONE = "done"
OFF = "off"


class OnboardedSession(Protocol):
    """What onboarding needs of a session (``processes/gateway/session.py``)."""

    id: str
    boot: dict[str, Any]
    boots: int
    closed: asyncio.Event
    capabilities: dict[str, Any]
    charger_profile: dict[str, Any]

    @property
    def subprotocol(self) -> str: ...
    def identity(self) -> tuple[str | None, str | None, str | None]: ...
    def emit(self, kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> None: ...
    async def send_call(
        self,
        action: str,
        payload: dict[str, Any],
        timeout: float,  # noqa: ASYNC109
        queue_timeout: float | None = None,
        *,
        background: bool = False,
    ) -> dict[str, Any]: ...


class Profiles(Protocol):
    """The charger profile of a charge point (``charger_profiles.py``, with the environment's defaults)."""

    def resolve(self, cp_id: str, vendor: str | None, model: str | None, firmware: str | None) -> ChargerProfile: ...


class Memory(Protocol):
    """What a pass set on a charge point before (``store.py``): so a charge point that refused
    part of what was wanted is not asked again after every boot."""

    def configured(self, cp: str, key: str) -> tuple[str, str] | None: ...
    def remember_configured(self, cp: str, key: str, wanted: str, achieved: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Wanted:
    """The configuration a pass sets (0: leave the charge point's own)."""

    measurands: tuple[str, ...]
    meter_interval: int
    clock_aligned_interval: int


@dataclass(slots=True)
class PassResult:
    """How a version's pass ended: what was refused or failed, and what it learnt."""

    refused: list[str] = field(default_factory=list)
    failed: str | None = None
    reboot_required: list[str] = field(default_factory=list)
    capabilities: dict[str, Any] = field(default_factory=dict)
    #: Connector (EVSE) ids the charge point has, when it told.
    connectors: list[int] = field(default_factory=list)

    def outcome(self) -> str:
        if self.failed is not None:
            return f"failed: {self.failed}"
        if self.refused:
            return "partial: " + "; ".join(self.refused)
        return DONE


class Caller:
    """A pass's calls to its charge point: paced across charge points, behind every other call
    to the charge point, each with the call timeout."""

    def __init__(self, session: OnboardedSession, pacer: CallPacer, timeout: float, memory: Memory) -> None:
        self.session = session
        self.memory = memory
        self._pacer = pacer
        self._timeout = timeout
        self.calls = 0

    @property
    def cp(self) -> str:
        return self.session.id

    @property
    def timeout(self) -> float:
        """Seconds each call may take to be answered (OCPP_CALL_TIMEOUT)."""
        return self._timeout

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The result payload (camelCase), or CommandError (Timeout, NotConnected, CallError ...)."""
        await self._pacer.turn()
        self.calls += 1
        return await self.session.send_call(action, payload, self._timeout, background=True)

    def emit(self, kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> None:
        self.session.emit(kind, payload, ctx)


PassFunction = Callable[[Caller, Wanted], Awaitable[PassResult]]
"""One OCPP version's pass (``v16/onboarding.py`` ``onboard``)."""

FollowUp = Callable[[OnboardedSession, str, dict[str, Any]], Awaitable[None]]
"""Work that follows every pass (any outcome), given the session, the outcome and the capabilities
learnt, e.g. the local authorization list (``local_list.py``); its calls go through :meth:`Onboarding.caller`."""


class CallPacer:
    """Onboarding's calls, all charge points together, at most ``rate`` per second (evenly spaced)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0

    async def turn(self) -> None:
        """Wait for the next slot. When the event loop was late for it (busy answering, or short
        of CPU), the following slots move back as far: onboarding slows down, answers go first."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)
        late = loop.time() - slot
        if late > LATE:
            self._next = max(self._next, loop.time() + late)


@dataclass(slots=True)
class _State:
    """Onboarding's part of one connection."""

    booted: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: asyncio.Task[None] | None = None
    running: asyncio.Task[None] | None = None
    again: bool = False
    profile: ChargerProfile | None = None


class ProfileBook:
    """The charger profiles in force (the operator's file over the shipped table) on top of the
    environment's defaults; ``profiles`` is replaced when the file changes."""

    def __init__(self, settings: OnboardingSettings, profiles: ChargerProfiles) -> None:
        self.base = ChargerProfile(
            onboarding=settings.enabled, measurands=settings.measurands, meter_interval=settings.meter_interval
        )
        self.profiles = profiles

    def resolve(self, cp_id: str, vendor: str | None, model: str | None, firmware: str | None) -> ChargerProfile:
        return self.profiles.resolve(cp_id, vendor, model, firmware, self.base)


def wanted_of(settings: OnboardingSettings, profile: ChargerProfile) -> Wanted:
    return Wanted(
        measurands=profile.measurands if profile.measurands is not None else settings.measurands,
        meter_interval=profile.meter_interval if profile.meter_interval is not None else settings.meter_interval,
        clock_aligned_interval=settings.clock_aligned_interval,
    )


class Onboarding:
    """Runs the passes: told of connections (``connected``/``ended``, by the websocket server)
    and boots (``booted``, by the session after its answer)."""

    def __init__(
        self,
        settings: OnboardingSettings,
        call_timeout: float,
        profiles: Profiles,
        memory: Memory,
        passes: Mapping[str, PassFunction],
    ) -> None:
        self.settings = settings
        self._timeout = call_timeout
        self._profiles = profiles
        self._memory = memory
        self._passes = passes
        self._pacer = CallPacer(settings.calls_per_second)
        #: Passes at once: about as many as the pacer lets make a call each second (a pass makes
        #: a few), so passes finish in the order the charge points booted.
        self._running = asyncio.Semaphore(max(1, round(settings.calls_per_second / 4)))
        self._states: dict[OnboardedSession, _State] = {}
        #: Passes finished (any outcome) and calls made, for the status command and the benchmark.
        self.finished = 0
        self.calls = 0
        #: Run after each pass, in order, in the pass's task (an exception is logged, not raised).
        self.follow_ups: list[FollowUp] = []

    # -- told by the gateway ------------------------------------------------------------

    def connected(self, session: OnboardedSession) -> None:
        state = self._states[session] = _State()
        state.waiting = asyncio.create_task(self._await_boot(session, state), name=f"boot-wait-{session.id}")

    def booted(self, session: OnboardedSession) -> None:
        state = self._states.get(session)
        if state is None:  # the connection ended meanwhile
            return
        state.booted.set()
        self._start(session, state)

    def ended(self, session: OnboardedSession) -> None:
        state = self._states.pop(session, None)
        if state is not None:
            for task in (state.waiting, state.running):
                if task is not None:
                    task.cancel()

    def profiles_changed(self) -> None:
        """The charge points file changed: charge points whose profile changed are onboarded again."""
        for session, state in list(self._states.items()):
            if state.profile is not None and self._profile(session) != state.profile:
                log.info("%s: its charger profile changed; onboarding it again", session.id)
                self._start(session, state)

    async def close(self) -> None:
        tasks = [task for state in self._states.values() for task in (state.waiting, state.running) if task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._states.clear()

    # -- when ---------------------------------------------------------------------------

    async def _await_boot(self, session: OnboardedSession, state: _State) -> None:
        wait = self.settings.boot_wait
        if await _within(state.booted, wait):
            return
        log.info("%s sent no BootNotification within %g s of connecting; asking for one", session.id, wait)
        try:
            await self.caller(session).call("TriggerMessage", {"requestedMessage": "BootNotification"})
        except CommandError as error:
            if error.code == ErrorCode.NOT_CONNECTED:
                return
            log.info("%s: TriggerMessage(BootNotification) %s", session.id, error.reason)
        if await _within(state.booted, wait):
            return
        log.info("%s sent no BootNotification when asked; onboarding it anyway", session.id)
        self._start(session, state)

    def _start(self, session: OnboardedSession, state: _State) -> None:
        if state.running is not None and not state.running.done():
            state.again = True  # once the pass under way has ended
            return
        state.again = False
        state.running = asyncio.create_task(self._run(session, state), name=f"onboarding-{session.id}")

    async def _run(self, session: OnboardedSession, state: _State) -> None:
        async with self._running:
            while True:
                state.again = False
                await self._pass(session, state)
                if not state.again or session.closed.is_set():
                    return

    # -- what -------------------------------------------------------------------------

    def _profile(self, session: OnboardedSession) -> ChargerProfile:
        vendor, model, firmware = session.identity()
        return self._profiles.resolve(session.id, vendor, model, firmware)

    def caller(self, session: OnboardedSession) -> Caller:
        """Calls to the charge point the onboarding way: paced, behind every other call."""
        return Caller(session, self._pacer, self._timeout, self._memory)

    async def _pass(self, session: OnboardedSession, state: _State) -> None:
        profile = state.profile = self._profile(session)
        version_pass = self._passes.get(session.subprotocol)
        if profile.onboarding is False or version_pass is None:
            result = PassResult()
            outcome = OFF
        else:
            caller = self.caller(session)
            try:
                result = await version_pass(caller, wanted_of(self.settings, profile))
            except CommandError as error:
                if error.code == ErrorCode.NOT_CONNECTED:
                    log.info("%s disconnected during onboarding; it is onboarded when it is back", session.id)
                    return
                result = PassResult(failed=error.reason)
            finally:
                self.calls += caller.calls
            outcome = result.outcome()
        self.finished += 1
        session.capabilities = result.capabilities
        session.charger_profile = {k: v for k, v in dataclasses.asdict(profile).items() if v is not None}
        payload = {"status": outcome, "capabilities": result.capabilities, "profile": session.charger_profile}
        ctx = {"connectors": result.connectors} if result.connectors else None
        session.emit(ONBOARDED, payload, ctx)
        if result.reboot_required:
            log.warning(
                "%s: %s take effect after its next reboot (RebootRequired; the connector never reboots a charge point)",
                session.id,
                ", ".join(result.reboot_required),
            )
        level = logging.INFO if outcome in (DONE, OFF) else logging.WARNING
        log.log(level, "%s onboarding: %s", session.id, outcome)
        for follow_up in self.follow_ups:
            try:
                await follow_up(session, outcome, result.capabilities)
            except Exception:
                log.exception("%s: what follows onboarding failed", session.id)


async def _within(event: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


def text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
