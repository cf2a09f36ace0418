"""Carrying out actuator writes: one queue per charge point, in order; charge points never
wait for each other. Every write ends in one outcome text for its ``__result`` sensor.

A write: learn what the actuator's spec needs (the rate unit, the active transaction), plan
the calls (``table.plan_calls``), make them one after the other, and read the replies with
the plan's outcome (``table.py`` names both for each actuator).

The plans are those of the charge point's protocol version (OCPP 1.6 or 2.0.1), learnt from the
gateway's ``charge_point`` answer (its ``protocol``; an older gateway without it speaks 1.6) and
kept per charge point: asked once, told anew by the bridge when the charge point connects
(:meth:`ActuatorRunner.protocol_changed`), and with every write that asks the facts anyway.

Deadlines (docs/datapoints.md): a call's ``OCPP_CALL_TIMEOUT`` counts from the moment the
gateway sends it (``Timeout``: sent, not answered). Waiting is bounded apart: a write may wait
at most :attr:`ActuatorRunner.queue_bound` (the call timeout) from the moment it was written
until its first call is sent, in this queue and behind other callers' calls in the gateway;
past it the write ends ``Expired`` and nothing of it is sent."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from common.bus import ErrorCode, Reply
from common.command_client import CommandClient
from common.logs import now_ms
from common.schemas import V16, V201
from processes.bridge.actuators.facts import LastLimits, as_object, charger_facts, phases_of_rotation
from processes.bridge.actuators.plan import Context, Facts, Need, OcppCall, reply_outcome
from processes.bridge.actuators.table import LIMIT_KINDS, LIMIT_QUESTIONS, SPECS, ActuatorKey, plan_calls, plan_of
from processes.bridge.actuators.values import (
    InvalidValue,
    as_number,
    removes_limit,
    transaction_id,
    transaction_reference,
)

log = logging.getLogger(__name__)

Report = Callable[[ActuatorKey, str, dict[str, str]], None]
"""Called with (actuator, outcome text, configuration values learnt)."""


class LimitObserver(Protocol):
    """Told what the runner learns of the limits in force (the bridge: sensors, ``limit_obeyed``)."""

    def limit_accepted(self, cp: str, connector: int, watts: float | None) -> None: ...
    def limit_read_back(self, cp: str, connector: int, values: dict[str, Any]) -> None: ...


#: Seconds before asking again a charge point that did not tell its rate unit.
RATE_UNIT_RETRY = 300.0
QUEUE_LIMIT = 1000
#: Read-backs after boots, all charge points together (each is a call to a charge point).
READ_BACKS_PER_SECOND = 100
#: The websocket subprotocols -> the protocol versions the plans are made for ("" or absent: an
#: older gateway, OCPP 1.6).
PROTOCOLS = {"ocpp1.6": V16, "ocpp2.0.1": V201, "": V16}


def version_of(protocol: Any) -> str | None:
    """The protocol version of a subprotocol (None absent: 1.6); None when the bridge has no plans for it."""
    return PROTOCOLS.get("" if protocol is None else str(protocol))


def outcome_replies(calls: list[OcppCall], replies: list[Reply]) -> list[Reply]:
    """The replies a plan's outcome reads: those of its calls that are not merely preparatory."""
    return [reply for call, reply in zip(calls, replies, strict=True) if not call.preparatory]


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
    #: Whether the rate unit was known (reported or set), not guessed as W.
    unit_known: bool = True
    #: No ``__result`` of its own and no read-back: a read-back after a boot, a lease renewed.
    silent: bool = False

    def waited(self) -> float:
        return time.monotonic() - self.queued_at


@dataclass(frozen=True, slots=True)
class Done:
    """How a write ended: the ``__result`` text, configuration values learnt, what the log adds,
    other sensor values of its connector, and the context to read its limit back in."""

    outcome: str
    configuration: dict[str, str] = field(default_factory=dict)
    detail: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    read_back: Context | None = None


def log_outcome(key: str, done: Done) -> None:
    """InvalidValue at ERROR (DATAPOINTS.md: an error on the log topic), every other outcome
    that is not a success at WARNING."""
    text = f"{done.outcome}: {done.detail}" if done.detail else done.outcome
    if done.outcome.startswith(ErrorCode.INVALID_VALUE.value):
        log.error("%s: %s", key, text)
    elif done.outcome not in {"Accepted", "Unlocked"}:
        log.warning("%s: %s", key, text)


class ActuatorRunner:
    def __init__(
        self,
        client: CommandClient,
        call_timeout: float,
        voltage: float,
        phases: int,
        report: Report,
        observer: LimitObserver | None = None,
        lease_seconds: float | None = None,
        state_path: Path | None = None,
    ) -> None:
        self._client = client
        self._observer = observer
        #: With a failsafe: how long BEMCom's profiles hold without renewal (``Facts.lease_until_ms``).
        self.lease_seconds = lease_seconds
        #: The last limits written (set, schedule, charge point maximum), restored after the
        #: failsafe and renewed as leases; kept in ``state_path`` across restarts.
        self._last = LastLimits(state_path)
        self._timeout = call_timeout
        #: Seconds a write may wait before its first call is sent (docs/datapoints.md).
        self.queue_bound = call_timeout
        self._voltage = voltage
        self._phases = phases
        self._report_to = report
        self._queues: dict[str, asyncio.Queue[Write]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        #: cp -> its rate unit: asked (GetConfiguration), or learnt when W was refused and A taken.
        self.rate_units: dict[str, str] = {}
        self._unit_guessed: dict[str, float] = {}  # cp -> when asking for its rate unit failed
        self._read_backs: asyncio.Queue[tuple[str, list[int]]] | None = None
        self._read_backs_task: asyncio.Task[None] | None = None
        #: cp -> connector -> the last limit (W) it accepted; for a remote start's profile.
        self._limits: dict[str, dict[int, float]] = {}
        #: cp -> its protocol version (``V16``, ``V201``): the plans its writes get.
        self.versions: dict[str, str] = {}

    def forget(self, cp: str) -> None:
        """A charge point (re)booted: what was learnt of it may have changed. (Its protocol
        version stays: a boot does not change the connection's; a new connection is told by
        :meth:`protocol_changed`.)"""
        self.rate_units.pop(cp, None)
        self._unit_guessed.pop(cp, None)

    def protocol_changed(self, cp: str, protocol: Any) -> None:
        """The charge point connected with this subprotocol (the ``Connected`` event's
        ``protocol``; absent: 1.6): its next writes are planned for that version. One the bridge
        has no plans for is asked again at the next write."""
        version = version_of(protocol)
        if version != self.versions.get(cp):
            self.forget(cp)  # what was learnt of it (its rate unit) was learnt in the other version
        if version is None:
            self.versions.pop(cp, None)
        else:
            self.versions[cp] = version

    def read_back_after_boot(self, cp: str, connectors: Iterable[int]) -> None:
        """After a (re)boot: what limit each connector has in force (``effective_limit__W``), at
        most READ_BACKS_PER_SECOND across charge points (after a restart all of them boot)."""
        if self._read_backs is None:
            self._read_backs = asyncio.Queue()
            self._read_backs_task = asyncio.create_task(self._pace_read_backs(self._read_backs), name="read-backs")
        self._read_backs.put_nowait((cp, sorted({0, *connectors})))

    async def _pace_read_backs(self, queue: asyncio.Queue[tuple[str, list[int]]]) -> None:
        kind = "execute_get_composite_schedule"
        while True:
            cp, connectors = await queue.get()
            for connector in connectors:
                key = f"{cp}__{connector}__{kind}"
                self._enqueue(Write(ActuatorKey(cp, connector, kind, key), None, time.monotonic(), silent=True))
                await asyncio.sleep(1 / READ_BACKS_PER_SECOND)

    def submit(self, actuator: ActuatorKey, value: Any) -> None:
        self._enqueue(Write(actuator, value, time.monotonic()))

    def _enqueue(self, write: Write) -> None:
        actuator = write.actuator
        queue = self._queues.get(actuator.cp)
        if queue is None:
            queue = self._queues[actuator.cp] = asyncio.Queue(QUEUE_LIMIT)
            self._workers[actuator.cp] = asyncio.create_task(self._work(queue), name=f"actuators-{actuator.cp}")
        try:
            queue.put_nowait(write)
        except asyncio.QueueFull:
            if not write.silent:
                self._report(actuator, Done(f"Rejected: more than {QUEUE_LIMIT} commands waiting for {actuator.cp}"))

    async def close(self) -> None:
        tasks = [*self._workers.values(), *([self._read_backs_task] if self._read_backs_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self, queue: asyncio.Queue[Write]) -> None:
        while True:
            write = await queue.get()
            done = await self.carry_out(write)
            actuator = write.actuator
            if not write.silent:
                self._report(actuator, done)
            elif done.values and self._observer is not None:
                self._observer.limit_read_back(actuator.cp, actuator.connector or 0, done.values)
            if done.read_back is not None:  # after the outcome is out: what is in force now
                await self._read_back(write, done.read_back)

    def _report(self, actuator: ActuatorKey, done: Done) -> None:
        log_outcome(actuator.key, done)
        self._report_to(actuator, done.outcome, done.configuration)
        if done.values and self._observer is not None:
            self._observer.limit_read_back(actuator.cp, actuator.connector or 0, done.values)

    async def _read_back(self, write: Write, context: Context) -> None:
        """GetCompositeSchedule of the connector a limit was accepted on (0 for the charge point's
        maximum); a charge point that cannot tell (NotSupported, ...) simply has no read-back."""
        connector = write.actuator.connector or 0
        questions = LIMIT_QUESTIONS[context.version]
        try:
            reply = await self._call(write, questions.read_back(connector))
        except Expired:
            return
        values = questions.effective_limit(reply, replace(context, now_ms=now_ms()))
        if values and self._observer is not None:
            self._observer.limit_read_back(write.actuator.cp, connector, values)

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
        try:
            context = await self._context(write)
        except Unanswered as unanswered:
            return Done(unanswered.outcome)
        version = context.version
        plan, questions = plan_of(actuator.kind, version), LIMIT_QUESTIONS[version]
        calls = plan_calls(actuator, write.value, context, version)
        replies = [await self._call(write, call) for call in calls]
        result = plan.outcome(outcome_replies(calls, replies))
        if result.text == "Rejected" and not write.unit_known and context.rate_unit == "W":
            # The rate unit was not known: W was refused, so once more in A, remembered if taken.
            context = replace(context, rate_unit="A")
            calls = plan_calls(actuator, write.value, context, version)
            replies = [await self._call(write, call) for call in calls]
            result = plan.outcome(outcome_replies(calls, replies))
            if result.text == "Accepted":
                self.rate_units[actuator.cp] = "A"
        if questions.rate_unit_key in result.configuration:
            self.rate_units[actuator.cp] = questions.rate_unit_of_value(result.configuration[questions.rate_unit_key])
        values = dict(result.values)
        for call, reply in zip(calls, replies, strict=True):
            if call.action == questions.composite_action:
                values.update(questions.effective_limit(reply, context))
        text = result.text
        notes = [call.note for call in calls if call.note]
        if text == "Accepted" and notes:
            text = f"Accepted ({'; '.join(notes)})"
        read_back_in = None
        if actuator.kind in LIMIT_KINDS and result.text in ("Accepted", "Unknown") and not write.silent:
            self._accepted(actuator, write.value)
            self._last.written(actuator, write.value)
            read_back_in = context
        return Done(text, result.configuration, values=values, read_back=read_back_in)

    # -- the last limits: restored, renewed ---------------------------------------------

    def restore(self, cp: str) -> None:
        """BEMCom's last limits for the charge point again (after the failsafe), each with its ``__result``."""
        for actuator, value in self._last.of(cp):
            self.submit(actuator, value)

    async def renew_leases(self, in_reach: Callable[[], bool]) -> None:
        """Every fifth of a lease, BEMCom's limits again, silently, so they never run out while
        BEMCom is ``in_reach`` (the bridge: connected to the broker); only with leases."""
        lease = self.lease_seconds
        if lease is None:
            raise RuntimeError("renew_leases runs only with leases (OCPP_FAILSAFE_POWER)")
        while True:
            await asyncio.sleep(lease / 5)
            if not in_reach():
                continue
            for cp in self._last.charge_points():
                if cp not in self._queues or self._queues[cp].empty():
                    for actuator, value in self._last.of(cp):
                        self._enqueue(Write(actuator, value, time.monotonic(), silent=True))

    def _accepted(self, actuator: ActuatorKey, value: Any) -> None:
        """Remember the limit in force on the connector (a remote start carries it) and tell the observer."""
        if actuator.kind not in ("execute_send_charging_profile", "execute_clear_charging_profile"):
            return
        connector = actuator.connector or 0
        limits = self._limits.setdefault(actuator.cp, {})
        watts: float | None = None
        if actuator.kind == "execute_send_charging_profile" and not removes_limit(value):
            watts = as_number(value, "the power limit")
            limits[connector] = watts
        else:
            limits.pop(connector, None)
        if self._observer is not None:
            self._observer.limit_accepted(actuator.cp, connector, watts)

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
        facts, unit, phases, voltage = Facts(), None, self._phases, self._voltage
        if Need.FACTS in needs:
            facts, unit, phases, voltage = await self._facts(write)
            version = self.versions[actuator.cp]
        else:
            version = await self._version(actuator.cp)
        if unit is None:
            unit = await self._rate_unit(write, version) if Need.RATE_UNIT in needs else "W"
        transaction = None
        if Need.ACTIVE_TRANSACTION in needs:
            transaction = await self._active_transaction(actuator, value, version)
        return Context(now, voltage, phases, unit, transaction, actuator.cp, facts, version)

    async def _charge_point(self, cp: str) -> dict[str, Any] | None:
        """The gateway's ``charge_point`` answer, its protocol version remembered; None from an
        older gateway without the command (OCPP 1.6 only). Unanswered when it failed."""
        reply = await self._client.request("charge_point", {"cp": cp})
        if not reply.ok:
            if reply.error == ErrorCode.UNKNOWN_COMMAND.value:
                self.versions[cp] = V16
                return None
            raise Unanswered(reply_outcome(reply))
        known: dict[str, Any] = reply.result if isinstance(reply.result, dict) else {}
        protocol = known.get("protocol")
        version = version_of(protocol)
        if version is None:
            raise InvalidValue(f"{cp} speaks {protocol!r}; the bridge has plans for ocpp1.6 and ocpp2.0.1")
        self.versions[cp] = version
        return known

    async def _version(self, cp: str) -> str:
        """The charge point's protocol version: remembered, else asked once."""
        version = self.versions.get(cp)
        if version is None:
            await self._charge_point(cp)
            version = self.versions[cp]
        return version

    async def _facts(self, write: Write) -> tuple[Facts, str | None, int, float]:
        """What the gateway knows of the charge point (``charge_point`` command): (facts, its
        rate unit or None when not known, phases, voltage). An older gateway without the command
        gives the defaults."""
        cp = write.actuator.cp
        known = await self._charge_point(cp)
        if known is None:
            return Facts(), self.rate_units.get(cp), self._phases, self._voltage
        profile: dict[str, Any] = as_object(known.get("profile"))
        capabilities: dict[str, Any] = as_object(known.get("capabilities"))
        transactions = known.get("transactions")
        facts = charger_facts(profile, capabilities, transactions, self._limits.get(cp, {}), self.versions[cp])
        if self.lease_seconds is not None and (facts.max_stack_level is None or facts.max_stack_level >= 1):
            facts = replace(facts, lease_until_ms=now_ms() + int(self.lease_seconds * 1000))
        units = capabilities.get("rate_units")
        unit = profile.get("rate_unit") if profile.get("rate_unit") in ("A", "W") else self.rate_units.get(cp)
        if unit is None and isinstance(units, list) and ("W" in units or "A" in units):
            unit = "W" if "W" in units else "A"
        write.unit_known = unit is not None
        phases = profile.get("phases")
        if not (isinstance(phases, int) and 1 <= phases <= 3):
            phases = phases_of_rotation(capabilities.get("phase_rotation")) or self._phases
        voltage = profile.get("voltage")
        return (
            facts,
            unit,
            phases,
            float(voltage) if isinstance(voltage, int | float) and voltage > 0 else self._voltage,
        )

    async def _rate_unit(self, write: Write, version: str) -> str:
        """W, or A when the charge point's ChargingScheduleAllowedChargingRateUnit has no Power
        (2.0.1: its SmartChargingCtrlr.RateUnit has no W)."""
        cp = write.actuator.cp
        questions = LIMIT_QUESTIONS[version]
        if cp not in self.rate_units:
            if time.monotonic() - self._unit_guessed.get(cp, -RATE_UNIT_RETRY) < RATE_UNIT_RETRY:
                write.unit_known = False
                return "W"
            reply = await self._call(write, questions.rate_unit_query)
            if reply.error in {ErrorCode.TIMEOUT.value, ErrorCode.NOT_CONNECTED.value}:
                # The charge point does not answer: a limit sent after the timeout would arrive long
                # after it was written. The write ends with that outcome; BEMCom may write again.
                raise Unanswered(reply_outcome(reply))
            if not reply.ok:  # not learnt: W, and once more in A if W is refused
                self._unit_guessed[cp] = time.monotonic()
                write.unit_known = False
                return "W"
            self.rate_units[cp] = questions.rate_unit_of(reply)
        return self.rate_units[cp]

    async def _active_transaction(self, actuator: ActuatorKey, value: Any, version: str) -> int | str | None:
        """The transaction the value names when the gateway confirms it is an active one of the
        charge point, else the connector's active transaction (None when there is none). OCPP 1.6
        ids are whole numbers; 2.0.1 ids are strings (a string or a number written names one)."""
        args: dict[str, Any] = {"cp": actuator.cp, "connector": actuator.connector or 0}
        named = transaction_id(value) if version == V16 else transaction_reference(value)
        if named is not None:
            args["transaction"] = named
        reply = await self._client.request("active_transaction", args)
        if not reply.ok:
            raise Unanswered(reply_outcome(reply))
        transaction: int | str | None = reply.result
        return transaction
