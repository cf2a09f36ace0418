"""What a plan is made of, for every protocol version: the context it is made in, the OCPP
calls it makes, and how the gateway's replies to them become the outcome of the write."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from common.bus import ErrorCode, Reply
from common.schemas import V16


@dataclass(frozen=True, slots=True)
class OcppCall:
    action: str
    payload: dict[str, Any]
    #: What the outcome should add when the call succeeds (e.g. a schedule cut to fit the charger).
    note: str = ""
    #: Made only to make room for the calls after it (a clear before a set): its answer is not
    #: part of the outcome.
    preparatory: bool = False


class Need(Enum):
    """What the runner learns before planning, when an actuator needs it for a value."""

    #: The charge point's charging rate unit (W or A), asked once and remembered.
    RATE_UNIT = "rate unit"
    #: The id of the connector's active transaction, asked from the gateway.
    ACTIVE_TRANSACTION = "active transaction"
    #: What a limit is fitted to (:class:`Facts`), asked from the gateway.
    FACTS = "facts"


@dataclass(frozen=True, slots=True)
class Facts:
    """What a power limit is fitted to: what onboarding learnt of the charge point and its
    charger profile (the gateway's ``charge_point`` command; defaults where nothing is known)."""

    #: ChargeProfileMaxStackLevel (the profile's ``max_stack_level`` wins); None: not known.
    max_stack_level: int | None = None
    #: A per phase: a limit below ``min_current`` pauses (0); ``max_current`` is "no limit".
    min_current: float = 0.0
    max_current: float = 32.0  # runner.DEFAULT_MAX_CURRENT
    #: ChargingScheduleMaxPeriods; None: not known.
    max_periods: int | None = None
    #: Absolute, or Relative for chargers that need it (charger profile).
    profile_kind: str = "Absolute"
    #: (connector, transaction id) of every active transaction, the newest per connector (OCPP
    #: 2.0.1: the EVSE and the transaction's id string).
    transactions: tuple[tuple[int, int | str], ...] = ()
    #: The last limit written (W) per connector of the charge point (for a remote start).
    limits: tuple[tuple[int, float], ...] = ()
    #: With a failsafe (OCPP_FAILSAFE_POWER) on a charge point with two stack levels or more,
    #: BEMCom's profiles are leases valid until then (ms), renewed while BEMCom is in reach.
    lease_until_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """What the bridge learnt before planning: the time, the charge point's electrical facts,
    and what the actuator's :class:`Need` asked for (defaults where it asked for nothing)."""

    now_ms: int
    voltage: float = 230.0
    phases: int = 3
    rate_unit: str = "W"
    #: OCPP 1.6: an int; 2.0.1: the transaction id string.
    active_transaction: int | str | None = None
    cp: str = ""
    facts: Facts = field(default_factory=Facts)
    #: The charge point's protocol version (``common.schemas.V16``, ``V201``).
    version: str = V16


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome text for the ``__result`` sensor, the configuration values learnt, and other
    sensor values of the actuator's connector (``effective_limit__W``: key suffix -> value)."""

    text: str
    configuration: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


Calls = Callable[[int, Any, Context], list[OcppCall]]
"""(connector id, 0 for the charge point; value; context) -> the calls, or InvalidValue."""
Outcome = Callable[[Sequence[Reply]], Result]
"""The replies to the calls, in order -> the result."""


def reply_outcome(reply: Reply) -> str:
    if reply.ok:
        status = reply.result.get("status") if isinstance(reply.result, dict) else None
        return str(status) if status is not None else "Accepted"
    if reply.error == ErrorCode.CALL_ERROR.value:
        return reply.reason.split(":", 1)[0]  # the charge point's CallError code
    if reply.error == ErrorCode.INVALID_VALUE.value:
        return f"InvalidValue: {reply.reason}"
    return str(reply.error)


def first_reply(replies: Sequence[Reply]) -> Result:
    """The usual outcome: the status of the (first) call."""
    return Result(reply_outcome(replies[0]))


def result_json(replies: Sequence[Reply]) -> Result:
    """The call's result payload as compact JSON text (or the status when it failed)."""
    reply = replies[0]
    if reply.ok:
        return Result(json.dumps(reply.result.get("payload", {}), separators=(",", ":")))
    return Result(reply_outcome(reply))


def all_accepted(replies: Sequence[Reply]) -> Result:
    """Accepted when every call was; else the first other outcome (a limit is in force as
    written only when the TxDefaultProfile and the running transaction's TxProfile both are)."""
    for reply in replies:
        outcome = reply_outcome(reply)
        if outcome != "Accepted":
            return Result(outcome)
    return Result("Accepted")


def cleared(replies: Sequence[Reply]) -> Result:
    """Accepted when any profile was cleared (a connector rarely has all)."""
    accepted = [reply for reply in replies if reply_outcome(reply) == "Accepted"]
    return Result(reply_outcome(accepted[0] if accepted else replies[0]))


@dataclass(frozen=True, slots=True)
class LimitQuestions:
    """How one protocol version asks a charge point about limits, beside the actuator plans: its
    rate unit (when nothing else tells), and the limit in force (the read-back)."""

    #: The call that asks the rate unit, and the unit (W or A) of its answer.
    rate_unit_query: OcppCall
    rate_unit_of: Callable[[Reply], str]
    #: A configuration value learnt that tells the rate unit: its key, and the unit of its value.
    rate_unit_key: str
    rate_unit_of_value: Callable[[str], str]
    #: The read-back call for a connector, and ``{"effective_limit__W": W or None}`` of its answer.
    read_back: Callable[[int], OcppCall]
    effective_limit: Callable[[Reply, Context], dict[str, Any]]
    #: The action whose answers carry a composite schedule.
    composite_action: str


@dataclass(frozen=True, slots=True)
class Plan:
    """How one protocol version carries out one actuator."""

    calls: Calls
    outcome: Outcome = first_reply
