"""Carrying out actuator writes: one queue per charge point, in order; charge points never
wait for each other. Every write ends in one outcome text for its ``__result`` sensor."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from common.bus import ErrorCode, Reply
from common.command_client import CommandClient
from common.logs import now_ms
from common.schemas import CENTRAL_SYSTEM_ACTIONS, V16, schema_problem
from processes.bridge.actuators import v16 as act
from processes.bridge.actuators.v16 import ActuatorKey, Context, InvalidValue, OcppCall

log = logging.getLogger(__name__)

Outcome = Callable[[ActuatorKey, str, dict[str, str]], None]
"""Called with (actuator, outcome text, configuration values learnt)."""

RATE_UNIT_KEY = "ChargingScheduleAllowedChargingRateUnit"
#: Seconds before asking again a charge point that did not tell its rate unit.
RATE_UNIT_RETRY = 300.0
QUEUE_LIMIT = 1000


def reply_outcome(reply: Reply) -> str:
    if reply.ok:
        status = reply.result.get("status") if isinstance(reply.result, dict) else None
        return str(status) if status is not None else "Accepted"
    if reply.error == ErrorCode.CALL_ERROR.value:
        return reply.reason.split(":", 1)[0]  # the charge point's CallError code
    if reply.error == ErrorCode.INVALID_VALUE.value:
        return f"InvalidValue: {reply.reason}"
    return str(reply.error)


class ActuatorExecutor:
    def __init__(
        self, client: CommandClient, call_timeout: float, voltage: float, phases: int, outcome: Outcome
    ) -> None:
        self._client = client
        self._timeout = call_timeout
        self._voltage = voltage
        self._phases = phases
        self._outcome = outcome
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
        self._outcome(actuator, outcome, configuration or {})

    async def _call(self, cp: str, call: OcppCall) -> Reply:
        return await self._client.request(
            "call", {"cp": cp, "action": call.action, "payload": call.payload}, self._timeout
        )

    async def _rate_unit(self, cp: str) -> str:
        """W, or A when the charge point's ChargingScheduleAllowedChargingRateUnit has no Power."""
        if cp not in self.rate_units:
            if time.monotonic() - self._unit_guessed.get(cp, -RATE_UNIT_RETRY) < RATE_UNIT_RETRY:
                return "W"
            reply = await self._call(cp, OcppCall("GetConfiguration", {"key": [RATE_UNIT_KEY]}))
            if not reply.ok:  # not learnt: W, and the SetChargingProfile that follows reports any problem
                self._unit_guessed[cp] = time.monotonic()
                return "W"
            values = [item.get("value", "") for item in reply.result.get("payload", {}).get("configurationKey", [])]
            self.rate_units[cp] = "W" if any("Power" in str(text) for text in values) or not values else "A"
        return self.rate_units[cp]

    async def _context(self, actuator: ActuatorKey, value: Any) -> Context:
        context = Context(now_ms=now_ms(), voltage=self._voltage, phases=self._phases)
        if actuator.kind in {"execute_send_charging_profile", "execute_send_charging_schedule"} and value not in (
            None,
            "",
        ):
            context = Context(context.now_ms, self._voltage, self._phases, await self._rate_unit(actuator.cp))
        return context

    def plan(self, actuator: ActuatorKey, value: Any, context: Context) -> list[OcppCall]:
        """The calls for a value, each valid by the OCPP 1.6 schema; or InvalidValue."""
        calls = self._plan(actuator, value, context)
        for call in calls:
            if actuator.kind == "execute_ocpp_call" and call.action not in CENTRAL_SYSTEM_ACTIONS[V16]:
                raise InvalidValue(f"{call.action!r} is not a call a central system sends in OCPP 1.6")
            problem = schema_problem(call.action, call.payload)
            if problem is not None:
                raise InvalidValue(f"{call.action} payload fails the OCPP 1.6 schema: {problem}")
        return calls

    def _plan(self, actuator: ActuatorKey, value: Any, context: Context) -> list[OcppCall]:
        kind, c = actuator.kind, actuator.connector or 0
        if kind == "execute_send_charging_profile":
            return act.plan_charging_profile(c, value, context)
        if kind == "execute_send_charging_schedule":
            return act.plan_charging_schedule(c, value, context)
        if kind == "execute_trigger_message":
            payload: dict[str, Any] = {"requestedMessage": act.trigger_message(value)}
            return [OcppCall("TriggerMessage", payload | ({"connectorId": c} if c else {}))]
        if kind == "execute_remote_start_transaction":
            if value is None or isinstance(value, bool | dict | list) or not str(value).strip():
                raise InvalidValue("remote start needs an idTag (a string)")
            return [
                OcppCall("RemoteStartTransaction", {"idTag": str(value).strip()} | ({"connectorId": c} if c else {}))
            ]
        if kind == "execute_unlock_connector":
            if c == 0:
                raise InvalidValue("unlock needs a connector id above 0")
            return [OcppCall("UnlockConnector", {"connectorId": c})]
        if kind == "execute_change_availability":
            return [OcppCall("ChangeAvailability", {"connectorId": c, "type": act.availability(value)})]
        if kind == "execute_clear_charging_profile":
            return [act.clear_profile(act.LIMIT_PROFILE_BASE + c), act.clear_profile(act.SCHEDULE_PROFILE_BASE + c)]
        if kind == "execute_reset":
            text = str(value).strip().capitalize()
            if text not in {"Soft", "Hard"}:
                raise InvalidValue(f"reset must be Soft or Hard, got {json.dumps(value)[:60]}")
            return [OcppCall("Reset", {"type": text})]
        if kind == "execute_change_configuration":
            return [OcppCall("ChangeConfiguration", act.configuration_change(value))]
        if kind == "execute_get_configuration":
            return [OcppCall("GetConfiguration", act.configuration_keys(value))]
        if kind == "execute_data_transfer":
            return [OcppCall("DataTransfer", data_transfer(value))]
        if kind == "execute_ocpp_call":
            return [generic_call(value)]
        raise InvalidValue(f"unknown actuator {kind}")

    async def execute(self, actuator: ActuatorKey, value: Any) -> tuple[str, dict[str, str]]:
        if actuator.kind == "execute_remote_stop_transaction":
            return await self._remote_stop(actuator, value), {}
        calls = self.plan(actuator, value, await self._context(actuator, value))
        replies = [await self._call(actuator.cp, call) for call in calls]
        if actuator.kind == "execute_clear_charging_profile":
            accepted = [reply for reply in replies if reply_outcome(reply) == "Accepted"]
            return reply_outcome(accepted[0] if accepted else replies[0]), {}
        reply = replies[0]
        if actuator.kind == "execute_get_configuration" and reply.ok:
            items = reply.result.get("payload", {}).get("configurationKey", [])
            learnt = {
                str(item["key"]): str(item.get("value", ""))
                for item in items
                if isinstance(item, dict) and "key" in item
            }
            if RATE_UNIT_KEY in learnt:
                self.rate_units[actuator.cp] = "W" if "Power" in learnt[RATE_UNIT_KEY] else "A"
            return "Accepted", learnt
        if actuator.kind == "execute_ocpp_call" and reply.ok:
            return json.dumps(reply.result.get("payload", {}), separators=(",", ":")), {}
        return reply_outcome(reply), {}

    async def _remote_stop(self, actuator: ActuatorKey, value: Any) -> str:
        transaction_id: Any = None
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            try:
                number = act.as_number(value, "transaction id")
                transaction_id = int(number) if number.is_integer() else None
            except InvalidValue:
                transaction_id = None
        if transaction_id is None:
            reply = await self._client.request(
                "active_transaction", {"cp": actuator.cp, "connector": actuator.connector or 0}
            )
            if not reply.ok:
                return reply_outcome(reply)
            transaction_id = reply.result
            if transaction_id is None:
                raise InvalidValue(f"no active transaction on connector {actuator.connector or 0} of {actuator.cp}")
        return reply_outcome(
            await self._call(actuator.cp, OcppCall("RemoteStopTransaction", {"transactionId": transaction_id}))
        )


def data_transfer(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("vendor_id"), str) or not value["vendor_id"]:
        raise InvalidValue('data transfer needs {"vendor_id": ..., "message_id": ..., "data": ...}')
    payload: dict[str, Any] = {"vendorId": value["vendor_id"]}
    if value.get("message_id") is not None:
        payload["messageId"] = str(value["message_id"])
    if value.get("data") is not None:
        data = value["data"]
        payload["data"] = data if isinstance(data, str) else json.dumps(data)
    return payload


def generic_call(value: Any) -> OcppCall:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidValue('an OCPP call must be {"action": ..., "payload": {...}}') from None
    if not isinstance(value, dict) or not isinstance(value.get("action"), str):
        raise InvalidValue('an OCPP call must be {"action": ..., "payload": {...}}')
    payload = value.get("payload", {})
    if not isinstance(payload, dict):
        raise InvalidValue("the payload of an OCPP call must be an object")
    return OcppCall(value["action"], payload)
