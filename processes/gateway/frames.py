"""Frames from a charge point, read defensively: every frame becomes a message or a
rejection, never an exception, and each rejection carries the CallError OCPP-J prescribes
(or none where no message id can be read, or where OCPP-J says to ignore the frame).

The ``ocpp`` library answers schema failures with its own spelling ``FormatViolation`` and
says nothing at all about frames it cannot unpack (its issue #102); this module speaks the
OCPP-J 1.6 specification's codes and spelling (section 4.2.3, table 7).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError, best_match
from ocpp.messages import Call, CallError, CallResult, get_validator
from ocpp.v16.enums import Action
from ocpp.v201.enums import Action as Action201

from common.schemas import V16, V201, passes

CALL = 2
CALLRESULT = 3
CALLERROR = 4

#: OCPP-J 1.6, table 7: the only codes a CallError may carry.
OCPP_J_ERROR_CODES = frozenset(
    {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }
)
#: The ocpp library's spellings of codes the specification spells differently.
_LIBRARY_SPELLINGS = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}
#: OCPP-J 1.6, table 3: a message id has at most 36 characters.
MAX_UNIQUE_ID_LENGTH = 36
OCPP16_ACTIONS = frozenset(action.value for action in Action)
#: Every action of each OCPP version (``common.schemas`` names the versions).
ACTIONS = {V16: OCPP16_ACTIONS, V201: frozenset(action.value for action in Action201)}
#: OCPP-J 2.0.1 (part 4, section 4.3) spells two of 1.6's codes right: what changes for a 2.0.1 peer.
SPELLINGS_201 = {
    "FormationViolation": "FormatViolation",
    "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
}
#: Integers beyond this cannot be stored (SQLite) and are no plausible OCPP value.
MAX_INTEGER = 2**63 - 1
_DESCRIPTION_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Rejected:
    """A frame that is not a usable message: why (for the log), and the reply, if any."""

    problem: str
    reply: str | None = None


#: What parse_frame returns: ocpp's Call, CallResult or CallError (untyped), or Rejected.
Inbound = Any


def spec_error_code(code: str) -> str:
    """The OCPP-J 1.6 spelling of an error code; GenericError for anything it does not define."""
    code = _LIBRARY_SPELLINGS.get(code, code)
    return code if code in OCPP_J_ERROR_CODES else "GenericError"


def spelled_for_201(frame: str) -> str:
    """A CALLERROR frame of this module with OCPP-J 2.0.1's spelling of its code (the rest as is)."""
    message = json.loads(frame)
    code = message[2]
    if code not in SPELLINGS_201:
        return frame
    message[2] = SPELLINGS_201[code]
    return json.dumps(message, separators=(",", ":"))


def call_error(unique_id: str, code: str, description: str, details: dict[str, Any] | None = None) -> str:
    """A CALLERROR frame with a spec-conform code and a bounded description."""
    frame = [CALLERROR, unique_id, spec_error_code(code), description[:_DESCRIPTION_LENGTH], details or {}]
    return json.dumps(frame, separators=(",", ":"))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: Set while parsing a frame when one of its integers lies beyond 64 bits (see _parse_int).
_huge_integer = False


def _parse_int(text: str) -> int:
    """JSON integers; notes those beyond 64 bits (19 digits at least), so that only frames
    holding one are searched for it."""
    value = int(text)
    if len(text) > 18 and not -MAX_INTEGER - 1 <= value <= MAX_INTEGER:
        global _huge_integer  # parsing is synchronous: one frame at a time
        _huge_integer = True
    return value


#: One decoder for every frame (``json.loads`` with options builds a new one per call).
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_int=_parse_int)


def _loads(raw: str) -> Any:
    try:
        return _DECODER.decode(raw)
    except RecursionError:
        raise ValueError("nested too deeply") from None


class ParsedCall(Call):
    """A CALL read from a frame, knowing whether the frame holds an integer beyond 64 bits and
    whether it holds a ``\\u`` escape (the only way a lone surrogate gets into a string: the
    frame's text itself is UTF-8)."""

    huge_integer = True
    escapes = True


#: The start of a CALL, to read the message id of a frame that is not valid JSON as a whole.
_CALL_START = re.compile(r'\s*\[\s*2\s*,\s*"([^"\\]{0,' + str(MAX_UNIQUE_ID_LENGTH) + '})"')


def parse_frame(raw: str | bytes) -> Inbound:
    """The message in a frame, or why it is not one. Never raises."""
    global _huge_integer  # see _parse_int
    _huge_integer = False
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        frame = _loads(text)
    except (ValueError, TypeError) as error:
        reason = str(error)[:80]
        start = _CALL_START.match(text) if isinstance(raw, str) else None
        if start is None:
            return Rejected(f"sent a frame that is not JSON ({reason}); no message id to answer, dropped")
        return Rejected(
            f"sent a CALL that is not valid JSON ({reason}); answered FormationViolation",
            call_error(start.group(1), "FormationViolation", f"the message is not valid JSON: {reason}"),
        )
    if not isinstance(frame, list) or not frame:
        return Rejected("sent JSON that is not an OCPP-J message array; no message id to answer, dropped")
    type_id = frame[0]
    if type(type_id) is not int or type_id not in (CALL, CALLRESULT, CALLERROR):
        # OCPP-J 4.1.3: a message type number not in the list SHALL be ignored.
        return Rejected(f"sent a frame with message type {str(type_id)[:20]!r}, which OCPP-J does not define; ignored")
    if len(frame) < 2 or not isinstance(frame[1], str):
        return Rejected("sent a frame without a message id (a string); no message id to answer, dropped")
    if type_id == CALL:
        call = _call(frame)
        if isinstance(call, ParsedCall):
            call.huge_integer = _huge_integer
            call.escapes = "\\u" in text
        return call
    if type_id == CALLRESULT:
        return _call_result(frame)
    return _call_error(frame)


def _call(frame: list[Any]) -> Call | Rejected:
    unique_id: str = frame[1]

    def formation(problem: str) -> Rejected:
        return Rejected(
            f"sent a malformed CALL ({problem}); answered FormationViolation",
            call_error(unique_id, "FormationViolation", problem),
        )

    if len(frame) != 4:
        return formation(f"a CALL has 4 elements, this one has {len(frame)}")
    if len(unique_id) > MAX_UNIQUE_ID_LENGTH:
        return formation(f"the message id is longer than {MAX_UNIQUE_ID_LENGTH} characters")
    action, payload = frame[2], frame[3]
    if not isinstance(action, str):
        return formation("the action is not a string")
    if payload is None:  # OCPP-J 4.2.1 allows null for "no payload"
        payload = {}
    if not isinstance(payload, dict):
        return formation("the payload is not a JSON object")
    return ParsedCall(unique_id, action, payload)


def _call_result(frame: list[Any]) -> CallResult | Rejected:
    if len(frame) != 3:
        return Rejected(f"sent a CALLRESULT of {len(frame)} elements instead of 3; dropped")
    payload = {} if frame[2] is None else frame[2]
    if not isinstance(payload, dict):
        return Rejected("sent a CALLRESULT whose payload is not a JSON object; dropped")
    return CallResult(frame[1], payload)


def _call_error(frame: list[Any]) -> CallError | Rejected:
    if len(frame) != 5:
        return Rejected(f"sent a CALLERROR of {len(frame)} elements instead of 5; dropped")
    code, description, details = frame[2], frame[3], {} if frame[4] is None else frame[4]
    if not isinstance(code, str) or not isinstance(description, str) or not isinstance(details, dict):
        return Rejected("sent a CALLERROR whose code, description or details have the wrong type; dropped")
    return CallError(frame[1], code, description, details)


# -- checking a call against what this central system handles ---------------------------

_SCHEMA_ERROR_CODES = {
    "type": "TypeConstraintViolation",
    "maxLength": "TypeConstraintViolation",  # CiStringNType is a data type in OCPP
    "required": "ProtocolError",  # "payload for Action is incomplete"
    "enum": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "multipleOf": "PropertyConstraintViolation",
    "minItems": "OccurenceConstraintViolation",
    "maxItems": "OccurenceConstraintViolation",
}


def check_call(call: Call, handled: Collection[str], version: str = V16) -> Rejected | None:
    """Why a well-formed CALL of OCPP ``version`` cannot be handled (with its CallError), or None."""
    action = str(call.action)
    if action not in handled:
        shown = action[:60]
        if action in ACTIONS[version]:
            code, problem = "NotSupported", f"{shown} is not a call a charge point sends to a central system"
        else:
            code, problem = "NotImplemented", f"{shown!r} is not an OCPP {version} action"
        return Rejected(f"called {problem}; answered {code}", call_error(call.unique_id, code, problem))
    # The compiled validator answers for valid payloads; the library's finds what is wrong.
    error = (
        None
        if passes(action, call.payload, version=version)
        else best_match(get_validator(CALL, action, version).iter_errors(call.payload))
    )
    if error is not None:
        code = _SCHEMA_ERROR_CODES.get(str(error.validator), "FormationViolation")
        problem = f"{action} payload fails the OCPP {version} schema at {_path(error)}: {error.message}"
    elif getattr(call, "huge_integer", True) and _any_scalar(call.payload, _huge_integer_value):
        code, problem = "PropertyConstraintViolation", f"{action} payload holds an integer beyond 64 bits"
    elif getattr(call, "escapes", True) and _any_scalar(call.payload, _lone_surrogate):
        # A \ud800-\udfff escape not part of a pair: no Unicode text, so nothing can store or
        # forward it (UTF-8 has no encoding for it).
        code, problem = "FormationViolation", f"{action} payload holds a lone surrogate (\\ud800-\\udfff), not text"
    else:
        return None
    problem = problem[:_DESCRIPTION_LENGTH]
    return Rejected(f"sent a {problem}; answered {code}", call_error(call.unique_id, code, problem))


def _path(error: ValidationError) -> str:
    return "/" + "/".join(str(part) for part in error.absolute_path)


def _any_scalar(value: Any, test: Callable[[Any], bool]) -> bool:
    """Whether ``test`` holds for a scalar anywhere in ``value`` (what ``json.loads`` returns).
    Schema-valid payloads are a few levels deep, so recursion is bounded here."""
    if isinstance(value, dict):
        return any(_any_scalar(item, test) for item in value.values())
    if isinstance(value, list):
        return any(_any_scalar(item, test) for item in value)
    return test(value)


def _huge_integer_value(value: Any) -> bool:
    return type(value) is int and not -MAX_INTEGER - 1 <= value <= MAX_INTEGER


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value: Any) -> bool:
    return type(value) is str and _SURROGATE.search(value) is not None
