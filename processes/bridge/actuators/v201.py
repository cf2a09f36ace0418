"""The OCPP 2.0.1 plans: the same actuator values -> OCPP 2.0.1 calls, and 2.0.1 replies ->
the same outcomes (DATAPOINTS.md, "Added in the second round"; the CONTRACT of issue 18).

Like ``v16.py``: each plan takes (connector id, here the ``evseId``, 0 for the charging station;
the value as BEMCom delivered it; the :class:`Context`) and returns the OCPP-J calls, or raises
:class:`InvalidValue`. BEMCom's charging profiles are those of 1.6 (``limits_fit.py``: ids, stack
levels, fitting, leases), written the 2.0.1 way: ``chargingProfile`` on an ``evseId`` with a list
of schedules, a TxProfile's ``transactionId`` a string, ChargingStationMaxProfile for the cap.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ocpp.v201.enums import MessageTriggerEnumType

from common.bus import Reply
from common.device_model import parse_variable_key, variable_key
from processes.bridge.actuators import limits_fit
from processes.bridge.actuators.limits_fit import (
    READ_BACK_SECONDS,
    Dialect,
    Profile,
    composite_duration,
    within_maximum,
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

#: The numbers of the 1.6 actuator (0-5), each with its 2.0.1 message: 1.6's
#: DiagnosticsStatusNotification is LogStatusNotification in 2.0.1.
TRIGGER_MESSAGES = (
    "BootNotification",
    "LogStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)
#: Every name a trigger may be written as -> the 2.0.1 message (MessageTriggerEnumType, and the
#: 1.6 names that have a 2.0.1 message).
TRIGGER_NAMES = {str(item.value): str(item.value) for item in MessageTriggerEnumType} | {
    "DiagnosticsStatusNotification": "LogStatusNotification"
}

#: Reset values: 1.6's Soft and Hard, and 2.0.1's own (any case).
RESET_TYPES = {"soft": "OnIdle", "hard": "Immediate", "onidle": "OnIdle", "immediate": "Immediate"}

#: The device-model variable that tells the charging station's charging rate unit(s) (``A,W``).
RATE_UNIT_KEY = "SmartChargingCtrlr.RateUnit"
#: The form of a configuration key (DATAPOINTS.md: ``{cp}__configuration__{key}``).
KEY_FORM = "Component[.componentInstance][.evseId[.connectorId]].Variable[[variableInstance]]"


def variable(key: str) -> dict[str, Any]:
    """A GetVariables/SetVariables item (component, variable) for a configuration key."""
    try:
        component, named = parse_variable_key(key)
    except ValueError as error:
        raise InvalidValue(
            f"an OCPP 2.0.1 configuration key is {KEY_FORM} (e.g. SampledDataCtrlr.TxUpdatedMeasurands): {error}"
        ) from None
    return {"component": component, "variable": named}


RATE_UNIT_QUERY = OcppCall("GetVariables", {"getVariableData": [variable(RATE_UNIT_KEY)]})


def rate_unit(values: Iterable[object]) -> str:
    """W, or A when the values of SmartChargingCtrlr.RateUnit (a member list, ``A,W``) name no W
    (W when there are none)."""
    texts = [str(value) for value in values]
    members = {member.strip() for text in texts for member in text.split(",")}
    return "W" if "W" in members or not texts else "A"


def variable_results(reply: Reply) -> list[dict[str, Any]]:
    """The ``getVariableResult`` (or ``setVariableResult``) items of an answer."""
    payload = reply.result.get("payload", {}) if reply.ok and isinstance(reply.result, dict) else {}
    results = payload.get("getVariableResult", payload.get("setVariableResult", []))
    return [item for item in results if isinstance(item, dict)] if isinstance(results, list) else []


def variable_values(reply: Reply) -> dict[str, str]:
    """Configuration key -> the value of every variable the answer gives (attributeStatus Accepted,
    the Actual attribute)."""
    learnt = {}
    for item in variable_results(reply):
        if item.get("attributeStatus") != "Accepted" or item.get("attributeType", "Actual") != "Actual":
            continue
        component, named = item.get("component"), item.get("variable")
        if isinstance(component, dict) and isinstance(named, dict):
            try:
                learnt[variable_key(component, named)] = str(item.get("attributeValue", ""))
            except ValueError:
                continue
    return learnt


def rate_unit_of(reply: Reply) -> str:
    return rate_unit(variable_values(reply).values())


# -- charging profiles ------------------------------------------------------------------


def charging_profile(profile: Profile) -> OcppCall:
    """SetChargingProfile 2.0.1: ``chargingProfile`` on ``evseId``, one schedule (with the
    profile's id), the transaction id as a string."""
    fields = {"id": profile.id, **profile.fields()}
    if profile.transaction is not None:
        fields["transactionId"] = str(profile.transaction)
    fields["chargingSchedule"] = [{"id": profile.id, **profile.timed_schedule()}]
    return OcppCall("SetChargingProfile", {"evseId": profile.connector, "chargingProfile": fields}, profile.note)


def clear_profile(profile_id: int) -> OcppCall:
    return OcppCall("ClearChargingProfile", {"chargingProfileId": profile_id})


#: BEMCom's (schedule, limit) stack levels: EVSE 0's, and every other EVSE's (a connector's own
#: profiles outrank connector 0's, a limit outranks a schedule, as for 1.6).
STATION_LEVELS, EVSE_LEVELS = (1, 2), (3, 4)


def stack_levels(connector: int, context: Context | None) -> tuple[int, int]:
    """2.0.1 rejects a second TxDefaultProfile at a stack level where 1.6 replaced it: on one EVSE
    (K01.FR.06), and between EVSE 0 and any other (K01.FR.52/53); EVSEs above 0 may share one. So
    EVSE 0 has levels 1 and 2, every other EVSE 3 and 4: four levels do for any number of EVSEs.
    Within a smaller maximum they are squeezed as for 1.6 (``limits_fit.within_maximum``), and then
    :func:`make_room` clears a level before it is used."""
    return within_maximum(*(EVSE_LEVELS if connector else STATION_LEVELS), context)


def make_room(profile: Profile, context: Context) -> list[OcppCall]:
    """Where BEMCom's TxDefaultProfiles must share stack levels (a station with fewer than four),
    what is at the new profile's level is cleared first: on its EVSE and on EVSE 0 (on EVSE 0:
    on every EVSE), so nothing of another EVSE above 0 is lost."""
    highest = context.facts.max_stack_level
    if profile.purpose != "TxDefaultProfile" or highest is None or highest >= EVSE_LEVELS[1]:
        return []
    criteria: dict[str, Any] = {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": profile.stack_level}
    wheres = [{"evseId": profile.connector}, {"evseId": 0}] if profile.connector else [{}]
    return [
        OcppCall("ClearChargingProfile", {"chargingProfileCriteria": criteria | where}, preparatory=True)
        for where in wheres
    ]


PROFILES = Dialect(charging_profile, clear_profile, "ChargingStationMaxProfile", make_room, stack_levels)


# -- EVSE calls -------------------------------------------------------------------------


def evse(connector: int) -> dict[str, Any]:
    """The ``evse`` field of a call on EVSE ``connector``; none for 0 (the whole station)."""
    return {"evse": {"id": connector}} if connector else {}


def trigger_message(value: Any) -> str:
    return one_of_numbered(value, TRIGGER_MESSAGES, TRIGGER_NAMES, "message to trigger")


def plan_trigger_message(connector: int, value: Any, context: Context) -> list[OcppCall]:
    message = trigger_message(value)
    if message != "StatusNotification":
        return [OcppCall("TriggerMessage", {"requestedMessage": message} | evse(connector))]
    # A status is a connector's (F06.FR.13: a StatusNotification is triggered for one connector).
    if connector == 0:
        raise InvalidValue("OCPP 2.0.1 triggers a StatusNotification of one connector: write it to an EVSE's key")
    return [OcppCall("TriggerMessage", {"requestedMessage": message, "evse": {"id": connector, "connectorId": 1}})]


def request_id(context: Context) -> int:
    """A remoteStartId or requestId: the time written, in ms, within a positive int32 (unique for
    24 days)."""
    return context.now_ms % 2**31


def plan_remote_start(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """RequestStartTransaction with a Central id token; with the limit in force on the EVSE (or
    EVSE 0) as its TxProfile, so the session starts within it."""
    payload: dict[str, Any] = {
        "idToken": {"idToken": id_tag(value), "type": "Central"},
        "remoteStartId": request_id(context),
    }
    if connector:
        payload["evseId"] = connector
        # Without an EVSE the limit of EVSE 0 (its TxDefaultProfile) governs the session anyway,
        # and a TxProfile here (id 3000) would block the TxProfile a later limit sets at the same
        # level for the same transaction (K01.FR.39).
        profile = limits_fit.start_profile(connector, context, stack_levels)
        if profile is not None:
            payload["chargingProfile"] = charging_profile(profile).payload["chargingProfile"]
    return [OcppCall("RequestStartTransaction", payload)]


def plan_remote_stop(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """The transaction the gateway answered (Need.ACTIVE_TRANSACTION): the one the value names
    when it is an active transaction of the station, else the EVSE's active one."""
    transaction = context.active_transaction
    if transaction is None or transaction == "":
        raise InvalidValue(f"no active transaction on EVSE {connector} of {context.cp}")
    return [OcppCall("RequestStopTransaction", {"transactionId": str(transaction)})]


def plan_unlock_connector(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """The EVSE's (first) connector: BEMCom's ``{c}`` of a 2.0.1 station is the EVSE."""
    if connector == 0:
        raise InvalidValue("unlock needs an EVSE id above 0")
    return [OcppCall("UnlockConnector", {"evseId": connector, "connectorId": 1})]


def plan_change_availability(connector: int, value: Any, context: Context) -> list[OcppCall]:
    return [OcppCall("ChangeAvailability", {"operationalStatus": availability(value)} | evse(connector))]


# -- read-back ---------------------------------------------------------------------------


def plan_get_composite_schedule(connector: int, value: Any, context: Context) -> list[OcppCall]:
    return [OcppCall("GetCompositeSchedule", {"duration": composite_duration(value), "evseId": connector})]


def read_back(connector: int) -> OcppCall:
    return OcppCall("GetCompositeSchedule", {"duration": READ_BACK_SECONDS, "evseId": connector})


def effective_limit(reply: Reply, context: Context) -> dict[str, Any]:
    """``{EFFECTIVE_LIMIT: W or None}`` from a 2.0.1 GetCompositeSchedule answer (its ``schedule``)."""
    return limits_fit.composite_limit(reply, context, "schedule", "scheduleStart")


# -- charging station calls -------------------------------------------------------------


def plan_reset(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """Soft -> OnIdle, Hard -> Immediate (OnIdle and Immediate taken as written)."""
    kind = RESET_TYPES.get(str(value).strip().lower()) if isinstance(value, str) else None
    if kind is None:
        raise InvalidValue(f"reset must be Soft or Hard (or OnIdle, Immediate), got {json.dumps(value)[:60]}")
    return [OcppCall("Reset", {"type": kind})]


def plan_change_configuration(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """SetVariables of one variable (its Actual attribute)."""
    change = configuration_change(value)
    item = {"attributeValue": change["value"], **variable(change["key"])}
    return [OcppCall("SetVariables", {"setVariableData": [item]})]


def variable_set(replies: Sequence[Reply]) -> Result:
    """The variable's ``attributeStatus`` (Accepted, Rejected, RebootRequired, UnknownVariable, ...)."""
    reply = replies[0]
    statuses = [item.get("attributeStatus") for item in variable_results(reply)]
    return Result(str(statuses[0]) if statuses and statuses[0] else reply_outcome(reply))


def plan_get_configuration(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """GetVariables of the keys; null asks for everything: GetBaseReport(FullInventory), whose
    values arrive as NotifyReport events (the sensors' way, not this outcome's)."""
    keys = configuration_keys(value)
    if not keys:
        return [OcppCall("GetBaseReport", {"requestId": request_id(context), "reportBase": "FullInventory"})]
    return [OcppCall("GetVariables", {"getVariableData": [variable(key) for key in keys]})]


def configuration_learnt(replies: Sequence[Reply]) -> Result:
    """Accepted with every value the station gave (``configuration__`` sensors); when it gave none,
    the status of the first variable (UnknownVariable, ...); GetBaseReport: its status."""
    reply = replies[0]
    results = variable_results(reply)
    if not reply.ok or not results:
        return Result(reply_outcome(reply))
    learnt = variable_values(reply)
    return Result("Accepted" if learnt else str(results[0].get("attributeStatus", "Accepted")), learnt)


def plan_data_transfer(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """DataTransfer; ``data`` as written (2.0.1's data is any JSON)."""
    return [OcppCall("DataTransfer", data_transfer(value, data_as_text=False))]


def plan_ocpp_call(connector: int, value: Any, context: Context) -> list[OcppCall]:
    """Any call a CSMS sends; ``table.plan_calls`` checks the action and the 2.0.1 schema."""
    return [generic_call(value)]
