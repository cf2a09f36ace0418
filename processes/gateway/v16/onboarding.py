"""The OCPP 1.6 onboarding pass (``processes/gateway/onboarding.py`` says when it runs).

1. GetConfiguration of every key: each one on the bus (``GetConfiguration`` event, so
   ``{cp}__configuration__{key}``), and the capabilities the power-limit and authorization work
   need learnt from it (:func:`capabilities`).
2. Only what differs from the wanted state is changed, one ChangeConfiguration at a time:
   ``MeterValuesSampledData`` (the wanted measurands within ``MeterValuesSampledDataMaxLength``;
   if the charge point refuses the list, the largest part of it that it accepts, found by adding
   the measurands one by one in order of preference), ``MeterValueSampleInterval`` and
   ``ClockAlignedDataInterval`` (0: left as they are). What a charge point refused is remembered
   (``Memory``), so after the next boot nothing is sent for a key that is already as good as it gets.
3. ``RebootRequired`` is reported, never acted on.
"""

from __future__ import annotations

from typing import Any

from common.bus import ErrorCode
from processes.gateway.command_server import CommandError
from processes.gateway.onboarding import Caller, PassResult, Wanted

MEASURANDS_KEY = "MeterValuesSampledData"
MEASURANDS_MAX_KEY = "MeterValuesSampledDataMaxLength"
INTERVAL_KEYS = ("MeterValueSampleInterval", "ClockAlignedDataInterval")

#: Configuration keys -> (capability name, how its value is read).
_INTEGER_KEYS = {
    "NumberOfConnectors": "connectors",
    "ChargeProfileMaxStackLevel": "max_stack_level",
    "ChargingScheduleMaxPeriods": "max_periods",
    "MeterValuesSampledDataMaxLength": "measurands_max_length",
    "MaxChargingProfilesInstalled": "max_profiles",
    "LocalAuthListMaxLength": "local_list_max_length",
    "SendLocalListMaxLength": "send_local_list_max_length",
}
_LIST_KEYS = {
    "SupportedFeatureProfiles": "feature_profiles",
    "ChargingScheduleAllowedChargingRateUnit": "rate_units",
    "ConnectorPhaseRotation": "phase_rotation",
}
_BOOLEAN_KEYS = {
    "LocalAuthListEnabled": "local_list_enabled",
    "AuthorizeRemoteTxRequests": "authorize_remote_tx",
}


def csv(text: str) -> list[str]:
    """A comma-separated configuration value (CSL), its items stripped, empty ones left out."""
    return [item.strip() for item in text.split(",") if item.strip()]


def _integer(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def capabilities(values: dict[str, str]) -> dict[str, Any]:
    """What a charge point's configuration tells about it, by capability name (keys it did not
    report, or reported unreadably, are left out). ``rate_units`` are ``A`` and/or ``W``."""
    learnt: dict[str, Any] = {}
    for key, name in _INTEGER_KEYS.items():
        number = _integer(values.get(key, ""))
        if number is not None and number >= 0:
            learnt[name] = number
    for key, name in _LIST_KEYS.items():
        if key in values:
            learnt[name] = csv(values[key])
    for key, name in _BOOLEAN_KEYS.items():
        text = values.get(key, "").strip().lower()
        if text in ("true", "false"):
            learnt[name] = text == "true"
    if "rate_units" in learnt:
        units = {"Current": "A", "Power": "W"}
        learnt["rate_units"] = [units[item] for item in learnt["rate_units"] if item in units]
    return learnt


async def onboard(caller: Caller, wanted: Wanted) -> PassResult:
    reply = await caller.call("GetConfiguration", {})
    entries = [item for item in reply.get("configurationKey", []) if isinstance(item, dict) and "key" in item]
    caller.emit(
        "GetConfiguration",
        {"configuration_key": entries, "unknown_key": list(reply.get("unknownKey", []))},
    )
    values = {str(item["key"]): str(item.get("value", "")) for item in entries}
    readonly = {str(item["key"]) for item in entries if item.get("readonly") is True}
    learnt = capabilities(values)
    result = PassResult(capabilities=learnt)
    connectors = learnt.get("connectors")
    if isinstance(connectors, int) and 0 < connectors <= 100:
        result.connectors = list(range(1, connectors + 1))
    if wanted.measurands:
        await _measurands(caller, wanted, values, readonly, learnt.get("measurands_max_length"), result)
    for key, seconds in zip(INTERVAL_KEYS, (wanted.meter_interval, wanted.clock_aligned_interval), strict=True):
        if seconds > 0 and _integer(values.get(key, "")) != seconds:
            status = await _change(caller, key, str(seconds), result)
            if status not in ("Accepted", "RebootRequired"):
                result.refused.append(f"{key} {seconds} {status}")
    return result


async def _change(caller: Caller, key: str, value: str, result: PassResult) -> str:
    """ChangeConfiguration's status (or the error code when it was not answered)."""
    try:
        reply = await caller.call("ChangeConfiguration", {"key": key, "value": value})
    except CommandError as error:
        if error.code in (ErrorCode.NOT_CONNECTED, ErrorCode.EXPIRED):
            raise
        return error.code.value if error.code != ErrorCode.CALL_ERROR else error.reason.split(":", 1)[0]
    status = str(reply.get("status"))
    if status == "RebootRequired" and key not in result.reboot_required:
        result.reboot_required.append(key)
    return status


async def _measurands(
    caller: Caller,
    wanted: Wanted,
    values: dict[str, str],
    readonly: set[str],
    max_length: int | None,
    result: PassResult,
) -> None:
    """``MeterValuesSampledData``: the wanted measurands (as many as the charge point takes, the
    first ones first); if it refuses them, the largest part it accepts, adding them one by one."""
    want = list(wanted.measurands)
    limit = max_length if max_length is not None and 0 < max_length < len(want) else len(want)
    wanted_text = ",".join(want)
    current = set(csv(values.get(MEASURANDS_KEY, "")))
    if current == set(want[:limit]):
        caller.memory.remember_configured(caller.cp, MEASURANDS_KEY, wanted_text, ",".join(want[:limit]))
        _report_missing(want, want[:limit], limit, result)
        return
    before = caller.memory.configured(caller.cp, MEASURANDS_KEY)
    if before is not None and before[0] == wanted_text and set(csv(before[1])) == current:
        # As good as this charge point takes it: it refused the rest before.
        _report_missing(want, [item for item in want if item in current], limit, result, " before")
        return
    if MEASURANDS_KEY in readonly:
        result.refused.append(f"{MEASURANDS_KEY} is read-only")
        return
    status = await _change(caller, MEASURANDS_KEY, ",".join(want[:limit]), result)
    if status in ("Accepted", "RebootRequired"):
        caller.memory.remember_configured(caller.cp, MEASURANDS_KEY, wanted_text, ",".join(want[:limit]))
        _report_missing(want, want[:limit], limit, result)
        return
    if status != "Rejected":  # NotSupported, a CallError, no answer: adding one by one would not help
        result.refused.append(f"{MEASURANDS_KEY} {status}")
        return
    accepted: list[str] = []
    certain = True  # every trial answered Accepted, RebootRequired or Rejected
    for measurand in want:
        if len(accepted) == limit:
            break
        trial = [*accepted, measurand]
        status = await _change(caller, MEASURANDS_KEY, ",".join(trial), result)
        if status in ("Accepted", "RebootRequired"):
            accepted = trial
        certain = certain and status in ("Accepted", "RebootRequired", "Rejected")
    if certain:  # else the next pass tries again
        achieved = ",".join(accepted) if accepted else values.get(MEASURANDS_KEY, "")
        caller.memory.remember_configured(caller.cp, MEASURANDS_KEY, wanted_text, achieved)
    _report_missing(want, accepted, limit, result)


def _report_missing(want: list[str], got: list[str], limit: int, result: PassResult, when: str = "") -> None:
    """What of the wanted measurands the charge point does not report, and why."""
    missing = [item for item in want if item not in got]
    if not missing:
        return
    if len(got) >= limit:  # full: the rest did not fit
        result.refused.append(f"{MEASURANDS_KEY} takes at most {limit}: without {', '.join(missing)}")
    else:
        result.refused.append(f"{MEASURANDS_KEY} without {', '.join(missing)} (refused{when})")
