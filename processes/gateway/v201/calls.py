"""Calls from the central system (the CSMS) to an OCPP 2.0.1 charging station, built from plain
OCPP-J payloads (camelCase dicts, as on the wire) and checked against the OCPP 2.0.1 schema."""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call

from common.schemas import V201
from processes.gateway import calls


def build_call(action: str, payload: dict[str, Any]) -> Any:
    """The ocpp payload object of a call, or CommandError(InvalidValue) saying what is wrong."""
    return calls.build_call(action, payload, V201, call)
