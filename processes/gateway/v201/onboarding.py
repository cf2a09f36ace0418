"""The OCPP 2.0.1 onboarding pass (``processes/gateway/onboarding.py`` says when it runs).

1. GetBaseReport(FullInventory): the station's device model arrives in NotifyReport parts (each
   on the bus, so ``{cp}__configuration__{Component.Variable}``); the pass waits for the last
   part (``tbc`` false), each within the call timeout. A station that does not report (NotSupported,
   no parts) is asked for the few variables the pass needs with one GetVariables instead.
2. The capabilities the power-limit work needs, by the names 1.6 uses (:func:`capabilities`),
   and the EVSEs it has.
3. Only what differs from the wanted state is set, one SetVariables at a time:
   ``SampledDataCtrlr.TxUpdatedMeasurands`` (the wanted measurands the station lists as possible,
   in order of preference; if it refuses them, the largest part it accepts, found by adding them
   one by one), ``SampledDataCtrlr.TxUpdatedInterval`` and ``AlignedDataCtrlr.Interval`` (0: left
   as they are). What a station refused is remembered, so a reboot sends nothing for a variable
   that is already as good as it gets (the measurands, as for 1.6; the intervals too).
   ``RebootRequired`` is reported, never acted on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass
from typing import Any

from common.bus import ErrorCode
from common.device_model import parse_variable_key, variable_key
from processes.gateway.command_server import CommandError
from processes.gateway.onboarding import Caller, PassResult, Wanted

MEASURANDS_KEY = "SampledDataCtrlr.TxUpdatedMeasurands"
INTERVAL_KEYS = ("SampledDataCtrlr.TxUpdatedInterval", "AlignedDataCtrlr.Interval")
#: Variables the pass reads when the station sends no report.
NEEDED = (
    MEASURANDS_KEY,
    *INTERVAL_KEYS,
    "SmartChargingCtrlr.ProfileStackLevel",
    "SmartChargingCtrlr.PeriodsPerSchedule",
    "SmartChargingCtrlr.RateUnit",
    "SmartChargingCtrlr.Enabled",
    "LocalAuthListCtrlr.Enabled",
    "AuthCtrlr.AuthorizeRemoteStart",
)
ACCEPTED = frozenset({"Accepted", "RebootRequired"})
#: The first NotifyReport part may take this many call timeouts (the station gathers its report).
FIRST_PART_TIMEOUTS = 3

#: Device-model keys -> (capability name as 1.6 names it, how its value is read).
_INTEGER_KEYS = {
    "SmartChargingCtrlr.ProfileStackLevel": "max_stack_level",
    "SmartChargingCtrlr.PeriodsPerSchedule": "max_periods",
    "SmartChargingCtrlr.Entries[ChargingProfiles]": "max_profiles",
    "LocalAuthListCtrlr.ItemsPerMessage": "send_local_list_max_length",
    "ChargingStation.SupplyPhases": "supply_phases",
}
_BOOLEAN_KEYS = {
    "SmartChargingCtrlr.Enabled": "smart_charging",
    "LocalAuthListCtrlr.Enabled": "local_list_enabled",
    "AuthCtrlr.AuthorizeRemoteStart": "authorize_remote_tx",
}

#: GetBaseReport requestIds, unique within the gateway's run.
_REQUEST_IDS = itertools.count(1)


@dataclass(slots=True)
class Variable:
    """What the station reported of one variable: its Actual value and what may be done with it."""

    value: str | None = None
    mutability: str | None = None
    values_list: list[str] | None = None
    max_limit: float | None = None
    evse: int | None = None
    #: The connector within the EVSE, for a connector's variable.
    connector: int | None = None


def csv(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _integer(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except ValueError:
        return None


def read_report(parts: list[dict[str, Any]]) -> dict[str, Variable]:
    """The variables of NotifyReport payloads (snake_case, as the session has them), by key."""
    variables: dict[str, Variable] = {}
    for part in parts:
        for entry in part.get("report_data") or ():
            try:
                key = variable_key(entry["component"], entry["variable"])
            except (KeyError, TypeError, ValueError):
                continue
            found = variables[key] = Variable()
            evse = entry["component"].get("evse")
            if isinstance(evse, dict) and isinstance(evse.get("id"), int):
                found.evse = evse["id"]
                connector = evse.get("connector_id")
                found.connector = connector if isinstance(connector, int) else None
            for attribute in entry.get("variable_attribute") or ():
                if attribute.get("type", "Actual") == "Actual":
                    value = attribute.get("value")
                    found.value = value if isinstance(value, str) else None
                    found.mutability = attribute.get("mutability")
            characteristics = entry.get("variable_characteristics") or {}
            if isinstance(characteristics.get("values_list"), str):
                found.values_list = csv(characteristics["values_list"])
            if isinstance(characteristics.get("max_limit"), int | float):
                found.max_limit = float(characteristics["max_limit"])
    return variables


def capabilities(variables: dict[str, Variable]) -> dict[str, Any]:
    """What the device model tells of the station, by the capability names of 1.6 (``connectors``:
    its number of EVSEs; ``rate_units``: ``A`` and/or ``W``)."""
    learnt: dict[str, Any] = {}
    for key, name in _INTEGER_KEYS.items():
        number = _integer(variables[key].value) if key in variables else None
        if number is None and key.endswith("]"):  # the variable without its instance
            plain = key.split("[", 1)[0]
            number = _integer(variables[plain].value) if plain in variables else None
        if number is not None and number >= 0:
            learnt[name] = number
    for key, name in _BOOLEAN_KEYS.items():
        text = (variables[key].value or "").strip().lower() if key in variables else ""
        if text in ("true", "false"):
            learnt[name] = text == "true"
    if "SmartChargingCtrlr.RateUnit" in variables:
        units = csv(variables["SmartChargingCtrlr.RateUnit"].value)
        learnt["rate_units"] = [unit for unit in units if unit in ("A", "W")]
    evses = sorted({variable.evse for key, variable in variables.items() if key.startswith("EVSE.") and variable.evse})
    if evses:
        learnt["connectors"] = len(evses)
    # The connectors of each EVSE (its Connector components), EVSE id as text (a JSON key).
    plugs: dict[str, set[int]] = {}
    for key, variable in variables.items():
        if key.startswith("Connector.") and variable.evse and variable.connector is not None:
            plugs.setdefault(str(variable.evse), set()).add(variable.connector)
    if plugs:
        learnt["evse_connectors"] = {evse: sorted(numbers) for evse, numbers in sorted(plugs.items())}
    local = variables.get("LocalAuthListCtrlr.Entries")
    if local is not None and local.max_limit is not None:
        learnt["local_list_max_length"] = int(local.max_limit)
    # The functional blocks by the 1.6 feature profile names the rest of the gateway asks for.
    blocks = {"LocalAuthListManagement": "LocalAuthListCtrlr", "SmartCharging": "SmartChargingCtrlr"}
    learnt["feature_profiles"] = [
        profile
        for profile, block in blocks.items()
        if _present(variables, block) and _enabled(variables, block) is not False
    ]
    rotation = [
        f"{variable.evse or 0}.{variable.value}"
        for key, variable in variables.items()
        if key.endswith(".PhaseRotation") and variable.value
    ]
    if rotation:
        learnt["phase_rotation"] = rotation
    return learnt


def _present(variables: dict[str, Variable], component: str) -> bool:
    return any(key.startswith(component + ".") for key in variables)


def _enabled(variables: dict[str, Variable], component: str) -> bool | None:
    """A controller's ``Enabled`` (else ``Available``) as a bool; None when it tells neither."""
    for name in ("Enabled", "Available"):
        found = variables.get(f"{component}.{name}")
        if found is not None and (found.value or "").lower() in ("true", "false"):
            return (found.value or "").lower() == "true"
    return None


async def full_report(caller: Caller) -> list[dict[str, Any]] | None:
    """The NotifyReport parts of a GetBaseReport(FullInventory), or None when the station sent
    none (refused, or nothing came within the call timeout of the previous part)."""
    session: Any = caller.session
    request_id = next(_REQUEST_IDS)
    parts: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    def listen(payload: dict[str, Any]) -> None:
        parts.append(payload)
        arrived.set()

    session.report_listeners[request_id] = listen
    try:
        reply = await caller.call("GetBaseReport", {"requestId": request_id, "reportBase": "FullInventory"})
        if reply.get("status") != "Accepted":
            return None
        while not parts or parts[-1].get("tbc") is True:
            arrived.clear()
            # A station gathers its report before the first part: that one may take longer.
            wait = caller.timeout if parts else caller.timeout * FIRST_PART_TIMEOUTS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), wait)
            if not arrived.is_set():
                return parts or None  # what came: the station stopped reporting
        return parts
    except CommandError as error:
        if error.code in (ErrorCode.NOT_CONNECTED, ErrorCode.EXPIRED):
            raise
        return None
    finally:
        session.report_listeners.pop(request_id, None)


async def asked(caller: Caller) -> dict[str, Variable]:
    """The variables the pass needs, asked with one GetVariables (a station without reports); one
    at a time when it refuses that many in one message (DeviceDataCtrlr.ItemsPerMessage)."""
    data = []
    for key in NEEDED:
        component, variable = parse_variable_key(key)
        data.append({"component": component, "variable": variable})
    variables: dict[str, Variable] = {}
    try:
        variables.update(_accepted_values(await caller.call("GetVariables", {"getVariableData": data})))
        return variables
    except CommandError as error:
        if error.code in (ErrorCode.NOT_CONNECTED, ErrorCode.EXPIRED):
            raise
    answered = False
    last: CommandError | None = None
    for item in data:  # one at a time
        try:
            variables.update(_accepted_values(await caller.call("GetVariables", {"getVariableData": [item]})))
            answered = True
        except CommandError as error:
            if error.code in (ErrorCode.NOT_CONNECTED, ErrorCode.EXPIRED):
                raise
            last = error
    if not answered and last is not None:  # it answers neither: the pass fails, as 1.6's does
        raise last
    return variables


def _accepted_values(reply: dict[str, Any]) -> dict[str, Variable]:
    found: dict[str, Variable] = {}
    for item in reply.get("getVariableResult") or ():
        if item.get("attributeStatus") != "Accepted":
            continue
        with contextlib.suppress(KeyError, TypeError, ValueError):
            found[variable_key(item["component"], item["variable"])] = Variable(value=item.get("attributeValue"))
    return found


async def onboard(caller: Caller, wanted: Wanted) -> PassResult:
    parts = await full_report(caller)
    variables = read_report(parts) if parts is not None else await asked(caller)
    learnt = capabilities(variables)
    result = PassResult(capabilities=learnt)
    if parts is None:
        result.refused.append("GetBaseReport (asked GetVariables instead)")
    evses = sorted({v.evse for key, v in variables.items() if key.startswith("EVSE.") and v.evse})
    result.connectors = [evse for evse in evses if 0 < evse <= 100]
    if wanted.measurands:
        await _measurands(caller, wanted, variables, result)
    for key, seconds in zip(INTERVAL_KEYS, (wanted.meter_interval, wanted.clock_aligned_interval), strict=True):
        current = variables[key].value if key in variables else None
        if seconds <= 0 or _integer(current) == seconds:
            continue
        before = caller.memory.configured(caller.cp, key)
        if before is not None and before == (str(seconds), f"refused at {current}"):
            result.refused.append(f"{key} {seconds} refused before")  # not asked again after each boot
            continue
        status = await _set(caller, key, str(seconds), result)
        if status not in ACCEPTED:
            result.refused.append(f"{key} {seconds} {status}")
            if status in ("Rejected", "UnknownVariable", "UnknownComponent", "NotSupportedAttributeType"):
                caller.memory.remember_configured(caller.cp, key, str(seconds), f"refused at {current}")
    return result


async def _set(caller: Caller, key: str, value: str, result: PassResult) -> str:
    """SetVariables' attributeStatus for one variable (or the error code when not answered)."""
    component, variable = parse_variable_key(key)
    data = {"component": component, "variable": variable, "attributeValue": value}
    try:
        reply = await caller.call("SetVariables", {"setVariableData": [data]})
    except CommandError as error:
        if error.code in (ErrorCode.NOT_CONNECTED, ErrorCode.EXPIRED):
            raise
        return error.code.value if error.code != ErrorCode.CALL_ERROR else error.reason.split(":", 1)[0]
    results = reply.get("setVariableResult") or [{}]
    status = str(results[0].get("attributeStatus"))
    if status == "RebootRequired" and key not in result.reboot_required:
        result.reboot_required.append(key)
    return status


async def _measurands(caller: Caller, wanted: Wanted, variables: dict[str, Variable], result: PassResult) -> None:
    """``TxUpdatedMeasurands``: the wanted measurands the station can sample (its valuesList, when
    it tells), the first ones first; if it refuses them, the largest part it accepts."""
    variable = variables.get(MEASURANDS_KEY)
    possible = variable.values_list if variable is not None else None
    want = [item for item in wanted.measurands if possible is None or item in possible]
    unsampled = [item for item in wanted.measurands if item not in want]
    if unsampled:
        result.refused.append(f"{MEASURANDS_KEY} without {', '.join(unsampled)} (not in its valuesList)")
    if not want:
        return
    wanted_text = ",".join(want)
    current = set(csv(variable.value if variable is not None else None))
    memory = caller.memory
    if current == set(want):
        memory.remember_configured(caller.cp, MEASURANDS_KEY, wanted_text, wanted_text)
        return
    before = memory.configured(caller.cp, MEASURANDS_KEY)
    if before is not None and before[0] == wanted_text and set(csv(before[1])) == current:
        _report_missing(want, [item for item in want if item in current], result, " before")
        return
    if variable is not None and variable.mutability == "ReadOnly":
        result.refused.append(f"{MEASURANDS_KEY} is read-only")
        return
    status = await _set(caller, MEASURANDS_KEY, wanted_text, result)
    if status in ACCEPTED:
        memory.remember_configured(caller.cp, MEASURANDS_KEY, wanted_text, wanted_text)
        return
    if status != "Rejected":  # UnknownVariable, a CallError, no answer: adding one by one would not help
        result.refused.append(f"{MEASURANDS_KEY} {status}")
        return
    accepted: list[str] = []
    certain = True
    for measurand in want:
        trial = [*accepted, measurand]
        status = await _set(caller, MEASURANDS_KEY, ",".join(trial), result)
        if status in ACCEPTED:
            accepted = trial
        certain = certain and status in (*ACCEPTED, "Rejected")
    if certain:
        achieved = ",".join(accepted) if accepted else (variable.value or "" if variable is not None else "")
        memory.remember_configured(caller.cp, MEASURANDS_KEY, wanted_text, achieved)
    _report_missing(want, accepted, result)


def _report_missing(want: list[str], got: list[str], result: PassResult, when: str = "") -> None:
    missing = [item for item in want if item not in got]
    if missing:
        result.refused.append(f"{MEASURANDS_KEY} without {', '.join(missing)} (refused{when})")
