"""Checking a central-system call against the OCPP 1.6 JSON schema (the `ocpp` library's own)."""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, _validate_payload

#: Every call a central system may send to a charge point in OCPP 1.6.
CENTRAL_SYSTEM_ACTIONS = frozenset(
    {
        "CancelReservation",
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "ClearChargingProfile",
        "DataTransfer",
        "GetCompositeSchedule",
        "GetConfiguration",
        "GetDiagnostics",
        "GetLocalListVersion",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "TriggerMessage",
        "UnlockConnector",
        "UpdateFirmware",
    }
)


def schema_problem(action: str, payload: dict[str, Any]) -> str | None:
    """Why the payload of ``action`` fails the OCPP 1.6 schema, or None when it passes."""
    try:
        _validate_payload(Call(unique_id="check", action=action, payload=payload), "1.6")
    except OCPPError as error:
        cause = error.details.get("cause") if isinstance(error.details, dict) else None
        return str(cause or error.description)
    except (TypeError, ValueError, ArithmeticError) as error:  # e.g. NaN in a decimal field
        return f"{type(error).__name__}: {error}"
    return None
