"""OCPP JSON schemas, one module for every version and both directions: the ``ocpp`` library's
bundled schemas, and the calls a central system may send.

Two checks, for two uses:

- :func:`passes`, the fast first opinion on the gateway's path (every frame): the library's
  schema compiled once per action with jsonschema-rs (Rust, Draft 4, like the library). A payload
  it accepts is valid for the library too; one it refuses (or cannot take at all) is handed to
  the library's own validators, so that the error, and the CallError code the gateway maps from
  it, is theirs word for word. tests/unit/test_schemas.py holds the two to the same verdicts on
  payloads generated from every schema used here. Measured: 0.6 µs per MeterValues with 4 sampled
  values, instead of 5.9 µs with fastjsonschema and 110 µs with jsonschema (docs/performance.md).
- :func:`schema_problem`, the authority (the library's validators) on what the bridge and the
  command socket are asked to send, with the reason when it fails.

Like the library's Draft4Validator, neither checks formats (a ``timestamp`` that is not a
date-time passes both), and neither touches the payload.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import ocpp
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, _validate_payload

#: The OCPP versions this connector speaks, as the ``ocpp`` library names them.
V16 = "1.6"
V201 = "2.0.1"
VERSIONS = (V16, V201)

_LIBRARY = Path(ocpp.__file__).resolve().parent
#: Where the library keeps each version's schemas.
SCHEMA_DIRS = {V16: _LIBRARY / "v16" / "schemas", V201: _LIBRARY / "v201" / "schemas"}

#: Every call a central system may send to a charge point, per version (OCPP 1.6 section 5).
CENTRAL_SYSTEM_ACTIONS: dict[str, frozenset[str]] = {
    V16: frozenset(
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
            # the security extension (OCPP 1.6 security whitepaper, edition 2)
            "CertificateSigned",
            "DeleteCertificate",
            "ExtendedTriggerMessage",
            "GetInstalledCertificateIds",
            "GetLog",
            "InstallCertificate",
            "SignedUpdateFirmware",
        }
    ),
    # OCPP 2.0.1 part 2, the messages a CSMS sends (DataTransfer goes both ways).
    V201: frozenset(
        {
            "CancelReservation",
            "CertificateSigned",
            "ChangeAvailability",
            "ClearCache",
            "ClearChargingProfile",
            "ClearDisplayMessage",
            "ClearVariableMonitoring",
            "CostUpdated",
            "CustomerInformation",
            "DataTransfer",
            "DeleteCertificate",
            "GetBaseReport",
            "GetChargingProfiles",
            "GetCompositeSchedule",
            "GetDisplayMessages",
            "GetInstalledCertificateIds",
            "GetLocalListVersion",
            "GetLog",
            "GetMonitoringReport",
            "GetReport",
            "GetTransactionStatus",
            "GetVariables",
            "InstallCertificate",
            "PublishFirmware",
            "RequestStartTransaction",
            "RequestStopTransaction",
            "ReserveNow",
            "Reset",
            "SendLocalList",
            "SetChargingProfile",
            "SetDisplayMessage",
            "SetMonitoringBase",
            "SetMonitoringLevel",
            "SetNetworkProfile",
            "SetVariableMonitoring",
            "SetVariables",
            "TriggerMessage",
            "UnlockConnector",
            "UnpublishFirmware",
            "UpdateFirmware",
        }
    ),
}

#: Every call a charge point (2.0.1: a charging station) may send, per version.
CHARGE_POINT_ACTIONS: dict[str, frozenset[str]] = {
    V16: frozenset(
        {
            "Authorize",
            "BootNotification",
            "DataTransfer",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "StartTransaction",
            "StatusNotification",
            "StopTransaction",
            "LogStatusNotification",
            "SecurityEventNotification",
            "SignCertificate",
            "SignedFirmwareStatusNotification",
        }
    ),
    V201: frozenset(
        {
            "Authorize",
            "BootNotification",
            "ClearedChargingLimit",
            "DataTransfer",
            "FirmwareStatusNotification",
            "Get15118EVCertificate",
            "GetCertificateStatus",
            "Heartbeat",
            "LogStatusNotification",
            "MeterValues",
            "NotifyChargingLimit",
            "NotifyCustomerInformation",
            "NotifyDisplayMessages",
            "NotifyEVChargingNeeds",
            "NotifyEVChargingSchedule",
            "NotifyEvent",
            "NotifyMonitoringReport",
            "NotifyReport",
            "PublishFirmwareStatusNotification",
            "ReportChargingProfiles",
            "ReservationStatusUpdate",
            "SecurityEventNotification",
            "SignCertificate",
            "StatusNotification",
            "TransactionEvent",
        }
    ),
}


def schema_name(action: str, response: bool, version: str = V16) -> str:
    """The file name (without ``.json``) of an action's request or response schema."""
    if response:
        return action + "Response"
    return action if version == V16 else action + "Request"


def schema_path(action: str, response: bool, version: str = V16) -> Path:
    return SCHEMA_DIRS[version] / f"{schema_name(action, response, version)}.json"


@cache
def compiled(action: str, response: bool = False, version: str = V16) -> jsonschema_rs.Draft4Validator | None:
    """The compiled validator of an action's request (or response) schema, or None when the
    library has no such schema."""
    path = schema_path(action, response, version)
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    return jsonschema_rs.Draft4Validator(schema, validate_formats=False)


def passes(action: str, payload: Any, response: bool = False, version: str = V16) -> bool:
    """True when ``payload`` certainly satisfies the schema; False means: ask the library."""
    check = compiled(action, response, version)
    if check is None:
        return False
    try:
        return check.is_valid(payload)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # a value it cannot take (ValueError), even a Rust panic: the library decides
        return False


def schema_problem(action: str, payload: dict[str, Any], version: str = V16) -> str | None:
    """Why the payload of a call ``action`` fails the library's schema, or None when it passes."""
    try:
        _validate_payload(Call(unique_id="check", action=action, payload=payload), version)
    except OCPPError as error:
        cause = error.details.get("cause") if isinstance(error.details, dict) else None
        return str(cause or error.description)
    except (TypeError, ValueError, ArithmeticError) as error:  # e.g. NaN in a decimal field
        return f"{type(error).__name__}: {error}"
    return None
