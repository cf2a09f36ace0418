"""OCPP-J 1.6 frame basics for the simulated charge point: message types, default answers.

Written without the ``ocpp`` library on purpose (see :mod:`tools.chargepoint`).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final, Literal

__all__ = [
    "CALL",
    "CALLERROR",
    "CALLRESULT",
    "DEFAULT_CONFIGURATION",
    "NO_ANSWER",
    "AnswerResult",
    "AnswerSpec",
    "CallErrorReceived",
    "JSONDict",
    "default_answer",
    "utc_now",
]

JSONDict = dict[str, Any]

CALL: Final = 2
CALLRESULT: Final = 3
CALLERROR: Final = 4


class _NoAnswer(enum.Enum):
    NO_ANSWER = "NO_ANSWER"


NO_ANSWER: Final = _NoAnswer.NO_ANSWER
"""Answer spec (or callable return value): record the CALL but never answer it."""

AnswerResult = JSONDict | Literal[_NoAnswer.NO_ANSWER]
AnswerSpec = JSONDict | Callable[[JSONDict], AnswerResult | Awaitable[AnswerResult]] | Literal[_NoAnswer.NO_ANSWER]


class CallErrorReceived(Exception):
    """The central system answered our CALL with a CALLERROR."""

    def __init__(self, code: str, description: str, details: JSONDict) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.details = details


def utc_now() -> str:
    """Current time, ISO 8601 UTC with millisecond precision and a ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


DEFAULT_CONFIGURATION: Final[tuple[JSONDict, ...]] = (
    {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": "Current,Power"},
    {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
)

_STATUS_ACCEPTED_ACTIONS: Final = frozenset(
    {
        "SetChargingProfile",
        "ClearChargingProfile",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "Reset",
        "ChangeAvailability",
        "ChangeConfiguration",
        "TriggerMessage",
        "DataTransfer",
        "ClearCache",
        "CancelReservation",
        "ReserveNow",
        "SendLocalList",
        "GetCompositeSchedule",
    }
)


def default_answer(
    action: str, payload: JSONDict, configuration: Iterable[JSONDict] = DEFAULT_CONFIGURATION
) -> JSONDict | None:
    """Schema-valid default CALLRESULT payload for a central-system-initiated action, None if unknown."""
    if action in _STATUS_ACCEPTED_ACTIONS:
        return {"status": "Accepted"}
    if action == "UnlockConnector":
        return {"status": "Unlocked"}
    if action == "GetConfiguration":
        entries = [dict(entry) for entry in configuration]
        requested = payload.get("key")
        if not requested:
            return {"configurationKey": entries, "unknownKey": []}
        by_key = {entry["key"]: entry for entry in entries}
        return {
            "configurationKey": [by_key[key] for key in requested if key in by_key],
            "unknownKey": [key for key in requested if key not in by_key],
        }
    if action == "GetLocalListVersion":
        return {"listVersion": 0}
    if action in ("GetDiagnostics", "UpdateFirmware"):
        return {}
    return None
