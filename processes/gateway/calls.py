"""Calls from the central system to a charge point, for any OCPP version: built from plain OCPP-J
payloads (camelCase dicts, as on the wire) and checked against the version's schema before
sending (``v16/calls.py`` and ``v201/calls.py`` bind a version)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ocpp.charge_point import camel_to_snake_case

from common.bus import ErrorCode
from common.schemas import CENTRAL_SYSTEM_ACTIONS, schema_problem
from processes.gateway.command_server import CommandError


def build_call(action: str, payload: dict[str, Any], version: str, calls: ModuleType) -> Any:
    """The ``ocpp`` payload object of a call (``calls``: the library's ``call`` module of the
    version), or CommandError(InvalidValue) saying what is wrong."""
    if action not in CENTRAL_SYSTEM_ACTIONS[version]:
        unknown = f"{action!r} is not a call a central system sends in OCPP {version}"
        raise CommandError(ErrorCode.INVALID_VALUE, unknown)
    problem = schema_problem(action, payload, version)
    if problem is not None:
        raise CommandError(ErrorCode.INVALID_VALUE, f"{action} payload fails the OCPP {version} schema: {problem}")
    try:
        return getattr(calls, action)(**camel_to_snake_case(payload))
    except TypeError as error:
        raise CommandError(ErrorCode.INVALID_VALUE, f"{action} payload: {error}") from None
