"""The actuator table: one :class:`ActuatorSpec` per actuator kind of DATAPOINTS.md.

Everything about actuators reads it: the announcement (:func:`actuator_keys`), key parsing,
planning (:func:`plan_calls`), outcome reporting (``runner.py``) and the settings
(``OCPP_CONFIG`` selects from :data:`ACTUATOR_KINDS`, see ``processes/bridge/settings.py``).
Adding an actuator is one entry here (with its plan functions in ``v16.py`` and ``v201.py``: the
same keys make each protocol version's calls).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from common.schemas import CENTRAL_SYSTEM_ACTIONS, V16, V201, schema_problem
from processes.bridge.actuators import v16, v201
from processes.bridge.actuators.plan import (
    Calls,
    Context,
    LimitQuestions,
    Need,
    OcppCall,
    Outcome,
    Plan,
    all_accepted,
    cleared,
    first_reply,
    result_json,
)
from processes.bridge.actuators.values import InvalidValue

SEPARATOR = "__"
RESULT_SUFFIX = "__result"


class Level(Enum):
    CONNECTOR = "connector"  # {cp}__{c}__{name}, for connector 0 and every connector reported
    CHARGE_POINT = "charge point"  # {cp}__{name}


CONNECTOR = Level.CONNECTOR
CHARGE_POINT = Level.CHARGE_POINT
NOTHING: frozenset[Need] = frozenset()


def no_needs(value: Any) -> frozenset[Need]:
    return NOTHING


def rate_unit_unless_removal(value: Any) -> frozenset[Need]:
    """A limit is planned in the charge point's rate unit, fitted to its facts; null or "" needs
    only the facts (the running transactions' profiles are removed too). (A blank string removes
    the limit too, but has always asked for the rate unit first: kept as it is.)"""
    return FACTS if value is None or value == "" else LIMIT_NEEDS


def facts(value: Any) -> frozenset[Need]:
    return FACTS


FACTS = frozenset({Need.FACTS})
LIMIT_NEEDS = frozenset({Need.RATE_UNIT, Need.FACTS})


def active_transaction(value: Any) -> frozenset[Need]:
    """Every remote stop asks the gateway: a whole number is the transaction to stop only when
    the gateway confirms it is an active one of the charge point (``1`` or ``true`` written as a
    button is not); else the connector's active transaction is stopped."""
    return frozenset({Need.ACTIVE_TRANSACTION})


@dataclass(frozen=True, slots=True)
class ActuatorSpec:
    name: str
    level: Level
    #: Announced as the actuator's example value in ``available_datapoints``; it plans as it is.
    example: Any
    #: Protocol version (``common.schemas.V16``, ...) -> how that version carries it out.
    plans: Mapping[str, Plan]
    #: What the runner must learn before planning this value.
    needs: Callable[[Any], frozenset[Need]] = no_needs


def versions(
    v16_calls: Calls, v201_calls: Calls, outcome: Outcome = first_reply, v201_outcome: Outcome | None = None
) -> Mapping[str, Plan]:
    """An actuator's plan per protocol version: its calls, and how the replies become its outcome
    (the same for both unless 2.0.1's answers differ)."""
    return {V16: Plan(v16_calls, outcome), V201: Plan(v201_calls, v201_outcome or outcome)}


_SPECS = (
    ActuatorSpec(
        "execute_send_charging_profile",
        CONNECTOR,
        example=11000,
        plans=versions(v16.PROFILES.plan_limit, v201.PROFILES.plan_limit, all_accepted),
        needs=rate_unit_unless_removal,
    ),
    ActuatorSpec(
        "execute_send_charging_schedule",
        CONNECTOR,
        example=[{"from_timestamp": None, "to_timestamp": None, "value": 11000}],
        plans=versions(v16.PROFILES.plan_schedule, v201.PROFILES.plan_schedule),
        needs=rate_unit_unless_removal,
    ),
    ActuatorSpec(
        "execute_trigger_message",
        CONNECTOR,
        example=4,
        plans=versions(v16.plan_trigger_message, v201.plan_trigger_message),
    ),
    ActuatorSpec(
        "execute_remote_start_transaction",
        CONNECTOR,
        example="ID_TAG",
        plans=versions(v16.plan_remote_start, v201.plan_remote_start),
        needs=facts,
    ),
    ActuatorSpec(
        "execute_remote_stop_transaction",
        CONNECTOR,
        example=True,
        plans=versions(v16.plan_remote_stop, v201.plan_remote_stop),
        needs=active_transaction,
    ),
    ActuatorSpec(
        "execute_unlock_connector",
        CONNECTOR,
        example=True,
        plans=versions(v16.plan_unlock_connector, v201.plan_unlock_connector),
    ),
    ActuatorSpec(
        "execute_change_availability",
        CONNECTOR,
        example="Operative",
        plans=versions(v16.plan_change_availability, v201.plan_change_availability),
    ),
    ActuatorSpec(
        "execute_clear_charging_profile",
        CONNECTOR,
        example=True,
        plans=versions(v16.PROFILES.plan_clear, v201.PROFILES.plan_clear, cleared),
        needs=facts,
    ),
    ActuatorSpec(
        "execute_get_composite_schedule",
        CONNECTOR,
        example=3600,
        plans=versions(v16.plan_get_composite_schedule, v201.plan_get_composite_schedule, result_json),
        needs=facts,
    ),
    ActuatorSpec(
        "execute_charge_point_max_power",
        CHARGE_POINT,
        example=22000,
        plans=versions(v16.PROFILES.plan_max_power, v201.PROFILES.plan_max_power),
        needs=rate_unit_unless_removal,
    ),
    ActuatorSpec("execute_reset", CHARGE_POINT, example="Soft", plans=versions(v16.plan_reset, v201.plan_reset)),
    ActuatorSpec(
        "execute_change_configuration",
        CHARGE_POINT,
        example={"key": "HeartbeatInterval", "value": "300"},
        plans=versions(v16.plan_change_configuration, v201.plan_change_configuration, v201_outcome=v201.variable_set),
    ),
    ActuatorSpec(
        "execute_get_configuration",
        CHARGE_POINT,
        example=None,
        plans=versions(
            v16.plan_get_configuration, v201.plan_get_configuration, v16.configuration_learnt, v201.configuration_learnt
        ),
    ),
    ActuatorSpec(
        "execute_data_transfer",
        CHARGE_POINT,
        example={"vendor_id": "vendor", "message_id": "message", "data": "text"},
        plans=versions(v16.plan_data_transfer, v201.plan_data_transfer),
    ),
    ActuatorSpec(
        "execute_ocpp_call",
        CHARGE_POINT,
        example={"action": "ClearCache", "payload": {}},
        plans=versions(v16.plan_ocpp_call, v201.plan_ocpp_call, result_json),
    ),
)
#: Per protocol version: how the runner asks about limits besides the plans. (A 2.0.1 station
#: usually tells its rate units with its facts, ``capabilities.rate_units``; else it is asked.)
LIMIT_QUESTIONS: Mapping[str, LimitQuestions] = {
    V16: LimitQuestions(
        rate_unit_query=v16.RATE_UNIT_QUERY,
        rate_unit_of=lambda reply: v16.rate_unit(v16.configuration_values(reply)),
        rate_unit_key=v16.RATE_UNIT_KEY,
        rate_unit_of_value=lambda value: v16.rate_unit([value]),
        read_back=v16.read_back,
        effective_limit=v16.effective_limit,
        composite_action="GetCompositeSchedule",
    ),
    V201: LimitQuestions(
        rate_unit_query=v201.RATE_UNIT_QUERY,
        rate_unit_of=v201.rate_unit_of,
        rate_unit_key=v201.RATE_UNIT_KEY,
        rate_unit_of_value=lambda value: v201.rate_unit([value]),
        read_back=v201.read_back,
        effective_limit=v201.effective_limit,
        composite_action="GetCompositeSchedule",
    ),
}

#: Every actuator kind, by name, in the table's order.
SPECS: Mapping[str, ActuatorSpec] = {spec.name: spec for spec in _SPECS}
CONNECTOR_SPECS = tuple(spec for spec in _SPECS if spec.level is CONNECTOR)
CHARGE_POINT_SPECS = tuple(spec for spec in _SPECS if spec.level is CHARGE_POINT)


#: Actuators that set or remove a power limit: accepted, they are read back (GetCompositeSchedule).
LIMIT_KINDS = frozenset(
    {
        "execute_send_charging_profile",
        "execute_send_charging_schedule",
        "execute_clear_charging_profile",
        "execute_charge_point_max_power",
    }
)

#: The names, all of them and by level (DATAPOINTS.md's two tables).
ACTUATOR_KINDS = tuple(SPECS)
CONNECTOR_ACTUATORS = tuple(spec.name for spec in CONNECTOR_SPECS)
CHARGE_POINT_ACTUATORS = tuple(spec.name for spec in CHARGE_POINT_SPECS)
if len(SPECS) != len(_SPECS):
    raise RuntimeError("two entries of the actuator table have the same name")


@dataclass(frozen=True, slots=True)
class ActuatorKey:
    cp: str
    connector: int | None  # None for charge-point-level actuators
    kind: str
    key: str


def actuator_keys(cp: str, connectors: Iterable[int], kinds: Iterable[str]) -> dict[str, Any]:
    """Actuator keys of one charge point with their example values: connector-level ones for
    connector 0 and every connector it reported, charge-point-level ones once."""
    selected = set(kinds)
    keys: dict[str, Any] = {}
    for connector in sorted({0, *connectors}):
        for spec in CONNECTOR_SPECS:
            if spec.name in selected:
                keys[SEPARATOR.join((cp, str(connector), spec.name))] = spec.example
    for spec in CHARGE_POINT_SPECS:
        if spec.name in selected:
            keys[SEPARATOR.join((cp, spec.name))] = spec.example
    return keys


def parse_actuator_key(key: str) -> ActuatorKey | None:
    head, _, kind = key.rpartition(SEPARATOR)
    spec = SPECS.get(kind)
    if spec is None:
        return None
    if spec.level is CHARGE_POINT:
        return ActuatorKey(head, None, kind, key) if head else None
    cp, _, connector = head.rpartition(SEPARATOR)
    if cp and connector.isdigit():
        return ActuatorKey(cp, int(connector), kind, key)
    return None


def plan_of(kind: str, version: str = V16) -> Plan:
    spec = SPECS.get(kind)
    if spec is None:
        raise InvalidValue(f"unknown actuator {kind}")
    return spec.plans[version]


def plan_calls(actuator: ActuatorKey, value: Any, context: Context, version: str = V16) -> list[OcppCall]:
    """The calls for a value, each one a central system sends and valid by the version's
    schema; or InvalidValue."""
    calls = plan_of(actuator.kind, version).calls(actuator.connector or 0, value, context)
    for call in calls:
        if call.action not in CENTRAL_SYSTEM_ACTIONS[version]:
            raise InvalidValue(f"{call.action!r} is not a call a central system sends in OCPP {version}")
        problem = schema_problem(call.action, call.payload, version)
        if problem is not None:
            raise InvalidValue(f"{call.action} payload fails the OCPP {version} schema: {problem}")
    return calls
