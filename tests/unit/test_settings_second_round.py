"""The second round's settings (SETTINGS.md "Added in the second round"): onboarding, power-limit
read-back and the failsafe: their defaults, and one line naming the variable for a bad value."""

from __future__ import annotations

import pytest

from common.settings import DEFAULT_METER_MEASURANDS, SettingsError, load_gateway
from processes.bridge.settings import load_bridge_settings


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_gateway(env)
    return caught.value.problems


def test_defaults() -> None:
    gateway = load_gateway({})
    assert gateway.onboarding.enabled is True
    assert gateway.onboarding.measurands == DEFAULT_METER_MEASURANDS
    assert (gateway.onboarding.meter_interval, gateway.onboarding.clock_aligned_interval) == (15, 0)
    assert gateway.onboarding.boot_wait == 10 and gateway.onboarding.charge_points_file is None
    assert gateway.failsafe.power is None and gateway.failsafe.after == 60 and gateway.failsafe.lease == 300
    bridge = load_bridge_settings({})
    assert bridge.limit_grace == 60 and bridge.failsafe.power is None


def test_values_are_read() -> None:
    gateway = load_gateway(
        {
            "OCPP_ONBOARDING": "FALSE",
            "OCPP_METER_MEASURANDS": " Power.Active.Import , SoC,SoC",
            "OCPP_METER_INTERVAL": "0",
            "OCPP_BOOT_WAIT": "2.5",
            "OCPP_FAILSAFE_POWER": "4140",
            "OCPP_FAILSAFE_AFTER": "30",
            "CHARGING_PHASES": "1",
        }
    )
    assert gateway.onboarding.enabled is False
    assert gateway.onboarding.measurands == ("Power.Active.Import", "SoC")  # order kept, repeats dropped
    assert gateway.onboarding.meter_interval == 0 and gateway.onboarding.boot_wait == 2.5
    assert (gateway.failsafe.power, gateway.failsafe.after, gateway.failsafe.phases) == (4140, 30, 1)


def test_bad_values_are_named_each_on_a_line_of_its_own() -> None:
    found = problems(
        {
            "OCPP_ONBOARDING": "no",
            "OCPP_METER_MEASURANDS": "Power.Active.Import,Horsepower",
            "OCPP_METER_INTERVAL": "-1",
            "OCPP_BOOT_WAIT": "soon",
            "OCPP_FAILSAFE_POWER": "lots",
            "OCPP_FAILSAFE_LEASE": "1",
            "OCPP_CHARGE_POINTS_FILE": "/nonexistent/cp.toml",
        }
    )
    assert len(found) == 7
    assert "OCPP_ONBOARDING='no' is invalid: expected TRUE or FALSE" in found
    assert any(
        line.startswith("OCPP_METER_MEASURANDS=") and "Horsepower is not an OCPP measurand" in line for line in found
    )
    for name in (
        "OCPP_METER_INTERVAL",
        "OCPP_BOOT_WAIT",
        "OCPP_FAILSAFE_POWER",
        "OCPP_FAILSAFE_LEASE",
        "OCPP_CHARGE_POINTS_FILE",
    ):
        assert any(line.startswith(f"{name}=") for line in found), name


def test_the_measurands_are_the_librarys() -> None:
    from ocpp.v16.enums import Measurand

    from common.settings import MEASURANDS

    assert {str(member.value) for member in Measurand} == MEASURANDS
