"""Calls from the central system to a charge point, built from plain OCPP-J payloads
(camelCase dicts, as on the wire) and checked against the OCPP 1.6 schema before sending."""

from __future__ import annotations

from typing import Any

from ocpp.charge_point import camel_to_snake_case
from ocpp.v16 import call

from common.bus import ErrorCode
from common.schemas import CENTRAL_SYSTEM_ACTIONS, V16, schema_problem
from processes.gateway.command_server import CommandError


def build_call(action: str, payload: dict[str, Any]) -> Any:
    """The ocpp payload object of a call, or CommandError(InvalidValue) saying what is wrong."""
    if action not in CENTRAL_SYSTEM_ACTIONS[V16]:
        raise CommandError(ErrorCode.INVALID_VALUE, f"{action!r} is not a call a central system sends in OCPP 1.6")
    problem = schema_problem(action, payload)
    if problem is not None:
        raise CommandError(ErrorCode.INVALID_VALUE, f"{action} payload fails the OCPP 1.6 schema: {problem}")
    try:
        return getattr(call, action)(**camel_to_snake_case(payload))
    except TypeError as error:
        raise CommandError(ErrorCode.INVALID_VALUE, f"{action} payload: {error}") from None
