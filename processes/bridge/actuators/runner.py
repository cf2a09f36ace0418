"""Carrying out actuator writes: one queue per charge point, in order; charge points never
wait for each other. Every write ends in one outcome text for its ``__result`` sensor.

A write: learn what the actuator's spec needs (the rate unit, the active transaction), plan
the calls (``table.plan_calls``), make them one after the other, and read the replies with
the plan's outcome (``table.py`` names both for each actuator)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from common.bus import Reply
from common.command_client import CommandClient
from common.logs import now_ms
from common.schemas import V16
from processes.bridge.actuators.plan import Context, Need, OcppCall, reply_outcome
from processes.bridge.actuators.table import SPECS, ActuatorKey, plan_calls, plan_of
from processes.bridge.actuators.v16 import RATE_UNIT_KEY, RATE_UNIT_QUERY, configuration_values, rate_unit
from processes.bridge.actuators.values import InvalidValue

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


class ActuatorRunner:
    def __init__(self, client: CommandClient, call_timeout: float, voltage: float, phases: int, report: Report) -> None:
        self._client = client
        self._timeout = call_timeout
        self._voltage = voltage
        self._phases = phases
        self._report_to = report
        self._queues: dict[str, asyncio.Queue[tuple[ActuatorKey, Any, float]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self.rate_units: dict[str, str] = {}
        self._unit_guessed: dict[str, float] = {}  # cp -> when asking for its rate unit failed

    def forget(self, cp: str) -> None:
        """A charge point (re)booted: what was learnt of it may have changed."""
        self.rate_units.pop(cp, None)
        self._unit_guessed.pop(cp, None)

    def submit(self, actuator: ActuatorKey, value: Any) -> None:
        queue = self._queues.get(actuator.cp)
        if queue is None:
            queue = self._queues[actuator.cp] = asyncio.Queue(QUEUE_LIMIT)
            self._workers[actuator.cp] = asyncio.create_task(self._work(queue), name=f"actuators-{actuator.cp}")
        try:
            queue.put_nowait((actuator, value, time.monotonic()))
        except asyncio.QueueFull:
            self._report(actuator, f"Rejected: more than {QUEUE_LIMIT} commands waiting for {actuator.cp}")

    async def close(self) -> None:
        for task in self._workers.values():
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def _work(self, queue: asyncio.Queue[tuple[ActuatorKey, Any, float]]) -> None:
        while True:
            actuator, value, queued_at = await queue.get()
            waited = time.monotonic() - queued_at
            if waited > self._timeout:
                # Stale: a charge point that does not answer must not apply values hours late.
                log.warning("%s: waited %.0f s behind earlier commands; not sent", actuator.key, waited)
                self._report(actuator, "Timeout")
                continue
            try:
                outcome, configuration = await self.execute(actuator, value)
            except InvalidValue as error:
                outcome, configuration = f"InvalidValue: {error}", {}
            except Exception as error:
                log.exception("Actuator %s failed", actuator.key)
                outcome, configuration = f"InternalError: {error!r}", {}
            self._report(actuator, outcome, configuration)

    def _report(self, actuator: ActuatorKey, outcome: str, configuration: dict[str, str] | None = None) -> None:
        if outcome not in {"Accepted", "Unlocked"}:
            log.warning("%s: %s", actuator.key, outcome)
        self._report_to(actuator, outcome, configuration or {})

    async def _call(self, cp: str, call: OcppCall) -> Reply:
        return await self._client.request(
            "call", {"cp": cp, "action": call.action, "payload": call.payload}, self._timeout
        )

    async def execute(self, actuator: ActuatorKey, value: Any) -> tuple[str, dict[str, str]]:
        plan = plan_of(actuator.kind, VERSION)
        try:
            context = await self._context(actuator, value)
        except Unanswered as unanswered:
            return unanswered.outcome, {}
        calls = plan_calls(actuator, value, context, VERSION)
        replies = [await self._call(actuator.cp, call) for call in calls]
        result = plan.outcome(replies)
        if RATE_UNIT_KEY in result.configuration:
            self.rate_units[actuator.cp] = rate_unit([result.configuration[RATE_UNIT_KEY]])
        return result.text, result.configuration

    # -- context ----------------------------------------------------------------------

    async def _context(self, actuator: ActuatorKey, value: Any) -> Context:
        now = now_ms()  # before any question: a limit starts when it was written
        needs = SPECS[actuator.kind].needs(value)
        unit = await self._rate_unit(actuator.cp) if Need.RATE_UNIT in needs else "W"
        transaction = await self._active_transaction(actuator) if Need.ACTIVE_TRANSACTION in needs else None
        return Context(now, self._voltage, self._phases, unit, transaction, actuator.cp)

    async def _rate_unit(self, cp: str) -> str:
        """W, or A when the charge point's ChargingScheduleAllowedChargingRateUnit has no Power."""
        if cp not in self.rate_units:
            if time.monotonic() - self._unit_guessed.get(cp, -RATE_UNIT_RETRY) < RATE_UNIT_RETRY:
                return "W"
            reply = await self._call(cp, RATE_UNIT_QUERY)
            if not reply.ok:  # not learnt: W, and the SetChargingProfile that follows reports any problem
                self._unit_guessed[cp] = time.monotonic()
                return "W"
            self.rate_units[cp] = rate_unit(configuration_values(reply))
        return self.rate_units[cp]

    async def _active_transaction(self, actuator: ActuatorKey) -> int | None:
        connector = actuator.connector or 0
        reply = await self._client.request("active_transaction", {"cp": actuator.cp, "connector": connector})
        if not reply.ok:
            raise Unanswered(reply_outcome(reply))
        transaction: int | None = reply.result
        return transaction
