"""The simulator's smart-charging model (tools/smart_charging.py) against OCPP 1.6 section 3.13,
5.16 and the errata sheet: what it accepts, what is in force, the composite schedule."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.messages import CallResult, _validate_payload

from tools.chargepoint import AnswerCallError, SimulatedChargePoint
from tools.configuration import ConfigurationStore, factory_configuration
from tools.ocppj import DEFAULT_CONFIGURATION, JSONDict
from tools.smart_charging import (
    CHARGE_POINT_MAX,
    TX,
    TX_DEFAULT,
    SmartCharging,
    SmartChargingError,
    WhenUnlimited,
    amperes_to_watts,
    iso,
    round_down,
    watts_to_amperes,
)
from tools.station import ChargerBehaviour, SessionPlan, Station

T0 = 1_800_000_000  # 2027-01-15T08:00:00Z, a Friday
DAY = 86_400


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def profile(
    profile_id: int,
    purpose: str = TX_DEFAULT,
    limit: float = 16.0,
    unit: str = "A",
    stack: int = 0,
    kind: str = "Absolute",
    periods: list[JSONDict] | None = None,
    **fields: Any,
) -> JSONDict:
    """A csChargingProfiles object; ``startSchedule``/``duration`` go to the schedule, the rest to the profile."""
    schedule: JSONDict = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods or [{"startPeriod": 0, "limit": limit}],
    }
    for key in ("startSchedule", "duration"):
        if key in fields:
            schedule[key] = fields.pop(key)
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
        **fields,
    }


def put(model: SmartCharging, connector: int, body: JSONDict) -> str:
    return model.set_charging_profile({"connectorId": connector, "csChargingProfiles": body})


def at(seconds: float) -> str:
    return iso(T0 + seconds)


def model_of(**options: Any) -> tuple[SmartCharging, Clock]:
    clock = Clock()
    options.setdefault("connectors", 2)
    return SmartCharging(clock=clock, **options), clock


def composite(model: SmartCharging, connector: int, duration: int, unit: str | None = None) -> JSONDict:
    payload: JSONDict = {"connectorId": connector, "duration": duration}
    if unit is not None:
        payload["chargingRateUnit"] = unit
    answer = model.get_composite_schedule(payload)
    _validate_payload(CallResult(unique_id="1", payload=answer, action="GetCompositeSchedule"), "1.6")
    return answer


def periods(answer: JSONDict) -> list[tuple[int, float, int]]:
    return [
        (period["startPeriod"], period["limit"], period["numberPhases"])
        for period in answer["chargingSchedule"]["chargingSchedulePeriod"]
    ]


# -- the charger's limits, from its configuration ----------------------------------------


def test_a_factory_charger_with_one_stack_level_amperes_only_and_one_phase() -> None:
    store = factory_configuration(2, max_stack_level=0, rate_units="Current", phases=1)
    assert store.value("ConnectorPhaseRotation") == "0.NotApplicable,1.NotApplicable,2.NotApplicable"
    model = SmartCharging.from_configuration(store, tx_default_applies_from_next_session=True)
    assert (model.connectors, model.max_stack_level, model.phases) == (2, 0, 1)
    assert model.rate_units == frozenset({"A"})
    assert (model.max_periods, model.max_profiles, model.supported) == (24, 10, True)
    assert model.tx_default_applies_from_next_session
    assert put(model, 1, profile(1, stack=1)) == "Rejected"
    assert model.history[-1][2] == "stackLevel 1 above ChargeProfileMaxStackLevel 0"
    assert put(model, 1, profile(1, unit="W", limit=7400)) == "Rejected"
    assert put(model, 1, profile(1, limit=32)) == "Accepted"
    assert model.limit_now(1) == 32 * 230  # numberPhases 3 assumed, one phase there (errata 3.34)


def test_the_default_store_sets_no_limits() -> None:
    model = SmartCharging.from_configuration(ConfigurationStore(DEFAULT_CONFIGURATION))
    assert (model.connectors, model.max_stack_level, model.max_periods, model.max_profiles) == (None, None, None, None)
    assert model.rate_units == frozenset({"A", "W"})
    assert (model.phases, model.supported) == (3, True)
    three = factory_configuration(1)
    assert SmartCharging.from_configuration(three).phases == 3
    assert SmartCharging.from_configuration(three, phases=1).phases == 1


def test_a_charger_without_the_smart_charging_profile_answers_not_supported() -> None:
    store = factory_configuration(1)
    store.set("SupportedFeatureProfiles", "Core,RemoteTrigger", readonly=True)
    model = SmartCharging.from_configuration(store)
    requests: list[tuple[str, JSONDict]] = [
        ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile(1)}),
        ("ClearChargingProfile", {}),
        ("GetCompositeSchedule", {"connectorId": 1, "duration": 60}),
    ]
    for action, payload in requests:
        with pytest.raises(SmartChargingError) as raised:
            model.answer(action, payload)
        assert raised.value.code == "NotSupported"
    assert model.remote_start(1, profile(1, TX)) == "Accepted"  # the profile is ignored (5.11)
    assert model.pending == {}


# -- SetChargingProfile ------------------------------------------------------------------


def test_purposes_go_on_their_connectors() -> None:
    model, _ = model_of()
    assert put(model, 1, profile(1, CHARGE_POINT_MAX)) == "Rejected"
    assert put(model, 0, profile(1, CHARGE_POINT_MAX)) == "Accepted"
    assert put(model, 0, profile(2, TX)) == "Rejected"
    assert put(model, 1, profile(2, TX_DEFAULT, transactionId=5)) == "Rejected"  # only a TxProfile has one
    assert put(model, 0, profile(2, TX_DEFAULT)) == "Accepted"
    assert put(model, 2, profile(3, TX_DEFAULT)) == "Accepted"


def test_a_tx_profile_needs_the_running_transaction() -> None:
    model, _ = model_of()
    assert put(model, 1, profile(10, TX, limit=6)) == "Rejected"
    assert model.history[-1] == ("SetChargingProfile", "Rejected", "no transaction runs on connector 1")
    model.transaction_started(1, 42)
    assert put(model, 2, profile(10, TX, limit=6)) == "Rejected"  # none on connector 2
    assert put(model, 1, profile(10, TX, limit=6, transactionId=41)) == "Rejected"
    assert put(model, 1, profile(10, TX, limit=6, transactionId=42)) == "Accepted"
    assert put(model, 1, profile(11, TX_DEFAULT, limit=10)) == "Accepted"
    assert model.limit_now(1) == amperes_to_watts(6, 3)  # the TxProfile overrules the TxDefaultProfile
    model.transaction_stopped(42)
    assert sorted(model.profiles) == [11]  # the TxProfile went with its transaction
    assert model.limit_now(1) == amperes_to_watts(10, 3)
    model.transaction_started(1, 43)
    assert put(model, 1, profile(12, TX)) == "Accepted"  # bound to the running one without transactionId
    assert model.profiles[12].transaction_id == 43


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (profile(1, unit="W", limit=1000), "chargingRateUnit W not in ChargingScheduleAllowedChargingRateUnit"),
        (profile(1, periods=[{"startPeriod": p, "limit": 6} for p in range(0, 300, 100)]), "3 periods"),
        (profile(1, periods=[{"startPeriod": 5, "limit": 6}]), "periods must start at 0"),
        (profile(1, periods=[{"startPeriod": 0, "limit": 6}, {"startPeriod": 0, "limit": 7}]), "periods must"),
        (profile(1, limit=-1), "limit below 0"),
        (profile(1, periods=[{"startPeriod": 0, "limit": 6, "numberPhases": 4}]), "numberPhases"),
        (profile(1, kind="Recurring"), "a Recurring profile needs a recurrencyKind"),
        (profile(1, stack=3), "stackLevel 3 above ChargeProfileMaxStackLevel 2"),
    ],
)
def test_what_the_charger_cannot_take_is_rejected(body: JSONDict, reason: str) -> None:
    model, _ = model_of(max_stack_level=2, rate_units=["Current"], max_periods=2)
    assert put(model, 1, body) == "Rejected"
    assert reason in model.history[-1][2]
    assert model.profiles == {}


def test_a_profile_replaces_one_with_its_id_or_its_stack_level_and_purpose_on_its_connector() -> None:
    model, _ = model_of()
    assert put(model, 1, profile(1, limit=10)) == "Accepted"
    assert put(model, 2, profile(2, limit=11)) == "Accepted"  # another connector: both stay
    assert put(model, 0, profile(3, limit=12)) == "Accepted"  # connector 0 too
    assert put(model, 1, profile(4, TX_DEFAULT, limit=13, stack=1)) == "Accepted"  # another stack level
    assert sorted(model.profiles) == [1, 2, 3, 4]
    assert put(model, 1, profile(5, limit=9)) == "Accepted"  # same stack level and purpose: replaces 1
    assert sorted(model.profiles) == [2, 3, 4, 5]
    assert put(model, 0, profile(2, CHARGE_POINT_MAX, limit=20)) == "Accepted"  # same id: replaces 2
    assert sorted(model.profiles) == [2, 3, 4, 5] and model.profiles[2].purpose == CHARGE_POINT_MAX


def test_max_charging_profiles_installed() -> None:
    model, _ = model_of(max_profiles=2)
    assert put(model, 1, profile(1)) == "Accepted"
    assert put(model, 2, profile(2)) == "Accepted"
    assert put(model, 0, profile(3)) == "Rejected"
    assert put(model, 2, profile(4, limit=8)) == "Accepted"  # replaces 2: still two


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"connectorId": 3, "csChargingProfiles": profile(1)}, "PropertyConstraintViolation"),  # errata 3.39
        ({"connectorId": -1, "csChargingProfiles": profile(1)}, "PropertyConstraintViolation"),
        ({"connectorId": "1", "csChargingProfiles": profile(1)}, "TypeConstraintViolation"),
        ({"connectorId": 1, "csChargingProfiles": profile(1, unit="kW")}, "PropertyConstraintViolation"),  # 3.38
        ({"connectorId": 1, "csChargingProfiles": profile(1, purpose="Other")}, "PropertyConstraintViolation"),
        ({"connectorId": 1, "csChargingProfiles": profile(1, kind="Sometimes")}, "PropertyConstraintViolation"),
        ({"connectorId": 1, "csChargingProfiles": profile(1, recurrencyKind="Hourly")}, "PropertyConstraintViolation"),
        ({"connectorId": 1, "csChargingProfiles": profile(1, stack=-1)}, "PropertyConstraintViolation"),
        ({"connectorId": 1, "csChargingProfiles": profile(1, validFrom="soon")}, "TypeConstraintViolation"),
        (
            {"connectorId": 1, "csChargingProfiles": profile(1, periods=[{"startPeriod": 0, "limit": "6"}])},
            "TypeConstraintViolation",
        ),
        ({"connectorId": 1, "csChargingProfiles": {"chargingProfileId": 1}}, "ProtocolError"),
        ({"connectorId": 1}, "ProtocolError"),
    ],
)
def test_a_request_it_cannot_read_is_a_call_error(payload: JSONDict, code: str) -> None:
    model, _ = model_of()
    with pytest.raises(SmartChargingError) as raised:
        model.set_charging_profile(payload)
    assert raised.value.code == code


# -- what is in force ---------------------------------------------------------------------


def test_valid_from_and_valid_to() -> None:
    model, clock = model_of()
    assert put(model, 1, profile(1, limit=10, validFrom=at(60), validTo=at(120))) == "Accepted"
    assert model.limit_now(1) is None
    clock.now = T0 + 60
    assert model.limit_now(1) == amperes_to_watts(10, 3)
    clock.now = T0 + 120
    assert model.limit_now(1) is None
    assert model.profiles == {}  # expired: removed
    assert model.clear_charging_profile({"id": 1}) == "Unknown"


def test_the_highest_stack_level_in_force_prevails_and_falls_back_when_its_duration_ends() -> None:
    model, clock = model_of()
    assert put(model, 1, profile(1, limit=16, stack=0, startSchedule=at(0))) == "Accepted"
    assert put(model, 1, profile(2, limit=6, stack=1, startSchedule=at(0), duration=600)) == "Accepted"
    assert put(model, 1, profile(3, limit=20, stack=2, startSchedule=at(300), duration=60)) == "Accepted"
    expected = [(0, 6), (299, 6), (300, 20), (359, 20), (360, 6), (599, 6), (600, 16), (DAY, 16)]
    for offset, amperes in expected:
        clock.now = T0 + offset
        assert model.limit_now(1) == amperes_to_watts(amperes, 3), offset


def test_a_connectors_own_tx_default_profile_overrules_connector_0s() -> None:
    model, clock = model_of()
    assert put(model, 0, profile(1, limit=10, stack=5)) == "Accepted"
    assert put(model, 1, profile(2, limit=13, stack=0, startSchedule=at(0), duration=60)) == "Accepted"
    assert model.limit_now(1) == amperes_to_watts(13, 3)  # 3.13.1: replaced for that connector only
    assert model.limit_now(2) == amperes_to_watts(10, 3)
    clock.now = T0 + 60
    assert model.limit_now(1) == amperes_to_watts(10, 3)  # its own ended: connector 0's again


def test_the_charge_point_max_profile_caps_every_connector() -> None:
    model, _ = model_of()
    assert put(model, 0, profile(1, CHARGE_POINT_MAX, limit=4000, unit="W")) == "Accepted"
    assert put(model, 1, profile(2, limit=16)) == "Accepted"
    assert model.limit_now(1) == 4000 and model.limit_now(2) == 4000
    assert model.charge_point_limit_now() == 4000
    assert put(model, 1, profile(2, limit=5)) == "Accepted"
    assert model.limit_now(1) == amperes_to_watts(5, 3)
    assert composite(model, 0, 60, "W")["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 4000.0, "numberPhases": 3}
    ]


def test_recurring_daily_as_in_the_specification() -> None:
    """3.13.7: 11 kW, 6 kW from 08:00 to 20:00, every day (started 2013)."""
    model, clock = model_of()
    body = profile(
        100,
        kind="Recurring",
        recurrencyKind="Daily",
        unit="W",
        startSchedule="2013-01-01T00:00Z",
        duration=DAY,
        periods=[
            {"startPeriod": 0, "limit": 11000, "numberPhases": 3},
            {"startPeriod": 28800, "limit": 6000, "numberPhases": 3},
            {"startPeriod": 72000, "limit": 11000, "numberPhases": 3},
        ],
    )
    assert put(model, 0, body) == "Accepted"
    midnight = T0 - 8 * 3600  # T0 is 08:00 UTC
    for hour, watts in [(0, 11000), (7, 11000), (8, 6000), (19, 6000), (20, 11000), (23, 11000), (32, 6000)]:
        clock.now = midnight + hour * 3600
        assert model.limit_now(1) == watts, hour
    clock.now = midnight + 6 * 3600
    assert periods(composite(model, 1, DAY, "W")) == [(0, 11000, 3), (7200, 6000, 3), (50400, 11000, 3)]


def test_recurring_weekly_with_a_duration_shorter_than_the_week() -> None:
    model, clock = model_of()
    body = profile(1, kind="Recurring", recurrencyKind="Weekly", startSchedule=at(0), duration=3600, limit=6)
    assert put(model, 1, body) == "Accepted"
    for offset, in_force in [(-1, False), (0, True), (3599, True), (3600, False), (7 * DAY + 10, True)]:
        clock.now = T0 + offset
        assert (model.limit_now(1) is not None) == in_force, offset


def test_relative_profiles_count_from_the_transaction_start() -> None:
    model, clock = model_of()
    relative = profile(1, kind="Relative", periods=[{"startPeriod": 0, "limit": 16}, {"startPeriod": 600, "limit": 8}])
    assert put(model, 1, relative) == "Accepted"  # a TxDefaultProfile: from the start of the next transaction
    clock.now = T0 + 5000
    assert model.limit_now(1) == amperes_to_watts(16, 3)  # no transaction: as if one started now
    model.transaction_started(1, 7)
    clock.now = T0 + 5599
    assert model.limit_now(1) == amperes_to_watts(16, 3)
    clock.now = T0 + 5600
    assert model.limit_now(1) == amperes_to_watts(8, 3)
    tx = profile(2, TX, kind="Relative", periods=[{"startPeriod": 0, "limit": 10}, {"startPeriod": 1200, "limit": 4}])
    assert put(model, 1, tx) == "Accepted"
    assert model.limit_now(1) == amperes_to_watts(10, 3)
    clock.now = T0 + 6200
    assert model.limit_now(1) == amperes_to_watts(4, 3)
    assert periods(composite(model, 1, 60)) == [(0, 4.0, 3)]


def test_a_new_tx_default_profile_applies_to_the_running_transaction() -> None:
    model, _ = model_of()
    model.transaction_started(1, 1)
    assert put(model, 1, profile(1, limit=10)) == "Accepted"
    assert model.limit_now(1) == amperes_to_watts(10, 3)  # errata 3.8
    assert model.clear_charging_profile({"id": 1}) == "Accepted"
    assert model.limit_now(1) is None


def test_a_charger_that_applies_tx_default_only_from_the_next_session() -> None:
    model, _ = model_of(tx_default_applies_from_next_session=True)
    assert put(model, 1, profile(1, limit=10)) == "Accepted"
    model.transaction_started(1, 1)
    assert put(model, 1, profile(1, limit=6)) == "Accepted"
    assert model.limit_now(1) == amperes_to_watts(10, 3)  # the session keeps what it started with
    assert periods(composite(model, 1, 60)) == [(0, 10.0, 3)]
    assert model.clear_charging_profile({}) == "Accepted"
    assert model.limit_now(1) == amperes_to_watts(10, 3)
    assert put(model, 1, profile(2, TX, limit=5)) == "Accepted"
    assert model.limit_now(1) == amperes_to_watts(5, 3)  # a TxProfile holds at once
    model.transaction_stopped(1)
    assert put(model, 1, profile(3, limit=6)) == "Accepted"
    model.transaction_started(1, 2)
    assert model.limit_now(1) == amperes_to_watts(6, 3)  # the next session


def test_watts_and_amperes_on_one_and_three_phases() -> None:
    single, _ = model_of(phases=1, max_current=32)
    assert put(single, 1, profile(1, unit="W", limit=7400)) == "Accepted"
    assert periods(composite(single, 1, 60, "A")) == [(0, 32.1, 1)]  # 7400 / 230 rounded down
    assert put(single, 1, profile(1, limit=32)) == "Accepted"
    assert single.limit_now(1) == 7360 and periods(composite(single, 1, 60, "W")) == [(0, 7360.0, 1)]
    three, _ = model_of()
    assert put(three, 1, profile(1, periods=[{"startPeriod": 0, "limit": 16, "numberPhases": 1}])) == "Accepted"
    assert three.limit_now(1) == 3680
    assert periods(composite(three, 1, 60, "W")) == [(0, 3680.0, 1)]
    assert put(three, 1, profile(1, unit="W", limit=11000)) == "Accepted"
    assert periods(composite(three, 1, 60, "A")) == [(0, 15.9, 3)]


# -- ClearChargingProfile -----------------------------------------------------------------


def test_clear_by_id_or_by_every_field_given() -> None:
    model, _ = model_of()
    for body, connector in [
        (profile(1, stack=0), 1),
        (profile(2, stack=1), 1),
        (profile(3, stack=1), 2),
        (profile(4, CHARGE_POINT_MAX, stack=1), 0),
    ]:
        assert put(model, connector, body) == "Accepted"
    assert model.clear_charging_profile({"id": 9}) == "Unknown"
    assert model.clear_charging_profile({"id": 1, "connectorId": 2}) == "Accepted"  # id: the rest ignored (3.26)
    assert sorted(model.profiles) == [2, 3, 4]
    assert model.clear_charging_profile({"connectorId": 2, "stackLevel": 0}) == "Unknown"
    assert model.clear_charging_profile({"stackLevel": 1, "chargingProfilePurpose": TX_DEFAULT}) == "Accepted"
    assert sorted(model.profiles) == [4]
    assert model.clear_charging_profile({}) == "Accepted" and model.profiles == {}  # no field: all (3.25)
    assert model.clear_charging_profile({}) == "Unknown"
    with pytest.raises(SmartChargingError, match="PropertyConstraintViolation"):
        model.clear_charging_profile({"chargingProfilePurpose": "Other"})


# -- GetCompositeSchedule -----------------------------------------------------------------


def test_the_composite_schedule_from_now_for_the_duration() -> None:
    model, clock = model_of(max_current=32)
    clock.now = T0 + 0.25
    assert put(model, 0, profile(1, CHARGE_POINT_MAX, limit=20, startSchedule=at(0))) == "Accepted"
    body = profile(2, periods=[{"startPeriod": 0, "limit": 10}, {"startPeriod": 60, "limit": 25}], startSchedule=at(0))
    assert put(model, 1, {**body, "validTo": at(300)}) == "Accepted"
    answer = composite(model, 1, 600)
    assert answer["status"] == "Accepted" and answer["connectorId"] == 1
    assert answer["scheduleStart"] == at(0) and answer["chargingSchedule"]["startSchedule"] == at(0)
    assert answer["chargingSchedule"]["duration"] == 600 and answer["chargingSchedule"]["chargingRateUnit"] == "A"
    # 10 A, then 25 A within the 20 A cap, then the cap alone once the TxDefaultProfile has expired.
    assert periods(answer) == [(0, 10.0, 3), (60, 20.0, 3)]
    assert model.clear_charging_profile({"id": 1}) == "Accepted"
    # Where no limit is in force: the charger's maximum (32 A).
    assert periods(composite(model, 1, 600)) == [(0, 10.0, 3), (60, 25.0, 3), (300, 32.0, 3)]


def test_a_limit_starting_within_a_second_counts_from_that_second() -> None:
    model, clock = model_of()
    clock.now = T0 + 0.5
    body = profile(1, limit=10, startSchedule=at(0), validFrom="2027-01-15T08:00:30.500Z")
    assert put(model, 1, body) == "Accepted"
    assert periods(composite(model, 1, 60)) == [(0, 16.0, 3), (30, 10.0, 3)]  # never above: 30.5 s rounded down


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (WhenUnlimited.NO_SCHEDULE, {"status": "Accepted", "connectorId": 1, "scheduleStart": at(0)}),
        (WhenUnlimited.REJECTED, {"status": "Rejected"}),
        (
            WhenUnlimited.MAXIMUM,
            {
                "status": "Accepted",
                "connectorId": 1,
                "scheduleStart": at(0),
                "chargingSchedule": {
                    "duration": 60,
                    "startSchedule": at(0),
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}],
                },
            },
        ),
        (
            WhenUnlimited.EMPTY_PERIODS,
            {
                "status": "Accepted",
                "connectorId": 1,
                "scheduleStart": at(0),
                "chargingSchedule": {
                    "duration": 60,
                    "startSchedule": at(0),
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [],
                },
            },
        ),
    ],
)
def test_what_it_answers_when_no_limit_is_in_force(when: WhenUnlimited, expected: JSONDict) -> None:
    model, _ = model_of(when_unlimited=when)
    assert composite(model, 1, 60) == expected


def test_composite_schedule_refusals() -> None:
    model, _ = model_of()
    assert composite(model, 3, 60) == {"status": "Rejected"}  # no such connector
    assert composite(model, -1, 60) == {"status": "Rejected"}
    with pytest.raises(SmartChargingError, match="PropertyConstraintViolation"):
        model.get_composite_schedule({"connectorId": 1, "duration": 60, "chargingRateUnit": "kW"})  # errata 3.24
    with pytest.raises(SmartChargingError, match="TypeConstraintViolation"):
        model.get_composite_schedule({"connectorId": 1})
    model.composite_schedule_supported = False
    with pytest.raises(SmartChargingError, match="NotSupported"):
        model.get_composite_schedule({"connectorId": 1, "duration": 60})
    w_only, _ = model_of(rate_units=["Power"])
    assert put(w_only, 1, profile(1, unit="W", limit=5000)) == "Accepted"
    assert composite(w_only, 1, 60)["chargingSchedule"]["chargingRateUnit"] == "W"  # its own unit by default


# -- RemoteStartTransaction with a charging profile ----------------------------------------


def test_the_profile_of_a_remote_start_is_the_transactions_tx_profile() -> None:
    model, _ = model_of(max_stack_level=1)
    assert model.remote_start(1, profile(1, TX_DEFAULT)) == "Rejected"
    assert model.remote_start(1, profile(1, TX, transactionId=3)) == "Rejected"
    assert model.remote_start(1, profile(1, TX, stack=2)) == "Rejected"
    assert model.remote_start(None, profile(1, TX, limit=8)) == "Accepted"
    model.transaction_started(2, 77)
    assert model.profiles[1].connector == 2 and model.profiles[1].transaction_id == 77
    assert model.limit_now(2) == amperes_to_watts(8, 3)
    # 5.16.2: a SetChargingProfile for the transaction at the same stack level replaces it.
    assert put(model, 2, profile(5, TX, limit=12, transactionId=77)) == "Accepted"
    assert sorted(model.profiles) == [5]


# -- the simulated charge point and station -----------------------------------------------


def test_the_simulated_charge_point_answers_from_its_model() -> None:
    cp = SimulatedChargePoint("ws://h", "CP", configuration=factory_configuration(1, rate_units="Current"))
    assert cp.smart_charging.rate_units == {"A"}
    body = {"connectorId": 1, "csChargingProfiles": profile(1, TX)}
    assert cp.answer_call("SetChargingProfile", body) == {"status": "Rejected"}
    cp.transaction_started(1, 9)  # what start_transaction() tells it
    assert cp.answer_call("SetChargingProfile", body) == {"status": "Accepted"}
    assert (cp.answer_call("GetCompositeSchedule", {"connectorId": 1, "duration": 10}) or {})["status"] == "Accepted"
    cp.transaction_stopped(9)
    assert cp.answer_call("ClearChargingProfile", {"id": 1}) == {"status": "Unknown"}
    with pytest.raises(AnswerCallError) as raised:
        cp.answer_call("SetChargingProfile", {"connectorId": 2, "csChargingProfiles": profile(1)})
    assert raised.value.code == "PropertyConstraintViolation"
    remote = {"idTag": "T", "connectorId": 1, "chargingProfile": profile(2, TX_DEFAULT)}
    assert cp.answer_call("RemoteStartTransaction", remote) == {"status": "Rejected"}
    assert cp.answer_call("RemoteStartTransaction", {"idTag": "T"}) == {"status": "Accepted"}
    own = SmartCharging(composite_schedule_supported=False)
    with pytest.raises(AnswerCallError, match="NotSupported"):
        SimulatedChargePoint("ws://h", "CP", smart_charging=own).answer_call(
            "GetCompositeSchedule", {"connectorId": 1, "duration": 10}
        )


def test_a_station_offers_the_limit_and_the_vehicle_follows_a_lower_one_after_the_ramp_down_delay() -> None:
    async def scenario() -> None:
        plan = SessionPlan(sessions=1, interval=1, samples=3, pause=1)
        behaviour = ChargerBehaviour(factory_settings=True, ramp_down_delay=10)
        store = factory_configuration(2, rate_units="Current,Power")
        station = Station("ws://h", "CP_R", 2, plan, asyncio.Event(), None, behaviour, store)
        one, two = station.connectors
        assert station.offered_w(one) == 11040  # 3 x 16 A
        assert station.vehicle_limit_w(one, 0) == 11040
        assert put(station.smart_charging, 1, profile(1, unit="W", limit=4000)) == "Accepted"
        assert station.offered_w(one) == 4000 and station.offered_w(two) == 11040
        assert station.vehicle_limit_w(one, 1) == 11040  # the vehicle has not followed yet
        assert station.vehicle_limit_w(one, 10.9) == 11040
        assert station.vehicle_limit_w(one, 11) == 4000
        assert put(station.smart_charging, 1, profile(1, unit="W", limit=6000)) == "Accepted"
        assert station.vehicle_limit_w(one, 12) == 6000  # a higher limit at once
        assert put(station.smart_charging, 0, profile(2, CHARGE_POINT_MAX, unit="W", limit=8000)) == "Accepted"
        one.transaction, two.transaction = 1, 2
        assert station.offered_w(one) == 4000 and station.offered_w(two) == 4000  # the cap shared
        store.change_configuration("MeterValuesSampledData", "Power.Offered,Current.Offered")
        one.meter.voltage = 230.0
        assert [value["value"] for value in station.sampled_values(one)] == ["4000.0", "5.8"]

    asyncio.run(scenario())


def test_a_single_phase_station_measures_l1_only() -> None:
    async def scenario() -> None:
        plan = SessionPlan(sessions=1, interval=1, samples=3, pause=1)
        store = factory_configuration(1, phases=1)
        store.change_configuration("MeterValuesSampledData", "Current.Import,Voltage,Current.Offered")
        station = Station("ws://h", "CP_1P", 1, plan, asyncio.Event(), None, ChargerBehaviour(), store)
        [connector] = station.connectors
        connector.meter.power_w, connector.meter.voltage = 2300.0, 230.0
        values = station.sampled_values(connector)
        assert [(v["measurand"], v.get("phase"), v["value"]) for v in values] == [
            ("Current.Import", "L1", "10.00"),
            ("Voltage", "L1-N", "230.0"),
            ("Current.Offered", None, "16.0"),
        ]

    asyncio.run(scenario())


# -- properties ---------------------------------------------------------------------------

purposes = st.sampled_from([CHARGE_POINT_MAX, TX_DEFAULT, TX_DEFAULT, TX])
offsets = st.integers(-4000, 4000)


@st.composite
def profiles(draw: st.DrawFn, fractions: bool = False) -> tuple[int, JSONDict]:
    """(connector, csChargingProfiles) of any kind, purpose, unit and validity the model takes."""
    purpose = draw(purposes)
    connector = 0 if purpose == CHARGE_POINT_MAX else (1 if purpose == TX else draw(st.sampled_from([0, 1])))
    unit = draw(st.sampled_from(["A", "W"]))
    starts = sorted(draw(st.sets(st.integers(1, 5000), max_size=3)))
    top = 32 if unit == "A" else 22000
    limits = draw(st.lists(st.integers(0, top * 10), min_size=len(starts) + 1, max_size=len(starts) + 1))
    phases = draw(st.sampled_from([None, 1, 3]))
    period_list = [
        {"startPeriod": start, "limit": limit / 10, **({"numberPhases": phases} if phases else {})}
        for start, limit in zip([0, *starts], limits, strict=True)
    ]
    kind = draw(st.sampled_from(["Absolute", "Absolute", "Recurring", "Relative"]))
    fields: JSONDict = {}
    fraction = draw(st.sampled_from([0, 0.25, 0.5, 0.999])) if fractions else 0

    def moment() -> str:
        seconds = T0 + draw(offsets) + fraction
        return iso(seconds)[:-1] + f".{round((seconds % 1) * 1000):03d}Z"

    if kind != "Relative" and draw(st.booleans()):
        fields["startSchedule"] = moment()
    if kind == "Recurring":
        fields["recurrencyKind"] = draw(st.sampled_from(["Daily", "Weekly"]))
    if draw(st.booleans()):
        fields["duration"] = draw(st.integers(1, 9000))
    if draw(st.booleans()):
        fields["validFrom"] = moment()
    if draw(st.booleans()):
        fields["validTo"] = moment()
    body = profile(
        draw(st.integers(1, 12)), purpose, unit=unit, stack=draw(st.integers(0, 3)), kind=kind, periods=period_list
    )
    return connector, {**body, **fields}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(profiles(), max_size=8),
    st.booleans(),
    st.sampled_from([1, 3]),
    st.integers(1, 7200),
    st.sampled_from(["A", "W"]),
    st.booleans(),
)
def test_the_composite_schedule_is_what_is_in_force_at_every_second(
    bodies: list[tuple[int, JSONDict]], running: bool, phases: int, duration: int, unit: str, next_session: bool
) -> None:
    model, clock = model_of(phases=phases, max_current=32, tx_default_applies_from_next_session=next_session)
    clock.now = T0 - 100
    if running:
        model.transaction_started(1, 5)
    clock.now = T0
    for connector, body in bodies:
        put(model, connector, body)
    answer = composite(model, 1, duration, unit)
    transaction = model.transactions.get(1)
    session_start = transaction.start if transaction is not None else T0
    in_force = [model.limit_at(1, T0 + second, session_start) for second in range(duration)]
    if all(limit is None for limit in in_force):
        assert "chargingSchedule" not in answer
        return
    maximum = model.limit_of("A", 32, phases)
    shown = [(0, 0.0, 0)]
    for start, limit, number in periods(answer):
        shown.append((start, limit, number))
    for second, force in enumerate(in_force):
        expected = force if force is not None else maximum
        _, reported, number = max(p for p in shown if p[0] <= second)
        assert number == expected.phases, second
        assert reported == round_down(expected.value(unit)), second
    starts = [start for start, _, _ in periods(answer)]
    assert starts == sorted(set(starts)) and starts[0] == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(profiles(fractions=True), max_size=8), st.booleans(), st.integers(1, 3600), st.floats(0, 0.999))
def test_the_composite_schedule_is_never_above_what_is_in_force(
    bodies: list[tuple[int, JSONDict]], running: bool, duration: int, now_fraction: float
) -> None:
    model, clock = model_of(max_current=32)
    if running:
        model.transaction_started(1, 5, start=T0 - 99.5)
    clock.now = T0 + now_fraction
    for connector, body in bodies:
        put(model, connector, body)
    answer = composite(model, 1, duration, "W")
    if "chargingSchedule" not in answer:
        return
    transaction = model.transactions.get(1)
    session_start = transaction.start if transaction is not None else T0
    reported = periods(answer)
    for step in range(duration * 4):
        moment = T0 + step / 4
        limit = model.limit_at(1, moment, session_start)
        if limit is None:
            continue
        _, watts, _ = max(p for p in reported if p[0] <= step / 4)
        assert watts <= limit.watts + 1e-6, (step / 4, watts, limit)


@given(st.floats(0, 1000), st.sampled_from([1, 2, 3]), st.floats(100, 400))
def test_watts_and_amperes_convert_back_and_forth(amperes: float, phases: int, voltage: float) -> None:
    watts = amperes_to_watts(amperes, phases, voltage)
    assert math.isclose(watts_to_amperes(watts, phases, voltage), amperes, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 220_000), st.sampled_from([1, 3]))
def test_a_limit_read_back_in_the_other_unit_is_at_most_a_tenth_below(tenths: int, phases: int) -> None:
    watts = tenths / 10
    model, _ = model_of(phases=phases)
    assert put(model, 1, profile(1, unit="W", limit=watts)) == "Accepted"
    [(_, amperes, number)] = periods(composite(model, 1, 60, "A"))
    assert number == phases
    back = amperes_to_watts(amperes, phases)
    assert back <= watts + 1e-6 and back > watts - amperes_to_watts(0.1, phases) - 1e-6
    [(_, same, _)] = periods(composite(model, 1, 60, "W"))
    assert same == round_down(watts)
