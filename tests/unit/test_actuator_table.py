"""Unit tests of the actuator table (processes.bridge.actuators.table) and of the runner's
write steps against a scripted command client: no sockets."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from common.bus import ErrorCode, Reply
from common.command_client import CommandClient
from common.schemas import V16
from common.settings import parse_ocpp_config
from processes.bridge.actuators.plan import Context, Need, OcppCall
from processes.bridge.actuators.runner import ActuatorRunner
from processes.bridge.actuators.table import (
    ACTUATOR_KINDS,
    CHARGE_POINT,
    CHARGE_POINT_ACTUATORS,
    CONNECTOR,
    CONNECTOR_ACTUATORS,
    SPECS,
    ActuatorKey,
    actuator_keys,
    parse_actuator_key,
    plan_calls,
)
from processes.bridge.actuators.v16 import RATE_UNIT_KEY, RATE_UNIT_QUERY, rate_unit
from processes.bridge.settings import load_bridge_settings

NOW = 1_790_000_000_000
#: Everything a spec may need, so that every example plans.
FULL_CONTEXT = Context(now_ms=NOW, rate_unit="W", active_transaction=7, cp="CP_1")


def actuator(kind: str, connector: int = 1, cp: str = "CP_1") -> ActuatorKey:
    if SPECS[kind].level is CHARGE_POINT:
        return ActuatorKey(cp, None, kind, f"{cp}__{kind}")
    return ActuatorKey(cp, connector, kind, f"{cp}__{connector}__{kind}")


# --------------------------------------------------------------------------- the table


def test_the_table_names_every_kind_of_the_contract_at_its_level_in_order() -> None:
    assert tuple(SPECS) == ACTUATOR_KINDS
    assert tuple(name for name, spec in SPECS.items() if spec.level is CONNECTOR) == CONNECTOR_ACTUATORS
    assert tuple(name for name, spec in SPECS.items() if spec.level is CHARGE_POINT) == CHARGE_POINT_ACTUATORS
    assert all(spec.name == name for name, spec in SPECS.items())


@pytest.mark.parametrize("kind", list(SPECS))
def test_every_kind_has_a_plan_for_ocpp_16(kind: str) -> None:
    assert V16 in SPECS[kind].plans


@pytest.mark.parametrize(
    ("kind", "connector"),
    # Unlock needs a connector above 0, whatever the value.
    [(kind, c) for kind in SPECS for c in (0, 2) if (kind, c) != ("execute_unlock_connector", 0)],
)
def test_every_example_plans_without_invalid_value(kind: str, connector: int) -> None:
    calls = plan_calls(actuator(kind, connector), SPECS[kind].example, FULL_CONTEXT)
    assert calls
    assert all(isinstance(call, OcppCall) for call in calls)


def test_needs_follow_the_value() -> None:
    profile = SPECS["execute_send_charging_profile"].needs
    # A limit is fitted to the charge point (its facts) in its rate unit; a removal needs its
    # facts only (the running transactions' TxProfiles are cleared too).
    assert profile(11000) == {Need.RATE_UNIT, Need.FACTS}
    assert profile(None) == profile("") == {Need.FACTS}
    stop = SPECS["execute_remote_stop_transaction"].needs
    # Every remote stop asks the gateway; a whole number only names a candidate it confirms.
    assert stop(True) == stop("abc") == stop(1.5) == stop(42) == stop("42") == {Need.ACTIVE_TRANSACTION}
    assert SPECS["execute_reset"].needs("Soft") == frozenset()


def test_ocpp_config_names_are_the_table_names() -> None:
    assert load_bridge_settings({}).actuator_kinds == frozenset(SPECS)
    assert parse_ocpp_config(",".join(SPECS), ACTUATOR_KINDS) == frozenset(SPECS)
    assert parse_ocpp_config('{"execute_reset": {}}', ACTUATOR_KINDS) == {"execute_reset"}


def test_the_announcement_offers_exactly_the_table_kinds_at_their_level() -> None:
    keys = actuator_keys("CP.1", {1, 2}, ACTUATOR_KINDS)
    offered: dict[str, set[int | None]] = {}
    for key, example in keys.items():
        parsed = parse_actuator_key(key)
        assert parsed is not None
        assert parsed.cp == "CP.1"
        assert example == SPECS[parsed.kind].example
        offered.setdefault(parsed.kind, set()).add(parsed.connector)
    assert set(offered) == set(SPECS)
    for kind, connectors in offered.items():
        assert connectors == ({0, 1, 2} if SPECS[kind].level is CONNECTOR else {None})


def test_rate_unit_is_read_one_way() -> None:
    assert rate_unit([]) == "W"
    assert rate_unit(["Current,Power"]) == rate_unit(["Power"]) == "W"
    assert rate_unit(["Current"]) == rate_unit([""]) == "A"


# --------------------------------------------------------------------------- the runner's steps


class ScriptedClient:
    """Answers commands from a script (command or action -> replies), recording each request."""

    def __init__(self, **replies: list[Reply]) -> None:
        self.replies = replies
        #: The gateway's charge_point answer when the script gives none: nothing known.
        self.facts = Reply("facts", True, {"capabilities": {}, "profile": {}, "transactions": []})
        self.requests: list[tuple[str, dict[str, Any]]] = []
        #: The queue_timeout of each request (None when it had none).
        self.queue_timeouts: list[float | None] = []

    async def request(
        self, command: str, args: dict[str, Any] | None = None, *_: Any, queue_timeout: float | None = None
    ) -> Reply:
        args = args or {}
        self.requests.append((command, args))
        self.queue_timeouts.append(queue_timeout)
        name = args["action"] if command == "call" else command
        if name == "charge_point" and name not in self.replies:
            return self.facts
        return self.replies[name].pop(0)

    def calls(self) -> list[OcppCall]:
        return [OcppCall(args["action"], args["payload"]) for command, args in self.requests if command == "call"]


def ok(status: str | None = "Accepted", payload: dict[str, Any] | None = None, result: Any = None) -> Reply:
    return Reply("1", True, result if result is not None else {"status": status, "payload": payload or {}})


Done = tuple[str, dict[str, str], ActuatorRunner]


def run(client: ScriptedClient, kind: str, value: Any, connector: int = 1) -> Done:
    runner = ActuatorRunner(cast(CommandClient, client), 30.0, 230.0, 3, lambda *_: None)
    runner.protocol_changed("CP_1", "ocpp1.6")  # as the bridge tells it when CP_1 connects
    outcome, configuration = asyncio.run(runner.execute(actuator(kind, connector), value))
    return outcome, configuration, runner


def test_remote_stop_of_the_active_transaction() -> None:
    client = ScriptedClient(active_transaction=[Reply("1", True, 42)], RemoteStopTransaction=[ok()])
    outcome, _, _ = run(client, "execute_remote_stop_transaction", True, connector=2)
    assert outcome == "Accepted"
    assert client.requests[0] == ("active_transaction", {"cp": "CP_1", "connector": 2})
    assert client.calls() == [OcppCall("RemoteStopTransaction", {"transactionId": 42})]


@pytest.mark.parametrize("value", [17, "17", 17.0, " 17 "])
def test_remote_stop_of_a_named_transaction_the_gateway_confirms(value: Any) -> None:
    client = ScriptedClient(active_transaction=[Reply("1", True, 17)], RemoteStopTransaction=[ok("Rejected")])
    assert run(client, "execute_remote_stop_transaction", value)[0] == "Rejected"
    assert client.requests[0] == ("active_transaction", {"cp": "CP_1", "connector": 1, "transaction": 17})
    assert client.calls() == [OcppCall("RemoteStopTransaction", {"transactionId": 17})]


@pytest.mark.parametrize("value", [1, "1", 0])
def test_a_button_value_that_is_no_active_transaction_stops_the_active_one(value: Any) -> None:
    # The gateway answers the connector's active transaction when the number is none of the charge point's.
    client = ScriptedClient(active_transaction=[Reply("1", True, 42)], RemoteStopTransaction=[ok()])
    assert run(client, "execute_remote_stop_transaction", value)[0] == "Accepted"
    assert client.requests[0][1]["transaction"] == int(value)
    assert client.calls() == [OcppCall("RemoteStopTransaction", {"transactionId": 42})]


@pytest.mark.parametrize("value", [True, False, None, "stop", 1.5, "", [1], {"id": 1}, 1e30, "1e400"])
def test_values_that_are_no_transaction_id_ask_for_the_active_one_only(value: Any) -> None:
    client = ScriptedClient(active_transaction=[Reply("1", True, 42)], RemoteStopTransaction=[ok()])
    assert run(client, "execute_remote_stop_transaction", value)[0] == "Accepted"
    assert client.requests[0] == ("active_transaction", {"cp": "CP_1", "connector": 1})
    assert client.calls() == [OcppCall("RemoteStopTransaction", {"transactionId": 42})]


def test_remote_stop_without_an_answer_or_a_transaction() -> None:
    down = ScriptedClient(active_transaction=[Reply.failure("1", ErrorCode.NOT_CONNECTED, "CP_1 is not connected")])
    assert run(down, "execute_remote_stop_transaction", True)[0] == "NotConnected"
    assert down.calls() == []
    idle = ScriptedClient(active_transaction=[Reply("1", True, None)])
    with pytest.raises(ValueError, match="no active transaction on connector 1 of CP_1"):
        run(idle, "execute_remote_stop_transaction", True)


def test_a_limit_asks_the_rate_unit_once_and_a_removal_not_at_all() -> None:
    unit = ok(None, {"configurationKey": [{"key": RATE_UNIT_KEY, "readonly": True, "value": "Current"}]})
    client = ScriptedClient(GetConfiguration=[unit], SetChargingProfile=[ok()])
    outcome, _, runner = run(client, "execute_send_charging_profile", 11000)
    assert outcome == "Accepted"
    first, limit = client.calls()
    assert first == RATE_UNIT_QUERY
    assert limit.payload["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"] == "A"
    assert runner.rate_units == {"CP_1": "A"}
    removal = ScriptedClient(ClearChargingProfile=[ok()])
    assert run(removal, "execute_send_charging_profile", None)[0] == "Accepted"
    assert [call.action for call in removal.calls()] == ["ClearChargingProfile"]


def test_get_configuration_learns_values_and_the_rate_unit() -> None:
    items = [{"key": RATE_UNIT_KEY, "readonly": True, "value": "Power"}, {"key": "HeartbeatInterval", "value": "300"}]
    client = ScriptedClient(GetConfiguration=[ok(None, {"configurationKey": items})])
    outcome, configuration, runner = run(client, "execute_get_configuration", None)
    assert outcome == "Accepted"
    assert configuration == {RATE_UNIT_KEY: "Power", "HeartbeatInterval": "300"}
    assert runner.rate_units == {"CP_1": "W"}


def test_clear_charging_profile_is_accepted_when_either_profile_was_cleared() -> None:
    client = ScriptedClient(ClearChargingProfile=[ok("Unknown"), ok("Accepted")])
    assert run(client, "execute_clear_charging_profile", True)[0] == "Accepted"
    neither = ScriptedClient(ClearChargingProfile=[ok("Unknown"), ok("Unknown")])
    assert run(neither, "execute_clear_charging_profile", True)[0] == "Unknown"


def test_an_ocpp_call_reports_its_result_payload_as_json() -> None:
    client = ScriptedClient(GetLocalListVersion=[ok(None, {"listVersion": 3})])
    value = {"action": "GetLocalListVersion", "payload": {}}
    assert run(client, "execute_ocpp_call", value)[0] == '{"listVersion":3}'
    failed = ScriptedClient(ClearCache=[Reply.failure("1", ErrorCode.TIMEOUT, "no answer")])
    assert run(failed, "execute_ocpp_call", {"action": "ClearCache"})[0] == "Timeout"
