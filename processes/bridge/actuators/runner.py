"""Carrying out actuator writes: one queue per charge point, in order; charge points never
wait for each other. Every write ends in one outcome text for its ``__result`` sensor.

A write: learn what the actuator's spec needs (the rate unit, the active transaction), plan
the calls (``table.plan_calls``), make them one after the other, and read the replies with
the plan's outcome (``table.py`` names both for each actuator).

Deadlines (docs/datapoints.md): a call's ``OCPP_CALL_TIMEOUT`` counts from the moment the
gateway sends it (``Timeout``: sent, not answered). Waiting is bounded apart: a write may wait
at most :attr:`ActuatorRunner.queue_bound` (the call timeout) from the moment it was written
until its first call is sent, in this queue and behind other callers' calls in the gateway;
past it the write ends ``Expired`` and nothing of it is sent."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from common.bus import ErrorCode, Reply
from common.command_client import CommandClient
from common.logs import now_ms
from common.schemas import V16
from processes.bridge.actuators.plan import Context, Need, OcppCall, reply_outcome
from processes.bridge.actuators.table import SPECS, ActuatorKey, plan_calls, plan_of
from processes.bridge.actuators.v16 import RATE_UNIT_KEY, RATE_UNIT_QUERY, configuration_values, rate_unit
from processes.bridge.actuators.values import InvalidValue, transaction_id

log = logging.getLogger(__name__)

Report = Callable[[ActuatorKey, str, dict[str, str]], None]
"""Called with (actuator, outcome text, configuration values learnt)."""

#: Seconds before asking again a charge point that did not tell its rate unit.
RATE_UNIT_RETRY = 300.0
QUEUE_LIMIT = 1000
#: The protocol version the plans are made for (the only one the gateway speaks).
VERSION = V16


class Unanswered(Exception):
    """What a write needs could not be learnt; ``outcome`` says why (NotConnected, ...)."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


class Expired(Exception):
    """The write waited past the queue bound before its first call went out: nothing was sent."""

    def __init__(self, waited: float, where: str) -> None:
        super().__init__(f"waited {waited:.1f} s {where}; not sent")


@dataclass(slots=True)
class Write:
    """One actuator write on its way: what was written, when, and whether a call of it went out."""

    actuator: ActuatorKey
    value: Any
    queued_at: float  # time.monotonic()
    started: bool = False

    def waited(self) -> float:
        return time.monotonic() - self.queued_at


@dataclass(frozen=True, slots=True)
class Done:
    """How a write ended: the ``__result`` text, configuration values learnt, what the log adds."""

    outcome: str
    configuration: dict[str, str] = field(default_factory=dict)
    detail: str = ""


def log_outcome(key: str, done: Done) -> None:
    """InvalidValue at ERROR (DATAPOINTS.md: an error on the log topic), every other outcome
    that is not a success at WARNING."""
    text = f"{done.outcome}: {done.detail}" if done.detail else done.outcome
    if done.outcome.startswith(ErrorCode.INVALID_VALUE.value):
        log.error("%s: %s", key, text)
    elif done.outcome not in {"Accepted", "Unlocked"}:
        log.warning("%s: %s", key, text)


class ActuatorRunner:
    def __init__(self, client: CommandClient, call_timeout: float, voltage: float, phases: int, report: Report) -> None:
        self._client = client
        self._timeout = call_timeout
        #: Seconds a write may wait before its first call is sent (docs/datapoints.md).
        self.queue_bound = call_timeout
        self._voltage = voltage
        self._phases = phases
        self._report_to = report
        self._queues: dict[str, asyncio.Queue[Write]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self.rate_units: dict[str, str] = {}
        self._unit_guessed: dict[str, float] = {}  # cp -> when asking for its rate unit failed
        #: cp -> (phases, voltage) of its charger profile (``learn``).
        self._electrical: dict[str, tuple[int, float]] = {}

    def forget(self, cp: str) -> None:
        """A charge point (re)booted: what was learnt of it may have changed."""
        self.rate_units.pop(cp, None)
        self._unit_guessed.pop(cp, None)
        self._electrical.pop(cp, None)

    def learn(self, cp: str, onboarded: Mapping[str, Any]) -> None:
        """What the gateway's onboarding reported (``Onboarding`` event): the rate unit (the
        charger profile's ``rate_unit``, else W when the charge point takes Power, else A), and
        the phases and voltage of its charger profile (else the settings)."""
        profile = onboarded.get("profile")
        profile = profile if isinstance(profile, dict) else {}
        capabilities = onboarded.get("capabilities")
        units = capabilities.get("rate_units") if isinstance(capabilities, dict) else None
        unit = profile.get("rate_unit")
        if unit not in ("A", "W") and isinstance(units, list) and units:
            unit = "W" if "W" in units else "A" if "A" in units else None
        if unit in ("A", "W"):
            self.rate_units[cp] = str(unit)
        phases, voltage = profile.get("phases"), profile.get("voltage")
        self._electrical[cp] = (
            phases if isinstance(phases, int) and 1 <= phases <= 3 else self._phases,
            float(voltage) if isinstance(voltage, int | float) and voltage > 0 else self._voltage,
        )

    def submit(self, actuator: ActuatorKey, value: Any) -> None:
        queue = self._queues.get(actuator.cp)
        if queue is None:
            queue = self._queues[actuator.cp] = asyncio.Queue(QUEUE_LIMIT)
            self._workers[actuator.cp] = asyncio.create_task(self._work(queue), name=f"actuators-{actuator.cp}")
        try:
            queue.put_nowait(Write(actuator, value, time.monotonic()))
        except asyncio.QueueFull:
            self._report(actuator, Done(f"Rejected: more than {QUEUE_LIMIT} commands waiting for {actuator.cp}"))

    async def close(self) -> None:
        for task in self._workers.values():
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def _work(self, queue: asyncio.Queue[Write]) -> None:
        while True:
            write = await queue.get()
            self._report(write.actuator, await self.carry_out(write))

    def _report(self, actuator: ActuatorKey, done: Done) -> None:
        log_outcome(actuator.key, done)
        self._report_to(actuator, done.outcome, done.configuration)

    async def carry_out(self, write: Write) -> Done:
        """How one write ends; never raises."""
        try:
            self._queue_budget(write, "behind earlier commands in the bridge")
            return await self._execute(write)
        except Expired as expired:
            # Stale: a charge point that does not answer must not apply values long after they were written.
            return Done(ErrorCode.EXPIRED.value, detail=str(expired))
        except InvalidValue as error:
            return Done(f"InvalidValue: {error}")
        except Exception as error:
            log.exception("Actuator %s failed", write.actuator.key)
            return Done(f"InternalError: {error!r}")

    async def execute(self, actuator: ActuatorKey, value: Any) -> tuple[str, dict[str, str]]:
        """One write, as if it had just been written: (outcome, configuration learnt); raises
        InvalidValue."""
        try:
            done = await self._execute(Write(actuator, value, time.monotonic()))
        except Expired:
            return ErrorCode.EXPIRED.value, {}
        return done.outcome, done.configuration

    async def _execute(self, write: Write) -> Done:
        actuator = write.actuator
        plan = plan_of(actuator.kind, VERSION)
        try:
            context = await self._context(write)
        except Unanswered as unanswered:
            return Done(unanswered.outcome)
        calls = plan_calls(actuator, write.value, context, VERSION)
        replies = [await self._call(write, call) for call in calls]
        result = plan.outcome(replies)
        if RATE_UNIT_KEY in result.configuration:
            self.rate_units[actuator.cp] = rate_unit([result.configuration[RATE_UNIT_KEY]])
        return Done(result.text, result.configuration)

    # -- deadlines --------------------------------------------------------------------

    def _queue_budget(self, write: Write, where: str) -> float:
        """Seconds the write may still wait before its first call goes out; Expired when none are left."""
        waited = write.waited()
        if waited >= self.queue_bound:
            raise Expired(waited, where)
        return self.queue_bound - waited

    async def _call(self, write: Write, call: OcppCall) -> Reply:
        """One call through the gateway: the one place that uses the ``call`` command's
        ``queue_timeout``. Until a call of the write went out it is the write's remaining queue
        budget; each later call of a write under way may wait the whole bound (a write is not
        left half done because its first call took long)."""
        queue_timeout = self.queue_bound if write.started else self._queue_budget(write, "before it was sent")
        args = {"cp": write.actuator.cp, "action": call.action, "payload": call.payload}
        reply = await self._client.request("call", args, self._timeout, queue_timeout=queue_timeout)
        if reply.error == ErrorCode.EXPIRED.value and not write.started:
            raise Expired(write.waited(), f"in all, the last {queue_timeout:.1f} s behind other calls in the gateway")
        write.started = True
        return reply

    # -- context ----------------------------------------------------------------------

    async def _context(self, write: Write) -> Context:
        now = now_ms()  # before any question: a limit starts when it was written
        actuator, value = write.actuator, write.value
        needs = SPECS[actuator.kind].needs(value)
        unit = await self._rate_unit(write) if Need.RATE_UNIT in needs else "W"
        transaction = await self._active_transaction(actuator, value) if Need.ACTIVE_TRANSACTION in needs else None
        phases, voltage = self._electrical.get(actuator.cp, (self._phases, self._voltage))
        return Context(now, voltage, phases, unit, transaction, actuator.cp)

    async def _rate_unit(self, write: Write) -> str:
        """W, or A when the charge point's ChargingScheduleAllowedChargingRateUnit has no Power."""
        cp = write.actuator.cp
        if cp not in self.rate_units:
            if time.monotonic() - self._unit_guessed.get(cp, -RATE_UNIT_RETRY) < RATE_UNIT_RETRY:
                return "W"
            reply = await self._call(write, RATE_UNIT_QUERY)
            if reply.error in {ErrorCode.TIMEOUT.value, ErrorCode.NOT_CONNECTED.value}:
                # The charge point does not answer: a limit sent after the timeout would arrive long
                # after it was written. The write ends with that outcome; BEMCom may write again.
                raise Unanswered(reply_outcome(reply))
            if not reply.ok:  # not learnt: W, and the SetChargingProfile that follows reports any problem
                self._unit_guessed[cp] = time.monotonic()
                return "W"
            self.rate_units[cp] = rate_unit(configuration_values(reply))
        return self.rate_units[cp]

    async def _active_transaction(self, actuator: ActuatorKey, value: Any) -> int | None:
        """The transaction the value names when the gateway confirms it is an active one of the
        charge point, else the connector's active transaction (None when there is none)."""
        args: dict[str, Any] = {"cp": actuator.cp, "connector": actuator.connector or 0}
        named = transaction_id(value)
        if named is not None:
            args["transaction"] = named
        reply = await self._client.request("active_transaction", args)
        if not reply.ok:
            raise Unanswered(reply_outcome(reply))
        transaction: int | None = reply.result
        return transaction
