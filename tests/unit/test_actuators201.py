"""Unit tests of the OCPP 2.0.1 actuator plans (processes.bridge.actuators.v201) and of the
runner's per-charge-point protocol version, against a scripted gateway: no sockets.

The same actuator keys make the 2.0.1 calls for a 2.0.1 charging station (DATAPOINTS.md, "Added
in the second round"; CONTRACT of issue 18), every payload valid by the library's 2.0.1 schemas,
with the same outcomes in ``__result``; power limits fitted exactly as for 1.6."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, cast

import pytest
from ocpp.messages import Call, _validate_payload

from common.bemcom_topics import Topics
from common.bus import ErrorCode, Event, Reply
from common.command_client import CommandClient
from common.schemas import V16, V201
from common.settings import load_bridge
from processes.bridge.actuators import v201
from processes.bridge.actuators.facts import charger_facts
from processes.bridge.actuators.limits_fit import (
    CHARGE_POINT_MAX_PROFILE,
    EFFECTIVE_LIMIT,
    LIMIT_PROFILE_BASE,
    SCHEDULE_PROFILE_BASE,
    START_MARGIN_MS,
    TX_PROFILE_BASE,
    limit_stack_level,
    schedule_stack_level,
)
from processes.bridge.actuators.plan import Context, Facts, OcppCall
from processes.bridge.actuators.runner import ActuatorRunner, Write
from processes.bridge.actuators.table import ACTUATOR_KINDS, LIMIT_QUESTIONS, SPECS, ActuatorKey, plan_calls
from processes.bridge.actuators.values import InvalidValue, iso
from processes.bridge.bridge import Bridge
from processes.bridge.datapoint_state import DatapointState

NOW = 1_790_000_000_000
NOW_ISO = "2026-09-21T14:13:20Z"
START_ISO = iso(NOW - START_MARGIN_MS)


def key(kind: str, connector: int | None = 1, cp: str = "CS_1") -> ActuatorKey:
    if SPECS[kind].level.value == "charge point":
        return ActuatorKey(cp, None, kind, f"{cp}__{kind}")
    return ActuatorKey(cp, connector, kind, f"{cp}__{connector}__{kind}")


def context(**facts: Any) -> Context:
    unit = facts.pop("rate_unit", "W")
    phases = facts.pop("phases", 3)
    active = facts.pop("active_transaction", None)
    return Context(NOW, 230.0, phases, unit, active, "CS_1", Facts(**facts), V201)


def plan(kind: str, value: Any, connector: int | None = 1, ctx: Context | None = None) -> list[OcppCall]:
    """The 2.0.1 calls (checked by ``plan_calls``), checked once more by the library itself."""
    calls = plan_calls(key(kind, connector), value, ctx or context(), V201)
    for call in calls:
        _validate_payload(Call(unique_id="1", action=call.action, payload=call.payload), V201)
    return calls


def profile(call: OcppCall) -> dict[str, Any]:
    assert call.action == "SetChargingProfile"
    result: dict[str, Any] = call.payload["chargingProfile"]
    return result


def schedule(call: OcppCall) -> dict[str, Any]:
    [only] = profile(call)["chargingSchedule"]  # a list of (here) one schedule in 2.0.1
    result: dict[str, Any] = only
    return result


def period(call: OcppCall) -> dict[str, Any]:
    result: dict[str, Any] = schedule(call)["chargingSchedulePeriod"][0]
    return result


def ok(payload: dict[str, Any]) -> Reply:
    return Reply("1", True, {"status": payload.get("status"), "payload": payload})


# -- the table ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ACTUATOR_KINDS)
def test_every_actuator_has_a_2_0_1_plan(kind: str) -> None:
    assert set(SPECS[kind].plans) == {V16, V201}
    assert set(LIMIT_QUESTIONS) == {V16, V201}


@pytest.mark.parametrize(
    ("kind", "connector"),
    [
        (kind, c)
        for kind in ACTUATOR_KINDS
        for c in (0, 2)
        # Unlock needs an EVSE; the announced configuration example is a 1.6 key (one example per key).
        if (kind, c) != ("execute_unlock_connector", 0) and kind != "execute_change_configuration"
    ],
)
def test_every_example_plans_schema_valid_for_2_0_1(kind: str, connector: int) -> None:
    assert plan(kind, SPECS[kind].example, connector, context(active_transaction="tx-7"))


def test_a_1_6_configuration_key_is_refused_naming_the_2_0_1_form() -> None:
    with pytest.raises(InvalidValue, match=r"Component\[\.componentInstance\]\[\.evseId\[\.connectorId\]\]\.Variable"):
        plan("execute_change_configuration", SPECS["execute_change_configuration"].example, None)


# -- power limits: fitted as for 1.6 ----------------------------------------------------------


def test_a_limit_is_a_tx_default_profile_on_the_evse_with_a_list_of_one_schedule() -> None:
    [call] = plan("execute_send_charging_profile", 11000, 1)
    assert call.payload == {
        "evseId": 1,
        "chargingProfile": {
            "id": LIMIT_PROFILE_BASE + 1,
            "stackLevel": limit_stack_level(1),
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [
                {
                    "id": LIMIT_PROFILE_BASE + 1,
                    "startSchedule": START_ISO,
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
                }
            ],
        },
    }


@pytest.mark.parametrize(
    ("watts", "unit", "phases", "min_current", "expected"),
    [
        (11000, "A", 3, 0.0, {"startPeriod": 0, "limit": 15.9, "numberPhases": 3}),  # rounded down
        (7400, "A", 1, 0.0, {"startPeriod": 0, "limit": 32.1, "numberPhases": 1}),  # never above
        (3000, "A", 3, 6.0, {"startPeriod": 0, "limit": 0, "numberPhases": 3}),  # below 6 A: pause
        (3000, "W", 3, 6.0, {"startPeriod": 0, "limit": 0}),
        (4140.05, "W", 3, 6.0, {"startPeriod": 0, "limit": 4140}),
    ],
)
def test_a_limit_is_fitted_to_the_rate_unit_phases_and_minimum_current(
    watts: float, unit: str, phases: int, min_current: float, expected: dict[str, Any]
) -> None:
    ctx = context(rate_unit=unit, phases=phases, min_current=min_current)
    [call] = plan("execute_send_charging_profile", watts, 1, ctx)
    assert schedule(call)["chargingRateUnit"] == unit
    assert period(call) == expected


@pytest.mark.parametrize(("highest", "levels"), [(None, (3, 4)), (8, (3, 4)), (1, (1, 1)), (0, (0, 0)), (3, (2, 3))])
def test_stack_levels_stay_within_the_stations_maximum(highest: int | None, levels: tuple[int, int]) -> None:
    ctx = context(max_stack_level=highest)
    [limit] = [call for call in plan("execute_send_charging_profile", 11000, 1, ctx) if not call.preparatory]
    entries = [{"from_timestamp": NOW, "to_timestamp": None, "value": 5}]
    [plan_] = [call for call in plan("execute_send_charging_schedule", entries, 1, ctx) if not call.preparatory]
    assert (profile(plan_)["stackLevel"], profile(limit)["stackLevel"]) == levels
    assert levels == (schedule_stack_level(1, ctx), limit_stack_level(1, ctx))


@pytest.mark.parametrize("highest", [0, 1, 2, 3])
def test_with_few_stack_levels_the_level_is_cleared_before_a_tx_default_profile_is_set(highest: int) -> None:
    """2.0.1 rejects a second TxDefaultProfile at a level (K01.FR.06, K01.FR.52/53) where 1.6
    replaced it: where BEMCom's profiles must share levels, the level is cleared first."""
    ctx = context(max_stack_level=highest)
    for connector in (0, 1, 2):
        *clears, limit = plan("execute_send_charging_profile", 11000, connector, ctx)
        assert all(clear.preparatory for clear in clears) and not limit.preparatory
        level = profile(limit)["stackLevel"]
        criteria = {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": level}
        # On its own EVSE and EVSE 0 (EVSE 0's on every EVSE): what other EVSEs hold stays.
        wheres = [{"evseId": connector}, {"evseId": 0}] if connector else [{}]
        assert clears == [
            OcppCall("ClearChargingProfile", {"chargingProfileCriteria": criteria | where}, preparatory=True)
            for where in wheres
        ]
        entries = [{"from_timestamp": NOW, "to_timestamp": None, "value": 5}]
        first, *_ = plan("execute_send_charging_schedule", entries, connector, ctx)
        assert first.action == "ClearChargingProfile" and first.preparatory


@pytest.mark.parametrize("highest", [None, 4, 8])
def test_with_four_stack_levels_no_two_profiles_share_one_where_2_0_1_forbids_it(highest: int | None) -> None:
    """EVSE 0 at 1 and 2, every other EVSE at 3 and 4 (EVSEs above 0 may share a level): nothing
    is ever cleared to make room."""
    ctx = context(max_stack_level=highest)
    levels = {}
    for connector in (0, 1, 2, 7):
        [limit] = plan("execute_send_charging_profile", 11000, connector, ctx)
        entries = [{"from_timestamp": NOW, "to_timestamp": None, "value": 5}]
        [schedule_] = plan("execute_send_charging_schedule", entries, connector, ctx)
        levels[connector] = (profile(schedule_)["stackLevel"], profile(limit)["stackLevel"])
    assert levels == {0: (1, 2), 1: (3, 4), 2: (3, 4), 7: (3, 4)}


def test_a_remote_start_without_an_evse_carries_no_tx_profile() -> None:
    """EVSE 0's TxDefaultProfile governs the session; a TxProfile 3000 would block the TxProfile a
    later limit sets at its level for the same transaction (K01.FR.39)."""
    ctx = context(limits=((0, 7400.0), (1, 5000.0)))
    [anywhere] = plan("execute_remote_start_transaction", "TAG", 0, ctx)
    assert "chargingProfile" not in anywhere.payload and "evseId" not in anywhere.payload
    [on_one] = plan("execute_remote_start_transaction", "TAG", 1, ctx)
    assert on_one.payload["chargingProfile"]["chargingProfilePurpose"] == "TxProfile"


def test_a_status_notification_is_triggered_for_one_connector() -> None:
    [call] = plan("execute_trigger_message", 5, 2)
    assert call.payload == {"requestedMessage": "StatusNotification", "evse": {"id": 2, "connectorId": 1}}
    with pytest.raises(InvalidValue, match="an EVSE's key"):
        plan("execute_trigger_message", "StatusNotification", 0)


def test_a_limit_during_a_transaction_is_also_its_tx_profile_with_the_string_id() -> None:
    ctx = context(transactions=((2, "b7e1c9d0-4a4c-4f8e-9a77-0d7f6c1e2a10"), (1, "other")))
    default, tx = plan("execute_send_charging_profile", 11000, 2, ctx)
    assert default.payload["evseId"] == tx.payload["evseId"] == 2
    assert profile(default)["chargingProfilePurpose"] == "TxDefaultProfile"
    assert profile(tx) | {"chargingSchedule": None} == {
        "id": TX_PROFILE_BASE + 2,
        "stackLevel": profile(default)["stackLevel"],
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "transactionId": "b7e1c9d0-4a4c-4f8e-9a77-0d7f6c1e2a10",
        "chargingSchedule": None,
    }
    assert schedule(tx) == schedule(default) | {"id": TX_PROFILE_BASE + 2}


def test_a_limit_on_evse_0_binds_every_running_transaction_without_a_limit_of_its_own() -> None:
    ctx = context(transactions=((1, "a"), (2, "b")), limits=((2, 3000.0),))
    calls = plan("execute_send_charging_profile", 7000, 0, ctx)
    assert [(call.payload["evseId"], profile(call).get("transactionId")) for call in calls] == [(0, None), (1, "a")]


def test_limits_are_leases_with_valid_to_when_the_failsafe_needs_them() -> None:
    until = NOW + 300_000
    ctx = context(transactions=((1, "a"),), lease_until_ms=until)
    calls = plan("execute_send_charging_profile", 11000, 1, ctx)
    calls += plan("execute_charge_point_max_power", 22000, None, ctx)
    calls += plan("execute_send_charging_schedule", [{"from_timestamp": NOW, "to_timestamp": None, "value": 5}], 1, ctx)
    assert [profile(call)["validTo"] for call in calls] == [iso(until)] * 4
    assert all("validTo" not in profile(call) for call in plan("execute_send_charging_profile", 11000, 1))


@pytest.mark.parametrize("removal", [None, "", "  "])
def test_removing_a_limit_clears_bemcoms_profiles_by_id(removal: Any) -> None:
    calls = plan("execute_send_charging_profile", removal, 1, context(transactions=((1, "a"),)))
    assert [call.payload for call in calls] == [
        {"chargingProfileId": LIMIT_PROFILE_BASE + 1},
        {"chargingProfileId": TX_PROFILE_BASE + 1},
    ]
    assert {call.action for call in calls} == {"ClearChargingProfile"}


def test_clear_charging_profile_clears_the_limit_the_schedule_and_the_tx_profile() -> None:
    calls = plan("execute_clear_charging_profile", True, 2, context(transactions=((2, "a"),)))
    assert [call.payload["chargingProfileId"] for call in calls] == [
        LIMIT_PROFILE_BASE + 2,
        SCHEDULE_PROFILE_BASE + 2,
        TX_PROFILE_BASE + 2,
    ]


def test_the_charge_point_maximum_is_a_charging_station_max_profile_on_evse_0() -> None:
    [call] = plan("execute_charge_point_max_power", 22000, None, context(max_stack_level=0))
    assert call.payload["evseId"] == 0
    assert profile(call)["id"] == CHARGE_POINT_MAX_PROFILE
    assert profile(call)["chargingProfilePurpose"] == "ChargingStationMaxProfile"
    assert (profile(call)["stackLevel"], profile(call)["chargingProfileKind"]) == (0, "Absolute")
    assert plan("execute_charge_point_max_power", None, None)[0].payload == {"chargingProfileId": 900}


def test_a_relative_charger_gets_its_limit_without_a_start() -> None:
    [call] = plan("execute_send_charging_profile", 11000, 1, context(profile_kind="Relative"))
    assert profile(call)["chargingProfileKind"] == "Relative"
    assert "startSchedule" not in schedule(call)


def test_a_schedule_is_one_absolute_profile_cut_to_the_stations_periods() -> None:
    hour = 3_600_000
    value = [
        {"from_timestamp": NOW, "to_timestamp": NOW + hour, "value": 11000},
        {"from_timestamp": NOW + 2 * hour, "to_timestamp": NOW + 3 * hour, "value": 4000},
    ]
    [call] = plan("execute_send_charging_schedule", value, 1)
    assert profile(call)["id"] == SCHEDULE_PROFILE_BASE + 1
    assert schedule(call)["startSchedule"] == NOW_ISO
    assert [p["startPeriod"] for p in schedule(call)["chargingSchedulePeriod"]] == [0, 3600, 7200]
    assert schedule(call)["duration"] == 3 * 3600
    [cut] = plan("execute_send_charging_schedule", value, 1, context(max_periods=2))
    assert len(schedule(cut)["chargingSchedulePeriod"]) == 2
    assert "cut to its 2 periods" in cut.note


@pytest.mark.parametrize("value", ["x", -1, 1e9, True, {"w": 1}, [1]])
def test_a_limit_that_is_no_power_is_an_invalid_value(value: Any) -> None:
    with pytest.raises(InvalidValue):
        plan("execute_send_charging_profile", value, 1)


@pytest.mark.parametrize("value", ["[", [], [{"value": 1, "from_timestamp": NOW, "to_timestamp": NOW}], 5])
def test_a_schedule_that_does_not_fit_is_an_invalid_value(value: Any) -> None:
    with pytest.raises(InvalidValue):
        plan("execute_send_charging_schedule", value, 1)


# -- read-back ------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [(None, 3600), ("", 3600), (True, 3600), (600, 600), ("60", 60)])
def test_get_composite_schedule_asks_the_evse(value: Any, seconds: int) -> None:
    [call] = plan("execute_get_composite_schedule", value, 2)
    assert call == OcppCall("GetCompositeSchedule", {"duration": seconds, "evseId": 2})


@pytest.mark.parametrize("value", [0, 1.5, "x", 10**7])
def test_a_duration_that_does_not_fit_is_an_invalid_value(value: Any) -> None:
    with pytest.raises(InvalidValue, match="duration"):
        plan("execute_get_composite_schedule", value, 2)


def composite(status: str = "Accepted", **fields: Any) -> Reply:
    payload: dict[str, Any] = {"status": status}
    if fields:
        payload["schedule"] = {"evseId": 1, "duration": 86400, **fields}
    return ok(payload)


def test_the_limit_in_force_is_read_from_the_2_0_1_composite_schedule() -> None:
    ctx = context(phases=1)
    start = "2026-09-21T14:10:00Z"  # 200 s before NOW
    periods = [{"startPeriod": 0, "limit": 10}, {"startPeriod": 100, "limit": 32, "numberPhases": 1}]
    reply = composite(scheduleStart=start, chargingRateUnit="A", chargingSchedulePeriod=periods)
    assert v201.effective_limit(reply, ctx) == {EFFECTIVE_LIMIT: 7360.0}
    watts = composite(
        scheduleStart=start, chargingRateUnit="W", chargingSchedulePeriod=[{"startPeriod": 0, "limit": 0}]
    )
    assert v201.effective_limit(watts, ctx) == {EFFECTIVE_LIMIT: 0.0}
    assert v201.effective_limit(composite(), ctx) == {EFFECTIVE_LIMIT: None}  # no schedule: no limit
    ended = composite(scheduleStart=start, duration=60, chargingRateUnit="W", chargingSchedulePeriod=periods)
    assert v201.effective_limit(ended, ctx) == {EFFECTIVE_LIMIT: None}
    assert v201.effective_limit(composite("Rejected"), ctx) == {}
    assert v201.effective_limit(Reply.failure("1", ErrorCode.CALL_ERROR, "NotSupported: no"), ctx) == {}
    assert v201.read_back(3) == OcppCall("GetCompositeSchedule", {"duration": 60, "evseId": 3})


def test_the_rate_unit_is_read_from_smart_charging_ctrlr_rate_unit() -> None:
    query = LIMIT_QUESTIONS[V201].rate_unit_query
    assert query.payload == {
        "getVariableData": [{"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "RateUnit"}}]
    }
    _validate_payload(Call(unique_id="1", action=query.action, payload=query.payload), V201)

    def answer(status: str, value: str | None = None) -> Reply:
        item: dict[str, Any] = {"attributeStatus": status, **query.payload["getVariableData"][0]}
        return ok({"getVariableResult": [item | ({"attributeValue": value} if value is not None else {})]})

    rate_unit_of = LIMIT_QUESTIONS[V201].rate_unit_of
    assert rate_unit_of(answer("Accepted", "A,W")) == rate_unit_of(answer("Accepted", "W")) == "W"
    assert rate_unit_of(answer("Accepted", "A")) == "A"
    assert rate_unit_of(answer("UnknownVariable")) == "W"  # not told: W (and once more in A if refused)
    assert LIMIT_QUESTIONS[V201].rate_unit_of_value("A") == "A"


# -- EVSE actuators -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "BootNotification"),
        (1, "LogStatusNotification"),  # 1.6's DiagnosticsStatusNotification
        ("2", "FirmwareStatusNotification"),
        (3.0, "Heartbeat"),
        (4, "MeterValues"),
        ("DiagnosticsStatusNotification", "LogStatusNotification"),
        ("TransactionEvent", "TransactionEvent"),
        ("SignChargingStationCertificate", "SignChargingStationCertificate"),
        ("MeterValues", "MeterValues"),
    ],
)
def test_trigger_message_keeps_the_1_6_numbers_and_takes_the_2_0_1_names(value: Any, message: str) -> None:
    [call] = plan("execute_trigger_message", value, 2)
    assert call.payload == {"requestedMessage": message, "evse": {"id": 2}}
    [whole] = plan("execute_trigger_message", value, 0)
    assert whole.payload == {"requestedMessage": message}


@pytest.mark.parametrize("value", [6, -1, 1.5, "Diagnostics", None, True, [4]])
def test_an_unknown_message_to_trigger_is_an_invalid_value_naming_the_choices(value: Any) -> None:
    with pytest.raises(InvalidValue, match=r"1 LogStatusNotification.*TransactionEvent"):
        plan("execute_trigger_message", value, 1)


def test_remote_start_is_request_start_transaction_with_a_central_id_token() -> None:
    [call] = plan("execute_remote_start_transaction", " TAG1 ", 2)
    assert call.action == "RequestStartTransaction"
    assert call.payload == {
        "idToken": {"idToken": "TAG1", "type": "Central"},
        "remoteStartId": NOW % 2**31,
        "evseId": 2,
    }
    [anywhere] = plan("execute_remote_start_transaction", "TAG1", 0)
    assert "evseId" not in anywhere.payload


def test_remote_start_carries_the_limit_in_force_as_its_tx_profile() -> None:
    [call] = plan("execute_remote_start_transaction", "TAG1", 1, context(limits=((0, 7000.0),)))
    charging = call.payload["chargingProfile"]
    assert (charging["id"], charging["chargingProfilePurpose"]) == (TX_PROFILE_BASE + 1, "TxProfile")
    assert "transactionId" not in charging
    assert charging["chargingSchedule"][0]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 7000}]


@pytest.mark.parametrize("value", [None, "", "  ", True, {"tag": 1}, ["T"], "X" * 37])
def test_remote_start_without_a_fitting_id_token_is_an_invalid_value(value: Any) -> None:
    with pytest.raises(InvalidValue):
        plan("execute_remote_start_transaction", value, 1)


def test_remote_stop_is_request_stop_transaction_of_the_string_id() -> None:
    [call] = plan("execute_remote_stop_transaction", True, 1, context(active_transaction="tx-9"))
    assert call == OcppCall("RequestStopTransaction", {"transactionId": "tx-9"})
    with pytest.raises(InvalidValue, match="no active transaction on EVSE 1 of CS_1"):
        plan("execute_remote_stop_transaction", True, 1)


def test_unlock_names_the_evse_and_its_connector() -> None:
    assert plan("execute_unlock_connector", True, 2) == [OcppCall("UnlockConnector", {"evseId": 2, "connectorId": 1})]
    with pytest.raises(InvalidValue, match="EVSE id above 0"):
        plan("execute_unlock_connector", True, 0)


@pytest.mark.parametrize(
    ("value", "status"),
    [("Operative", "Operative"), ("inoperative", "Inoperative"), (True, "Operative"), (0, "Inoperative")],
)
def test_change_availability_of_an_evse_or_the_whole_station(value: Any, status: str) -> None:
    assert plan("execute_change_availability", value, 3)[0].payload == {"operationalStatus": status, "evse": {"id": 3}}
    assert plan("execute_change_availability", value, 0)[0].payload == {"operationalStatus": status}


@pytest.mark.parametrize("value", ["Broken", None, 2, [1]])
def test_an_availability_that_does_not_fit_is_an_invalid_value(value: Any) -> None:
    with pytest.raises(InvalidValue, match="Operative or Inoperative"):
        plan("execute_change_availability", value, 1)


# -- charging station actuators -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [("Soft", "OnIdle"), ("soft", "OnIdle"), ("Hard", "Immediate"), ("OnIdle", "OnIdle"), ("Immediate", "Immediate")],
)
def test_reset_soft_is_on_idle_and_hard_is_immediate(value: str, kind: str) -> None:
    assert plan("execute_reset", value, None) == [OcppCall("Reset", {"type": kind})]


@pytest.mark.parametrize("value", ["Medium", "", None, 1, True])
def test_a_reset_that_does_not_fit_is_an_invalid_value(value: Any) -> None:
    with pytest.raises(InvalidValue, match="Soft or Hard"):
        plan("execute_reset", value, None)


@pytest.mark.parametrize(
    ("value", "item"),
    [
        (
            {"key": "SampledDataCtrlr.TxUpdatedInterval", "value": 60},
            {
                "attributeValue": "60",
                "component": {"name": "SampledDataCtrlr"},
                "variable": {"name": "TxUpdatedInterval"},
            },
        ),
        (
            "EVSE.1.Power=7400",
            {"attributeValue": "7400", "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}},
        ),
        (
            "OCPPCommCtrlr.MessageTimeout[Default] = 30",
            {
                "attributeValue": "30",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "MessageTimeout", "instance": "Default"},
            },
        ),
        (
            {"key": "Connector.1.2.Enabled", "value": True},
            {
                "attributeValue": "true",
                "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 2}},
                "variable": {"name": "Enabled"},
            },
        ),
        (
            {"key": "TokenReader.Front.Enabled", "value": "false"},
            {
                "attributeValue": "false",
                "component": {"name": "TokenReader", "instance": "Front"},
                "variable": {"name": "Enabled"},
            },
        ),
    ],
)
def test_change_configuration_is_set_variables_of_the_keys_variable(value: Any, item: dict[str, Any]) -> None:
    assert plan("execute_change_configuration", value, None) == [OcppCall("SetVariables", {"setVariableData": [item]})]


@pytest.mark.parametrize(
    "value",
    [{"key": "HeartbeatInterval", "value": 1}, "a..b=1", "Ctrlr.1.2.3.Var=1", {"key": "X.Var[]", "value": 1}, "=1", 5],
)
def test_a_configuration_change_that_does_not_fit_is_an_invalid_value(value: Any) -> None:
    with pytest.raises(InvalidValue):
        plan("execute_change_configuration", value, None)


def test_a_value_too_long_for_the_schema_is_an_invalid_value() -> None:
    with pytest.raises(InvalidValue, match=r"fails the OCPP 2\.0\.1 schema"):
        plan("execute_change_configuration", {"key": "A.B", "value": "x" * 1001}, None)


def test_get_configuration_is_get_variables_or_a_full_report() -> None:
    [report] = plan("execute_get_configuration", None, None)
    assert report == OcppCall("GetBaseReport", {"requestId": NOW % 2**31, "reportBase": "FullInventory"})
    assert plan("execute_get_configuration", [], None)[0].action == "GetBaseReport"
    [one] = plan("execute_get_configuration", "SampledDataCtrlr.TxUpdatedMeasurands", None)
    assert one.payload == {
        "getVariableData": [{"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedMeasurands"}}]
    }
    [two] = plan("execute_get_configuration", ["A.B", "EVSE.2.Power"], None)
    assert [item["component"] for item in two.payload["getVariableData"]] == [
        {"name": "A"},
        {"name": "EVSE", "evse": {"id": 2}},
    ]
    for bad in ("HeartbeatInterval", ["A.B", "C"], 7, {"key": "A.B"}):
        with pytest.raises(InvalidValue):
            plan("execute_get_configuration", bad, None)


def variable_result(key: str, status: str, value: str | None = None, **more: Any) -> dict[str, Any]:
    item = v201.variable(key) | {"attributeStatus": status, **more}
    return item | ({"attributeValue": value} if value is not None else {})


def test_set_variables_outcome_is_the_attribute_status() -> None:
    outcome = SPECS["execute_change_configuration"].plans[V201].outcome
    rebooting = ok({"setVariableResult": [variable_result("A.B", "RebootRequired")]})
    assert outcome([rebooting]).text == "RebootRequired"
    assert outcome([ok({"setVariableResult": [variable_result("A.B", "Accepted")]})]).text == "Accepted"
    assert outcome([Reply.failure("1", ErrorCode.TIMEOUT, "no answer")]).text == "Timeout"


def test_get_variables_learns_the_configuration_by_key() -> None:
    outcome = SPECS["execute_get_configuration"].plans[V201].outcome
    answer = ok(
        {
            "getVariableResult": [
                variable_result("EVSE.1.Power", "Accepted", "22000"),
                variable_result("SmartChargingCtrlr.RateUnit", "Accepted", "A"),
                variable_result("A.B", "UnknownVariable"),
                variable_result("A.C", "Accepted", "5", attributeType="Target"),  # not the Actual value
            ]
        }
    )
    result = outcome([answer])
    assert (result.text, result.configuration) == (
        "Accepted",
        {"EVSE.1.Power": "22000", "SmartChargingCtrlr.RateUnit": "A"},
    )
    unknown = outcome([ok({"getVariableResult": [variable_result("A.B", "UnknownComponent")]})])
    assert (unknown.text, unknown.configuration) == ("UnknownComponent", {})
    assert outcome([ok({"status": "Accepted"})]).text == "Accepted"  # GetBaseReport: NotifyReport follows
    assert outcome([ok({"status": "EmptyResultSet"})]).text == "EmptyResultSet"
    assert outcome([Reply.failure("1", ErrorCode.NOT_CONNECTED, "gone")]).text == "NotConnected"


def test_data_transfer_keeps_its_data_as_written() -> None:
    value = {"vendor_id": "acme", "message_id": 7, "data": {"mode": "eco"}}
    [call] = plan("execute_data_transfer", value, None)
    assert call.payload == {"vendorId": "acme", "messageId": "7", "data": {"mode": "eco"}}
    with pytest.raises(InvalidValue, match="vendor_id"):
        plan("execute_data_transfer", {"data": 1}, None)


def test_an_ocpp_call_is_checked_against_the_2_0_1_schemas() -> None:
    payload = {"requestId": 4, "reportBase": "SummaryInventory"}
    value = {"action": "GetBaseReport", "payload": payload}
    assert plan("execute_ocpp_call", value, None) == [OcppCall("GetBaseReport", payload)]
    with pytest.raises(InvalidValue, match=r"not a call a central system sends in OCPP 2\.0\.1"):
        plan("execute_ocpp_call", {"action": "RemoteStartTransaction", "payload": {"idTag": "T"}}, None)
    with pytest.raises(InvalidValue, match=r"fails the OCPP 2\.0\.1 schema"):
        plan("execute_ocpp_call", {"action": "Reset", "payload": {"type": "Soft"}}, None)
    with pytest.raises(InvalidValue):
        plan("execute_ocpp_call", "not json", None)


# -- facts ----------------------------------------------------------------------------------


def test_2_0_1_facts_keep_string_transaction_ids_and_1_6_facts_whole_numbers() -> None:
    pairs = [[1, "tx-a"], [2, 17], [3, ""], ["x", "tx-b"], [4, "y" * 37], [5]]
    assert charger_facts({}, {}, pairs, {}, V201).transactions == ((1, "tx-a"),)
    assert charger_facts({}, {}, pairs, {}).transactions == ((2, 17),)


# -- the runner: the version per charge point -----------------------------------------------


class Gateway:
    """Answers the runner's commands like the gateway: ``charge_point`` with each charge point's
    facts and protocol, ``active_transaction``, and each call from a script; records them all."""

    def __init__(self, charge_points: dict[str, dict[str, Any]], **answers: list[Reply]) -> None:
        self.charge_points = charge_points
        self.answers = answers
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.active: dict[str, Any] = {}

    async def request(self, command: str, args: dict[str, Any] | None = None, *_: Any, **__: Any) -> Reply:
        args = args or {}
        self.requests.append((command, args))
        if command == "charge_point":
            known = self.charge_points.get(args["cp"])
            if known is None:
                return Reply.failure("1", ErrorCode.NOT_CONNECTED, f"charge point {args['cp']} is not connected")
            return Reply("f", True, {"capabilities": {}, "profile": {}, "transactions": []} | known)
        if command == "active_transaction":
            return Reply("t", True, self.active.get(args["cp"]))
        return self.answers[args["action"]].pop(0)

    def calls(self, cp: str) -> list[OcppCall]:
        return [
            OcppCall(args["action"], args["payload"])
            for command, args in self.requests
            if command == "call" and args["cp"] == cp
        ]

    def asked(self, command: str, cp: str) -> int:
        return sum(1 for name, args in self.requests if name == command and args.get("cp") == cp)


def accepted(status: str = "Accepted") -> Reply:
    return Reply("1", True, {"status": status, "payload": {"status": status}})


def runner_for(gateway: Gateway, report: Any = lambda *_: None, **options: Any) -> ActuatorRunner:
    return ActuatorRunner(cast(CommandClient, gateway), 5.0, 230.0, 3, report, **options)


def write(actuator: ActuatorKey, value: Any) -> Write:
    return Write(actuator, value, asyncio.get_running_loop().time())


MIXED = {"CP_16": {"protocol": "ocpp1.6"}, "CS_201": {"protocol": "ocpp2.0.1"}}


def test_a_1_6_and_a_2_0_1_charge_point_in_one_runner_get_their_own_calls() -> None:
    gateway = Gateway(
        MIXED,
        UnlockConnector=[accepted("Unlocked") for _ in range(4)],
        Reset=[accepted(), accepted()],
        TriggerMessage=[accepted(), accepted()],
    )
    runner = runner_for(gateway)

    async def scenario() -> list[str]:
        outcomes = []
        for cp in ("CP_16", "CS_201"):
            for actuator, value in (
                (key("execute_unlock_connector", 1, cp), True),
                (key("execute_reset", None, cp), "Soft"),
                (key("execute_trigger_message", 2, cp), 1),
                (key("execute_unlock_connector", 2, cp), True),
            ):
                outcomes.append((await runner.carry_out(write(actuator, value))).outcome)
        return outcomes

    assert asyncio.run(scenario()) == ["Unlocked", "Accepted", "Accepted", "Unlocked"] * 2
    assert gateway.calls("CP_16") == [
        OcppCall("UnlockConnector", {"connectorId": 1}),
        OcppCall("Reset", {"type": "Soft"}),
        OcppCall("TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification", "connectorId": 2}),
        OcppCall("UnlockConnector", {"connectorId": 2}),
    ]
    assert gateway.calls("CS_201") == [
        OcppCall("UnlockConnector", {"evseId": 1, "connectorId": 1}),
        OcppCall("Reset", {"type": "OnIdle"}),
        OcppCall("TriggerMessage", {"requestedMessage": "LogStatusNotification", "evse": {"id": 2}}),
        OcppCall("UnlockConnector", {"evseId": 2, "connectorId": 1}),
    ]
    # The version is asked once per charge point, not per write.
    assert (gateway.asked("charge_point", "CP_16"), gateway.asked("charge_point", "CS_201")) == (1, 1)
    assert runner.versions == {"CP_16": V16, "CS_201": V201}


def test_the_version_told_on_connect_is_used_without_asking_and_a_new_connection_changes_it() -> None:
    gateway = Gateway({}, UnlockConnector=[accepted("Unlocked"), accepted("Unlocked")])
    runner = runner_for(gateway)
    runner.protocol_changed("CS_1", "ocpp2.0.1")
    runner.rate_units["CS_1"] = "A"

    async def unlock() -> str:
        return (await runner.carry_out(write(key("execute_unlock_connector", 1), True))).outcome

    assert asyncio.run(unlock()) == "Unlocked"
    runner.protocol_changed("CS_1", "ocpp1.6")  # the charger came back speaking 1.6
    assert "CS_1" not in runner.rate_units  # learnt in the other version: asked again
    assert asyncio.run(unlock()) == "Unlocked"
    assert gateway.calls("CS_1") == [
        OcppCall("UnlockConnector", {"evseId": 1, "connectorId": 1}),
        OcppCall("UnlockConnector", {"connectorId": 1}),
    ]
    assert gateway.asked("charge_point", "CS_1") == 0
    runner.protocol_changed("CS_1", None)  # a Connected event of an older gateway: 1.6
    assert runner.versions["CS_1"] == V16
    runner.protocol_changed("CS_1", "ocpp2.1")  # no plans for it: asked at the next write
    assert "CS_1" not in runner.versions
    runner.forget("CS_1")


def test_an_older_gateway_without_the_command_or_the_protocol_is_1_6() -> None:
    class OldGateway(Gateway):
        async def request(self, command: str, args: dict[str, Any] | None = None, *_: Any, **__: Any) -> Reply:
            if command == "charge_point":
                self.requests.append((command, args or {}))
                return Reply.failure("1", ErrorCode.UNKNOWN_COMMAND, "unknown command charge_point")
            return await super().request(command, args)

    old = OldGateway({}, Reset=[accepted()])
    runner = runner_for(old)
    assert asyncio.run(runner.execute(key("execute_reset", None), "Hard"))[0] == "Accepted"
    assert old.calls("CS_1") == [OcppCall("Reset", {"type": "Hard"})]
    no_protocol = Gateway({"CS_1": {}}, Reset=[accepted()])
    runner = runner_for(no_protocol)
    assert asyncio.run(runner.execute(key("execute_reset", None), "Hard"))[0] == "Accepted"
    assert runner.versions == {"CS_1": V16}


def test_a_charge_point_not_connected_ends_not_connected_and_is_asked_again() -> None:
    gateway = Gateway({})
    runner = runner_for(gateway)

    async def twice() -> list[str]:
        return [(await runner.carry_out(write(key("execute_reset", None), "Soft"))).outcome for _ in range(2)]

    assert asyncio.run(twice()) == ["NotConnected", "NotConnected"]
    assert gateway.asked("charge_point", "CS_1") == 2 and gateway.calls("CS_1") == []


def test_a_protocol_the_bridge_has_no_plans_for_is_an_invalid_value() -> None:
    runner = runner_for(Gateway({"CS_1": {"protocol": "ocpp2.1"}}))

    async def reset() -> str:
        return (await runner.carry_out(write(key("execute_reset", None), "Soft"))).outcome

    outcome = asyncio.run(reset())
    assert outcome.startswith("InvalidValue: CS_1 speaks 'ocpp2.1'")


class Observer:
    def __init__(self) -> None:
        self.accepted: list[tuple[str, int, float | None]] = []
        self.read: list[tuple[str, int, dict[str, Any]]] = []
        self.read_back = asyncio.Event()

    def limit_accepted(self, cp: str, connector: int, watts: float | None) -> None:
        self.accepted.append((cp, connector, watts))

    def limit_read_back(self, cp: str, connector: int, values: dict[str, Any]) -> None:
        self.read.append((cp, connector, values))
        self.read_back.set()


def test_a_2_0_1_limit_is_fitted_bound_to_the_running_transaction_and_read_back() -> None:
    facts = {
        "protocol": "ocpp2.0.1",
        "capabilities": {"rate_units": ["A"], "max_stack_level": 0, "connectors": 2},
        "profile": {"phases": 1, "voltage": 230},
        "transactions": [[1, "tx-42"]],
    }
    in_force: dict[str, Any] = {
        "duration": 10**9,
        "scheduleStart": "2026-01-01T00:00:00Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32, "numberPhases": 1}],
    }
    gateway = Gateway(
        {"CS_1": facts},
        # One stack level: the level is cleared first; "Unknown" (nothing there) is not the outcome.
        ClearChargingProfile=[accepted("Unknown"), accepted("Unknown")],
        SetChargingProfile=[accepted(), accepted()],
        GetCompositeSchedule=[composite(**in_force)],
    )
    observer = Observer()
    results: list[str] = []
    runner = runner_for(gateway, observer=observer, report=lambda actuator, outcome, learnt: results.append(outcome))

    async def scenario() -> None:
        runner.submit(key("execute_send_charging_profile", 1), 7400)
        await asyncio.wait_for(observer.read_back.wait(), 5)
        await runner.close()

    asyncio.run(scenario())
    assert results == ["Accepted"]
    *clears, default, tx, read = gateway.calls("CS_1")
    assert [clear.action for clear in clears] == ["ClearChargingProfile"] * 2
    assert [profile(c)["stackLevel"] for c in (default, tx)] == [0, 0]
    assert profile(tx)["transactionId"] == "tx-42" and period(tx) == {
        "startPeriod": 0,
        "limit": 32.1,
        "numberPhases": 1,
    }
    assert read == OcppCall("GetCompositeSchedule", {"duration": 60, "evseId": 1})
    assert observer.accepted == [("CS_1", 1, 7400.0)]
    assert observer.read == [("CS_1", 1, {EFFECTIVE_LIMIT: 7360.0})]
    assert gateway.asked("charge_point", "CS_1") == 1


def test_a_2_0_1_station_that_does_not_tell_its_rate_unit_is_asked_with_get_variables() -> None:
    unit = ok({"getVariableResult": [variable_result(v201.RATE_UNIT_KEY, "Accepted", "A")]})
    gateway = Gateway({"CS_1": {"protocol": "ocpp2.0.1"}}, GetVariables=[unit], SetChargingProfile=[accepted()])
    runner = runner_for(gateway)
    outcome, _ = asyncio.run(runner.execute(key("execute_send_charging_profile", 1), 11000))
    assert outcome == "Accepted"
    question, limit = gateway.calls("CS_1")
    assert question == v201.RATE_UNIT_QUERY
    assert schedule(limit)["chargingRateUnit"] == "A"
    assert runner.rate_units == {"CS_1": "A"}


def test_watts_refused_by_a_2_0_1_station_of_unknown_unit_go_once_more_in_amperes() -> None:
    gateway = Gateway(
        {"CS_1": {"protocol": "ocpp2.0.1"}},
        GetVariables=[Reply.failure("1", ErrorCode.CALL_ERROR, "NotSupported: no")],
        SetChargingProfile=[accepted("Rejected"), accepted()],
    )
    runner = runner_for(gateway)
    assert asyncio.run(runner.execute(key("execute_send_charging_profile", 1), 11000))[0] == "Accepted"
    units = [schedule(c)["chargingRateUnit"] for c in gateway.calls("CS_1") if c.action == "SetChargingProfile"]
    assert units == ["W", "A"]
    assert runner.rate_units == {"CS_1": "A"}


def test_get_configuration_of_a_2_0_1_station_learns_its_rate_unit() -> None:
    answer = ok({"getVariableResult": [variable_result(v201.RATE_UNIT_KEY, "Accepted", "A,W")]})
    gateway = Gateway({"CS_1": {"protocol": "ocpp2.0.1"}}, GetVariables=[answer])
    runner = runner_for(gateway)
    outcome, configuration = asyncio.run(runner.execute(key("execute_get_configuration", None), v201.RATE_UNIT_KEY))
    assert (outcome, configuration) == ("Accepted", {v201.RATE_UNIT_KEY: "A,W"})
    assert runner.rate_units == {"CS_1": "W"}


@pytest.mark.parametrize(("value", "named"), [(True, None), ("tx-17", "tx-17"), (17, "17"), (None, None)])
def test_a_2_0_1_remote_stop_names_string_transactions(value: Any, named: str | None) -> None:
    gateway = Gateway({"CS_1": {"protocol": "ocpp2.0.1"}}, RequestStopTransaction=[accepted()])
    gateway.active["CS_1"] = "tx-17"
    runner = runner_for(gateway)
    assert asyncio.run(runner.execute(key("execute_remote_stop_transaction", 2), value))[0] == "Accepted"
    [asked] = [args for command, args in gateway.requests if command == "active_transaction"]
    assert asked == {"cp": "CS_1", "connector": 2} | ({"transaction": named} if named else {})
    assert gateway.calls("CS_1") == [OcppCall("RequestStopTransaction", {"transactionId": "tx-17"})]


def test_the_last_limits_are_restored_and_renewed_in_the_stations_version(tmp_path: Any) -> None:
    gateway = Gateway(
        {"CS_1": {"protocol": "ocpp2.0.1", "capabilities": {"rate_units": ["W"], "max_stack_level": 8}}},
        SetChargingProfile=[accepted(), accepted()],
        GetCompositeSchedule=[composite(), composite()],
    )
    observer = Observer()
    runner = runner_for(gateway, observer=observer, lease_seconds=300, state_path=tmp_path / "limits.json")

    async def scenario() -> None:
        await runner.carry_out(write(key("execute_charge_point_max_power", None), 22000))
        runner.restore("CS_1")  # as after the failsafe
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(gateway.calls("CS_1")) == 4:
                break
        await runner.close()

    asyncio.run(scenario())
    sent = [c for c in gateway.calls("CS_1") if c.action == "SetChargingProfile"]
    assert [c.payload["evseId"] for c in sent] == [0, 0]
    assert all(profile(c)["chargingProfilePurpose"] == "ChargingStationMaxProfile" for c in sent)
    assert all("validTo" in profile(c) for c in sent)


# -- the bridge tells the runner ------------------------------------------------------------


def test_the_bridge_tells_the_runner_the_protocol_of_each_connection() -> None:
    # Without sockets (tests/unit is pure): a bridge of just what learning a charge point touches.
    settings = load_bridge({}, ACTUATOR_KINDS)
    bridge = Bridge.__new__(Bridge)
    bridge.settings, bridge.state, bridge.connectors = settings, DatapointState(Topics("ocpp")), {}
    bridge.runner = runner_for(Gateway({}))
    bridge.runner.rate_units["CS_1"] = "A"
    connected = Event("r", 1, "CS_1", "Connected", NOW, {"protocol": "ocpp2.0.1"}, {})
    bridge._learn_charge_point(connected)
    bridge._learn_charge_point(replace(connected, seq=2, cp="CP_2", payload={"protocol": "ocpp1.6"}))
    bridge._learn_charge_point(replace(connected, seq=3, cp="CP_3", payload={}))  # an older gateway
    bridge._learn_charge_point(replace(connected, seq=4, kind="BootNotification", payload={}))
    assert bridge.runner.versions == {"CS_1": V201, "CP_2": V16, "CP_3": V16}
    assert bridge.runner.rate_units == {}  # forgotten at each boot and connection, as before


def test_the_actuators_of_a_2_0_1_station_are_offered_per_evse() -> None:
    bridge = Bridge.__new__(Bridge)
    bridge.settings, bridge.state, bridge.connectors = load_bridge({}, ACTUATOR_KINDS), DatapointState(Topics("o")), {}
    bridge.runner = runner_for(Gateway({}))
    ctx = {"ocpp": "2.0.1", "evse_id": 2, "connector_id": 1}  # connector 1 of EVSE 2
    status = {"evse_id": 2, "connector_id": 1, "connector_status": "Available", "timestamp": NOW_ISO}
    bridge._learn_charge_point(Event("r", 1, "CS_1", "StatusNotification", NOW, status, ctx))
    bridge._learn_charge_point(Event("r", 2, "CP_2", "StatusNotification", NOW, {"connector_id": 1}, {}))
    assert bridge.connectors == {"CS_1": {2}, "CP_2": {1}}
    assert "CS_1__2__execute_send_charging_profile" in bridge.state.actuators
    assert "CS_1__1__execute_send_charging_profile" not in bridge.state.actuators
