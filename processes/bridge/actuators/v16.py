"""The OCPP 1.6 plans: actuator values -> OCPP 1.6 calls, and 1.6 replies -> outcomes, without
sockets (DATAPOINTS.md, "Actuators").

Each plan takes (connector id, 0 for the charge point; the value as BEMCom delivered it; the
:class:`Context`) and returns the OCPP-J calls to make, or raises :class:`InvalidValue` saying
why the value does not fit. ``table.py`` names the plan of each actuator. What every version
shares lives in ``limits_fit.py`` (BEMCom's charging profiles, the read-back) and ``values.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from common.bus import Reply
from processes.bridge.actuators import limits_fit
from processes.bridge.actuators.limits_fit import (
    CHARGE_POINT_MAX_PROFILE,
    EFFECTIVE_LIMIT,
    LIMIT_PROFILE_BASE,
    READ_BACK_SECONDS,
    SCHEDULE_PROFILE_BASE,
    START_MARGIN_MS,
    TX_PROFILE_BASE,
    Dialect,
    Profile,
    composite_duration,
    limit_schedule,
    limit_stack_level,
    schedule_stack_level,
    stack_levels,
    transactions_on,
)
from processes.bridge.actuators.plan import Context, OcppCall, Result, reply_outcome
from processes.bridge.actuators.values import (
    InvalidValue,
    availability,
    configuration_change,
    configuration_keys,
    data_transfer,
    generic_call,
    id_tag,
    one_of_numbered,
)

# Names of ``limits_fit`` and ``values`` also known by this module's name (from before they
# moved there to be shared with 2.0.1).
__all__ = [
    "CHARGE_POINT_MAX_PROFILE",
    "EFFECTIVE_LIMIT",
    "LIMIT_PROFILE_BASE",
    "READ_BACK_SECONDS",
    "SCHEDULE_PROFILE_BASE",
    "START_MARGIN_MS",
    "TX_PROFILE_BASE",
    "data_transfer",
    "generic_call",
    "limit_schedule",
    "limit_stack_level",
    "schedule_stack_level",
    "stack_levels",
    "transactions_on",
]

TRIGGER_MESSAGES = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)

#: The configuration key that tells the charge point's charging rate unit(s).
RATE_UNIT_KEY = "ChargingScheduleAllowedChargingRateUnit"
RATE_UNIT_QUERY = OcppCall("GetConfiguration", {"key": [RATE_UNIT_KEY]})


def rate_unit(values: Iterable[object]) -> str:
    """W, or A when the values of ChargingScheduleAllowedChargingRateUnit name no Power (W
    when there are none)."""
    texts = [str(value) for value in values]
    return "W" if any("Power" in text for text in texts) or not texts else "A"


def configuration_values(reply: Reply) -> list[Any]:
    """The values of a GetConfiguration result, as reported."""
    return [item.get("value", "") for item in reply.result.get("payload", {}).get("configurationKey", [])]


# -- charging profiles ------------------------------------------------------------------


def charging_profile(profile: Profile) -> OcppCall:
    """SetChargingProfile 1.6: ``csChargingProfiles`` on ``connectorId``."""
    fields = {"chargingProfileId": profile.id, **profile.fields(), "chargingSchedule": profile.timed_schedule()}
    return OcppCall(
        "SetChargingProfile", {"connectorId": profile.connector, "csChargingProfiles": fields}, profile.note
    )


def clear_profile(profile_id: int) -> OcppCall:
    return OcppCall("ClearChargingProfile", {"id": profile_id})


PROFILES = Dialect(charging_profile, clear_profile, "ChargePointMaxProfile")


# -- connector calls --------------------------------------------------------------------


def trigger_message(value: Any) -> str:
    return one_of_numbered(value, TRIGGER_MESSAGES, {name: name for name in TRIGGER_MESSAGES}, "message to trigger")


def plan_trigger_message(connector: int, value: Any, context: Context) -> list[OcppCall]:
    payload: dict[str, Any] = {"requestedMessage": trigger_message(value)}
    return [OcppCall("TriggerMessage", payload | ({"connectorId": connector} if connector else {}))]


def plan_remote_start(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """RemoteStartTransaction; with the limit in force on the connector (or connector 0) as its
    TxProfile, so the session starts within it."""
    payload: dict[str, Any] = {"idTag": id_tag(value)} | ({"connectorId": connector} if connector else {})
    profile = limits_fit.start_profile(connector, context)
    if profile is not None:
        payload["chargingProfile"] = charging_profile(profile).payload["csChargingProfiles"]
    return [OcppCall("RemoteStartTransaction", payload)]


# -- read-back ---------------------------------------------------------------------------


def plan_get_composite_schedule(connector: int, value: Any, context: Context) -> list[OcppCall]:
    return [OcppCall("GetCompositeSchedule", {"connectorId": connector, "duration": composite_duration(value)})]


def read_back(connector: int) -> OcppCall:
    return OcppCall("GetCompositeSchedule", {"connectorId": connector, "duration": READ_BACK_SECONDS})


def effective_limit(reply: Reply, context: Context) -> dict[str, Any]:
    """``{EFFECTIVE_LIMIT: W or None}`` from a GetCompositeSchedule answer (``limits_fit.composite_limit``)."""
    return limits_fit.composite_limit(reply, context, "chargingSchedule", "startSchedule")


def plan_remote_stop(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """The transaction the gateway answered (Need.ACTIVE_TRANSACTION): the one the value names
    when it is an active transaction of the charge point, else the connector's active one."""
    transaction = context.active_transaction
    if transaction is None:
        raise InvalidValue(f"no active transaction on connector {connector} of {context.cp}")
    return [OcppCall("RemoteStopTransaction", {"transactionId": transaction})]


def plan_unlock_connector(connector: int, value: Any, context: Context) -> list[OcppCall]:
    if connector == 0:
        raise InvalidValue("unlock needs a connector id above 0")
    return [OcppCall("UnlockConnector", {"connectorId": connector})]


def plan_change_availability(connector: int, value: Any, context: Context) -> list[OcppCall]:
    return [OcppCall("ChangeAvailability", {"connectorId": connector, "type": availability(value)})]


# -- charge point calls -----------------------------------------------------------------


def plan_reset(connector: int, value: Any, context: Context) -> list[OcppCall]:
    text = str(value).strip().capitalize()
    if text not in {"Soft", "Hard"}:
        raise InvalidValue(f"reset must be Soft or Hard, got {json.dumps(value)[:60]}")
    return [OcppCall("Reset", {"type": text})]


def plan_change_configuration(connector: int, value: Any, context: Context) -> list[OcppCall]:
    return [OcppCall("ChangeConfiguration", configuration_change(value))]


def plan_get_configuration(connector: int, value: Any, context: Context) -> list[OcppCall]:
    keys = configuration_keys(value)
    return [OcppCall("GetConfiguration", {"key": keys} if keys else {})]


def configuration_learnt(replies: Sequence[Reply]) -> Result:
    """Accepted, with every key and value the charge point reported (``configuration__`` sensors)."""
    reply = replies[0]
    if not reply.ok:
        return Result(reply_outcome(reply))
    items = reply.result.get("payload", {}).get("configurationKey", [])
    learnt = {
        str(item["key"]): str(item.get("value", "")) for item in items if isinstance(item, dict) and "key" in item
    }
    return Result("Accepted", learnt)


def plan_data_transfer(connector: int, value: Any, context: Context) -> list[OcppCall]:
    return [OcppCall("DataTransfer", data_transfer(value))]


def plan_ocpp_call(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """Any call a central system sends; ``table.plan_calls`` checks the action and the schema."""
    return [generic_call(value)]
