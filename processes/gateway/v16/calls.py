"""Calls from the central system to an OCPP 1.6 charge point, built from plain OCPP-J payloads
(camelCase dicts, as on the wire) and checked against the OCPP 1.6 schema before sending."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call

from common.schemas import V16
from processes.gateway import calls


def build_call(action: str, payload: dict[str, Any]) -> Any:
    """The ocpp payload object of a call, or CommandError(InvalidValue) saying what is wrong."""
    return calls.build_call(action, payload, V16, call)
