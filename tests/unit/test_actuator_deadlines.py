"""Unit tests of the runner's deadlines and outcome logging (processes.bridge.actuators.runner)
against a scripted command client: no sockets.

A write may wait at most the queue bound (the call timeout) from the moment it was written until
its first call is sent; past it the outcome is ``Expired`` and nothing is sent. ``Timeout`` stays
"sent, not answered". InvalidValue outcomes are logged at ERROR, other failures at WARNING."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

import pytest

from common.bus import ErrorCode, Reply
from common.command_client import CommandClient
from processes.bridge.actuators.runner import ActuatorRunner, Done, Write, log_outcome
from processes.bridge.actuators.table import ActuatorKey
from processes.bridge.actuators.v16 import RATE_UNIT_QUERY

CALL_TIMEOUT = 30.0
RUNNER_LOG = "processes.bridge.actuators.runner"


class ScriptedClient:
    """Answers commands from a script (command or action -> replies), recording each request
    with its call timeout and queue timeout."""

    def __init__(self, **replies: list[Reply]) -> None:
        self.replies = replies
        #: The gateway's charge_point answer when the script gives none: nothing known.
        self.facts = Reply("facts", True, {"capabilities": {}, "profile": {}, "transactions": []})
        self.requests: list[tuple[str, dict[str, Any], float | None, float | None]] = []

    async def request(
        self,
        command: str,
        args: dict[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the client's signature
        queue_timeout: float | None = None,
    ) -> Reply:
        args = args or {}
        self.requests.append((command, args, timeout, queue_timeout))
        if command == "charge_point" and command not in self.replies:
            return self.facts
        return self.replies[args["action"] if command == "call" else command].pop(0)

    def actions(self) -> list[str]:
        return [args["action"] for command, args, _, _ in self.requests if command == "call"]


def accepted() -> Reply:
    return Reply("1", True, {"status": "Accepted", "payload": {"status": "Accepted"}})


def failure(code: ErrorCode) -> Reply:
    return Reply.failure("1", code, f"{code.value} in the gateway")


def key(kind: str, connector: int | None = 1) -> ActuatorKey:
    name = f"CP_1__{connector}__{kind}" if connector is not None else f"CP_1__{kind}"
    return ActuatorKey("CP_1", connector, kind, name)


UNLOCK = key("execute_unlock_connector")
CLEAR = key("execute_clear_charging_profile")
LIMIT = key("execute_send_charging_profile")
RESET = key("execute_reset", None)


def runner_for(client: ScriptedClient) -> ActuatorRunner:
    runner = ActuatorRunner(cast(CommandClient, client), CALL_TIMEOUT, 230.0, 3, lambda *_: None)
    runner.protocol_changed("CP_1", "ocpp1.6")  # as the bridge tells it when CP_1 connects
    return runner


def carry_out(client: ScriptedClient, actuator: ActuatorKey, value: Any, waited: float = 0.0) -> Done:
    write = Write(actuator, value, time.monotonic() - waited)
    return asyncio.run(runner_for(client).carry_out(write))


def test_the_queue_bound_is_the_call_timeout() -> None:
    assert runner_for(ScriptedClient()).queue_bound == CALL_TIMEOUT


def test_a_write_that_waited_past_the_bound_in_the_bridge_expires_unsent() -> None:
    client = ScriptedClient()
    done = carry_out(client, UNLOCK, True, waited=CALL_TIMEOUT + 1)
    assert done.outcome == "Expired"
    assert done.detail.startswith("waited 31.0 s behind earlier commands in the bridge; not sent")
    assert client.requests == []


def test_the_first_call_gets_the_remaining_queue_budget_and_the_whole_call_timeout() -> None:
    client = ScriptedClient(UnlockConnector=[Reply("1", True, {"status": "Unlocked"})])
    assert carry_out(client, UNLOCK, True, waited=10.0) == Done("Unlocked")
    [(command, args, timeout, queue_timeout)] = client.requests
    assert (command, args["action"], timeout) == ("call", "UnlockConnector", CALL_TIMEOUT)
    assert queue_timeout is not None and 19.0 < queue_timeout <= 20.0


def test_a_call_the_gateway_did_not_send_in_time_expires_the_write() -> None:
    client = ScriptedClient(ClearChargingProfile=[failure(ErrorCode.EXPIRED)])
    done = carry_out(client, CLEAR, True, waited=5.0)
    assert done.outcome == "Expired"
    assert "behind other calls in the gateway; not sent" in done.detail
    assert client.actions() == ["ClearChargingProfile"]  # the write's second call is not made


def test_later_calls_of_a_write_under_way_may_wait_the_whole_bound() -> None:
    client = ScriptedClient(ClearChargingProfile=[accepted(), accepted()])
    assert carry_out(client, CLEAR, True, waited=29.0).outcome == "Accepted"
    first, second = (queue_timeout for command, *_, queue_timeout in client.requests if command == "call")
    assert first is not None and first <= 1.0
    assert second == CALL_TIMEOUT


def test_sent_and_not_answered_stays_timeout() -> None:
    client = ScriptedClient(UnlockConnector=[failure(ErrorCode.TIMEOUT)])
    assert carry_out(client, UNLOCK, True).outcome == "Timeout"


def test_an_expired_rate_unit_question_expires_the_limit_unsent() -> None:
    client = ScriptedClient(GetConfiguration=[failure(ErrorCode.EXPIRED)])
    assert carry_out(client, LIMIT, 11000).outcome == "Expired"
    assert client.actions() == [RATE_UNIT_QUERY.action]


@pytest.mark.parametrize("code", [ErrorCode.TIMEOUT, ErrorCode.NOT_CONNECTED])
def test_a_charge_point_that_does_not_answer_the_rate_unit_question_gets_no_late_limit(code: ErrorCode) -> None:
    """The rate-unit question timed out (or the charge point went away): the limit is not sent
    a call timeout after it was written; the write ends with that outcome."""
    client = ScriptedClient(GetConfiguration=[failure(code)])
    assert carry_out(client, LIMIT, 11000).outcome == code.value
    assert client.actions() == [RATE_UNIT_QUERY.action]


def test_a_rate_unit_question_refused_otherwise_still_sends_the_limit_in_watts() -> None:
    client = ScriptedClient(GetConfiguration=[failure(ErrorCode.CALL_ERROR)], SetChargingProfile=[accepted()])
    assert carry_out(client, LIMIT, 11000).outcome == "Accepted"
    assert client.actions() == [RATE_UNIT_QUERY.action, "SetChargingProfile"]


def test_the_time_spent_learning_the_context_counts_against_the_budget() -> None:
    class SlowGateway(ScriptedClient):
        async def request(self, command: str, *args: Any, **kwargs: Any) -> Reply:
            if command == "active_transaction":
                await asyncio.sleep(0.1)
            return await super().request(command, *args, **kwargs)

    client = SlowGateway(active_transaction=[Reply("1", True, 42)])
    runner = runner_for(client)
    runner.queue_bound = 0.05
    write = Write(key("execute_remote_stop_transaction"), True, time.monotonic())
    done = asyncio.run(runner.carry_out(write))
    assert done.outcome == "Expired"
    assert "before it was sent; not sent" in done.detail
    assert client.actions() == []


# --------------------------------------------------------------------------- logging


@pytest.mark.parametrize(
    ("done", "level"),
    [
        (Done("InvalidValue: reset must be Soft or Hard"), logging.ERROR),
        (Done("InvalidValue: several active transactions (1 on connector 1, 2 on connector 2)"), logging.ERROR),
        (Done("Expired", detail="waited 31.0 s behind earlier commands in the bridge; not sent"), logging.WARNING),
        (Done("Timeout"), logging.WARNING),
        (Done("Rejected"), logging.WARNING),
        (Done("NotConnected"), logging.WARNING),
        (Done("InternalError: boom"), logging.WARNING),
    ],
)
def test_outcomes_are_logged_at_their_level(done: Done, level: int, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, RUNNER_LOG):
        log_outcome("CP_1__execute_reset", done)
    [record] = caplog.records
    assert record.levelno == level
    assert record.getMessage().startswith(f"CP_1__execute_reset: {done.outcome}")
    assert done.detail in record.getMessage()


@pytest.mark.parametrize("outcome", ["Accepted", "Unlocked"])
def test_successes_are_not_logged(outcome: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, RUNNER_LOG):
        log_outcome("CP_1__1__execute_unlock_connector", Done(outcome))
    assert caplog.records == []


def test_written_values_end_in_outcomes_logged_at_their_level(caplog: pytest.LogCaptureFixture) -> None:
    """Through the queue: every InvalidValue (the plan's refusal, the gateway's) at ERROR."""
    client = ScriptedClient(
        active_transaction=[Reply("1", True, None), failure(ErrorCode.INVALID_VALUE)],
        Reset=[accepted()],
    )
    reports: list[tuple[str, str]] = []

    async def scenario() -> None:
        all_reported = asyncio.Event()

        def report(actuator: ActuatorKey, outcome: str, _: dict[str, str]) -> None:
            reports.append((actuator.key, outcome))
            if len(reports) == 4:
                all_reported.set()

        runner = ActuatorRunner(cast(CommandClient, client), 0.2, 230.0, 3, report)
        stop = key("execute_remote_stop_transaction")
        runner.submit(RESET, "Sideways")  # refused by the plan
        runner.submit(stop, True)  # no active transaction: refused by the plan
        runner.submit(stop, True)  # the gateway's InvalidValue (several transactions)
        runner.submit(RESET, "Soft")
        await asyncio.wait_for(all_reported.wait(), 5)
        await runner.close()

    with caplog.at_level(logging.INFO, RUNNER_LOG):
        asyncio.run(scenario())
    outcomes = [outcome for _, outcome in reports]
    assert outcomes[0] == 'InvalidValue: reset must be Soft or Hard, got "Sideways"'
    assert outcomes[1] == "InvalidValue: no active transaction on connector 1 of CP_1"
    assert outcomes[2] == "InvalidValue: InvalidValue in the gateway"
    assert outcomes[3] == "Accepted"
    assert [record.levelno for record in caplog.records] == [logging.ERROR] * 3
