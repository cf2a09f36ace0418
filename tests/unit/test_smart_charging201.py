"""The 2.0.1 simulator's smart charging (tools/smart_charging201.py) where 2.0.1 is stricter than
1.6 (part 2, K01 SetChargingProfile): only the same id replaces (K01.FR.05); a second profile at a
stack level is ``Rejected`` with a ``statusInfo`` (K01.FR.06, K01.FR.39, K01.FR.52/53), as EVerest's
libocpp does; and ClearChargingProfile by ``chargingProfileCriteria``."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.messages import CallResult, _validate_payload

from common.schemas import V201
from tools.device_model201 import factory_device_model
from tools.ocppj import JSONDict
from tools.smart_charging import SmartCharging, iso
from tools.smart_charging201 import SmartCharging201, status_info

T0 = 1_800_000_000  # 2027-01-15T08:00:00Z
HOUR = 3600


def profile(
    profile_id: int, purpose: str = "TxDefaultProfile", limit: float = 5000.0, *, stack: int = 1, **fields: Any
) -> JSONDict:
    """A 2.0.1 ``chargingProfile``, Absolute from an hour before T0, in W."""
    return {
        "id": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "startSchedule": iso(T0 - HOUR),
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            }
        ],
        **fields,
    }


@pytest.fixture
def model() -> SmartCharging201:
    return SmartCharging201.from_device_model(factory_device_model(2), clock=lambda: T0)


def check(response: JSONDict | None, action: str = "SetChargingProfile") -> JSONDict:
    """``response``, after checking it against the 2.0.1 schema."""
    assert response is not None
    _validate_payload(CallResult("check", response, action), V201)
    return response


def set_profile(model: SmartCharging201, evse: int, body: JSONDict) -> JSONDict:
    return check(model.answer("SetChargingProfile", {"evseId": evse, "chargingProfile": body}))


def clear(model: SmartCharging201, **criteria: Any) -> str:
    answer = check(model.answer("ClearChargingProfile", {"chargingProfileCriteria": criteria}), "ClearChargingProfile")
    return str(answer["status"])


def rejected(response: JSONDict, reason_code: str, name: str) -> bool:
    info = response.get("statusInfo", {})
    return bool(
        response["status"] == "Rejected"
        and info.get("reasonCode") == reason_code
        and str(info.get("additionalInfo", "")).startswith(name)
    )


# ---------------------------------------------------------------------- K01.FR.05


def test_a_profile_of_the_same_id_replaces_the_installed_one_even_on_another_evse(model: SmartCharging201) -> None:
    assert set_profile(model, 1, profile(1001, limit=7000.0)) == {"status": "Accepted"}
    assert set_profile(model, 1, profile(1001, limit=6000.0)) == {"status": "Accepted"}
    assert model.limit_now(1) == 6000.0
    assert set_profile(model, 2, profile(1001, limit=5000.0, stack=3)) == {"status": "Accepted"}
    assert list(model.profiles) == [1001] and model.evse_of(1001) == 2
    assert model.limit_now(1) is None and model.limit_now(2) == 5000.0


# ---------------------------------------------------------------------- K01.FR.06


@pytest.mark.parametrize(
    ("purpose", "evse"), [("TxDefaultProfile", 1), ("TxDefaultProfile", 0), ("ChargingStationMaxProfile", 0)]
)
def test_a_second_profile_of_the_purpose_at_the_stack_level_on_the_evse_is_rejected(
    model: SmartCharging201, purpose: str, evse: int
) -> None:
    assert set_profile(model, evse, profile(100, purpose, 7000.0))["status"] == "Accepted"
    answer = set_profile(model, evse, profile(101, purpose, 3000.0))
    assert rejected(answer, "DuplicateProfile", "DuplicateProfileValidityPeriod (K01.FR.06)"), answer
    assert list(model.profiles) == [100]  # 1.6 would have replaced it
    assert model.history[-1][1] == "Rejected"


def test_the_same_stack_level_is_taken_on_other_evses_for_other_purposes_and_other_validity(
    model: SmartCharging201,
) -> None:
    assert set_profile(model, 1, profile(1001))["status"] == "Accepted"
    assert set_profile(model, 2, profile(1002))["status"] == "Accepted"  # another EVSE
    assert set_profile(model, 0, profile(900, "ChargingStationMaxProfile"))["status"] == "Accepted"  # another purpose
    # Validity periods that do not overlap: both are kept, each in force in its own. Periods that
    # touch overlap (libocpp compares validFrom <= the other's validTo, both ends included).
    assert set_profile(model, 1, {**profile(1001), "validTo": iso(T0 + HOUR)})["status"] == "Accepted"
    touching = profile(1003, limit=2000.0, validFrom=iso(T0 + HOUR), validTo=iso(T0 + 2 * HOUR))
    assert rejected(set_profile(model, 1, touching), "DuplicateProfile", "DuplicateProfileValidityPeriod")
    later = {**touching, "validFrom": iso(T0 + HOUR + 60)}
    last = profile(1004, limit=1000.0, validFrom=iso(T0 + 2 * HOUR + 60))
    assert set_profile(model, 1, later)["status"] == "Accepted"
    assert set_profile(model, 1, last)["status"] == "Accepted"
    assert sorted(model.profiles) == [900, 1001, 1002, 1003, 1004]
    moments = (T0, T0 + HOUR + 60, T0 + 2 * HOUR + 60)
    assert [model.limit_now(1, now=moment) for moment in moments] == [5000.0, 2000.0, 1000.0]
    overlapping = profile(1005, validFrom=iso(T0 + HOUR + 1800), validTo=iso(T0 + 3 * HOUR))
    assert rejected(set_profile(model, 1, overlapping), "DuplicateProfile", "DuplicateProfileValidityPeriod")


# ---------------------------------------------------------------------- K01.FR.52/53


def test_a_tx_default_profile_on_evse_0_and_one_on_an_evse_do_not_share_a_stack_level(
    model: SmartCharging201,
) -> None:
    assert set_profile(model, 1, profile(1001, stack=2))["status"] == "Accepted"
    answer = set_profile(model, 0, profile(1000, stack=2))
    assert rejected(answer, "DuplicateProfile", "DuplicateTxDefaultProfileFound (K01.FR.52)"), answer
    assert set_profile(model, 0, profile(1000, stack=1))["status"] == "Accepted"
    answer = set_profile(model, 2, profile(1002, stack=1))
    assert rejected(answer, "DuplicateProfile", "DuplicateTxDefaultProfileFound (K01.FR.53)"), answer
    # A station maximum at that level is another purpose; the same id moves (K01.FR.05).
    assert set_profile(model, 0, profile(900, "ChargingStationMaxProfile", stack=2))["status"] == "Accepted"
    assert set_profile(model, 0, profile(1001, stack=2))["status"] == "Accepted"
    assert model.evse_of(1001) == 0 and sorted(model.profiles) == [900, 1000, 1001]


# ---------------------------------------------------------------------- K01.FR.39


def test_a_tx_profile_at_the_stack_level_of_another_of_the_transaction_is_rejected(model: SmartCharging201) -> None:
    model.transaction_started(1, "tx-1", start=T0)
    assert set_profile(model, 1, profile(3001, "TxProfile", stack=1, transactionId="tx-1"))["status"] == "Accepted"
    answer = set_profile(model, 1, profile(3002, "TxProfile", 2000.0, stack=1, transactionId="tx-1"))
    assert rejected(answer, "InvalidStackLevel", "TxProfileConflictingStackLevel (K01.FR.39)"), answer
    assert set_profile(model, 1, profile(3002, "TxProfile", 2000.0, stack=2, transactionId="tx-1")) == {
        "status": "Accepted"
    }
    assert set_profile(model, 1, profile(3001, "TxProfile", 1000.0, stack=1, transactionId="tx-1")) == {
        "status": "Accepted"
    }  # the same id replaces
    assert model.limit_now(1) == 2000.0  # stack level 2 wins
    # A TxDefaultProfile at that level is another purpose.
    assert set_profile(model, 1, profile(1001, stack=1))["status"] == "Accepted"


def test_the_tx_profile_of_a_remote_start_blocks_another_at_its_level(model: SmartCharging201) -> None:
    assert model.remote_start(1, profile(3000, "TxProfile", 4000.0, stack=1)) == "Accepted"
    model.transaction_started(1, "tx-2", start=T0)
    answer = set_profile(model, 1, profile(3001, "TxProfile", 3000.0, stack=1, transactionId="tx-2"))
    assert rejected(answer, "InvalidStackLevel", "TxProfileConflictingStackLevel"), answer
    assert model.limit_now(1) == 4000.0
    assert set_profile(model, 1, profile(3000, "TxProfile", 3000.0, stack=1, transactionId="tx-2")) == {
        "status": "Accepted"
    }
    assert model.limit_now(1) == 3000.0


def test_without_transaction_id_required_the_running_transaction_counts(model: SmartCharging201) -> None:
    lax = SmartCharging201.from_device_model(factory_device_model(1), tx_profile_needs_transaction_id=False)
    lax.transaction_started(1, "tx-3", start=T0)
    assert set_profile(lax, 1, profile(3001, "TxProfile", stack=1))["status"] == "Accepted"
    assert rejected(set_profile(lax, 1, profile(3002, "TxProfile", stack=1)), "InvalidStackLevel", "TxProfile")


# ---------------------------------------------------------------------- statusInfo


def test_every_rejection_says_why_in_a_schema_valid_status_info(model: SmartCharging201) -> None:
    amperes = profile(1001)
    amperes["chargingSchedule"][0]["chargingRateUnit"] = "A"
    only_w = SmartCharging201.from_device_model(factory_device_model(1, rate_units="W"))
    assert set_profile(only_w, 1, amperes)["statusInfo"]["reasonCode"] == "UnsupportedRateUnit"
    assert set_profile(model, 1, profile(1001, stack=99))["statusInfo"]["reasonCode"] == "InvalidStackLevel"
    assert set_profile(model, 1, profile(3001, "TxProfile"))["statusInfo"]["reasonCode"] == "MissingParam"
    no_tx = set_profile(model, 1, profile(3001, "TxProfile", transactionId="gone"))
    assert no_tx["statusInfo"]["reasonCode"] == "TxNotFound"
    backwards = profile(1001)
    backwards["chargingSchedule"][0]["chargingSchedulePeriod"] = [
        {"startPeriod": 60, "limit": 1.0},
        {"startPeriod": 0, "limit": 2.0},
    ]
    assert set_profile(model, 1, backwards)["statusInfo"]["reasonCode"] == "InvalidSchedule"
    assert set_profile(model, 1, profile(1001, "ChargingStationMaxProfile"))["statusInfo"]["reasonCode"] == (
        "InvalidValue"
    )  # only on EVSE 0
    accepted = set_profile(model, 1, profile(1001))
    assert accepted == {"status": "Accepted"} and model.status_info is None
    assert status_info("x" * 600)["additionalInfo"] == "x" * 512


# ---------------------------------------------------------------------- ClearChargingProfile


def test_clear_by_criteria_clears_every_match_on_every_evse_or_on_the_one_named(model: SmartCharging201) -> None:
    for evse, body in (
        (1, profile(1001, stack=1)),
        (2, profile(1002, stack=1)),
        (1, profile(2001, stack=2)),
        (0, profile(1000, stack=3)),
        (0, profile(900, "ChargingStationMaxProfile", stack=1)),
    ):
        assert set_profile(model, evse, body)["status"] == "Accepted"
    assert clear(model, chargingProfilePurpose="TxDefaultProfile", stackLevel=1) == "Accepted"
    assert sorted(model.profiles) == [900, 1000, 2001]  # on EVSE 1 and 2; not the station maximum
    assert clear(model, chargingProfilePurpose="TxDefaultProfile", stackLevel=1) == "Unknown"
    assert clear(model, evseId=2, chargingProfilePurpose="TxDefaultProfile", stackLevel=2) == "Unknown"
    assert clear(model, evseId=1, chargingProfilePurpose="TxDefaultProfile", stackLevel=2) == "Accepted"
    assert clear(model, evseId=0, chargingProfilePurpose="TxDefaultProfile") == "Accepted"
    assert clear(model, chargingProfilePurpose="ChargingStationMaxProfile", stackLevel=1) == "Accepted"
    assert model.profiles == {} and model.bodies == {}
    assert clear(model, chargingProfilePurpose="ChargingStationMaxProfile") == "Unknown"


def test_a_station_of_one_stack_level_takes_each_profile_after_its_level_is_cleared() -> None:
    """What the connector's bridge does (``make_room``): clear the level, then set."""
    model = SmartCharging201.from_device_model(factory_device_model(2, max_stack_level=1), clock=lambda: T0)
    assert set_profile(model, 0, profile(1000, limit=9000.0)) == {"status": "Accepted"}
    # Without the clear: K01.FR.53 (EVSE 1 against EVSE 0), then K01.FR.06 (on EVSE 1).
    assert set_profile(model, 1, profile(1001))["status"] == "Rejected"
    writes = [(1, 1001, 8000.0), (1, 2001, 7000.0), (2, 1002, 6000.0)]
    for evse, profile_id, watts in writes:
        if evse == 1 and model.profiles:
            assert set_profile(model, evse, profile(profile_id))["status"] == "Rejected"
        assert clear(model, chargingProfilePurpose="TxDefaultProfile", stackLevel=1) == "Accepted"
        assert set_profile(model, evse, profile(profile_id, limit=watts)) == {"status": "Accepted"}
        assert list(model.profiles) == [profile_id] and model.limit_now(evse) == watts


# ---------------------------------------------------------------------- 1.6 unchanged


def test_the_1_6_model_still_replaces_a_profile_of_the_same_stack_level_and_purpose() -> None:
    model = SmartCharging(connectors=1, clock=lambda: T0)
    body = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1.0}]},
    }
    assert model.set_charging_profile({"connectorId": 1, "csChargingProfiles": body}) == "Accepted"
    assert model.set_charging_profile({"connectorId": 1, "csChargingProfiles": {**body, "chargingProfileId": 2}}) == (
        "Accepted"
    )
    assert list(model.profiles) == [2]
