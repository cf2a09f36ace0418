"""The simulated charge point's configuration store, and how the charge point answers from it (no sockets)."""

from __future__ import annotations

import asyncio

import pytest

from tools.chargepoint import AnswerCallError, BootTrigger, SimulatedChargePoint
from tools.configuration import (
    FACTORY_MAX_MEASURANDS,
    MEASURANDS,
    SIMULATED_MEASURANDS,
    ConfigurationStore,
    factory_configuration,
)
from tools.ocppj import DEFAULT_CONFIGURATION

WANTED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"
URL = "ws://127.0.0.1:1/ocpp"  # never connected to


def keys(answer: dict[str, object]) -> dict[str, tuple[object, object]]:
    entries = answer["configurationKey"]
    assert isinstance(entries, list)
    return {entry["key"]: (entry.get("value"), entry["readonly"]) for entry in entries}


# --------------------------------------------------------------------------- the default store


def test_the_default_store_holds_the_simulators_two_keys() -> None:
    store = ConfigurationStore()
    assert store.get_configuration() == {"configurationKey": list(DEFAULT_CONFIGURATION), "unknownKey": []}
    assert store.get_configuration(["HeartbeatInterval", "NoSuchKey"]) == {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknownKey": ["NoSuchKey"],
    }
    assert store.change_configuration("HeartbeatInterval", "60") == "Accepted"
    assert store.value("HeartbeatInterval") == "60"
    assert store.change_configuration("ChargingScheduleAllowedChargingRateUnit", "Power") == "Rejected"
    assert store.change_configuration("MeterValuesSampledData", "SoC") == "NotSupported"


def test_requested_keys_are_matched_without_case_once_each_in_their_order() -> None:
    store = factory_configuration()
    answer = store.get_configuration(
        ["meterValueSampleInterval", "NumberOfConnectors", "Nope", "Nope", "NUMBEROFCONNECTORS"]
    )
    assert answer == {
        "configurationKey": [
            {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "1"},
        ],
        "unknownKey": ["Nope"],
    }
    assert store.change_configuration("metervaluesampleinterval", "15") == "Accepted"
    assert store.value("MeterValueSampleInterval") == "15"
    assert store.change_requests == {"MeterValueSampleInterval": 1}


# --------------------------------------------------------------------------- factory settings


def test_factory_settings_are_a_real_chargers_keys_with_energy_only_meter_values() -> None:
    store = factory_configuration(connectors=2)
    config = keys(store.get_configuration())
    assert config["NumberOfConnectors"] == ("2", True)
    assert config["SupportedFeatureProfiles"] == (
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
        True,
    )
    assert config["MeterValuesSampledData"] == ("Energy.Active.Import.Register", False)
    assert config["MeterValuesSampledDataMaxLength"] == (str(FACTORY_MAX_MEASURANDS), True)
    assert config["MeterValueSampleInterval"] == ("60", False)
    assert config["ClockAlignedDataInterval"] == ("0", False)
    assert config["ChargingScheduleAllowedChargingRateUnit"] == ("Current", True)
    assert config["ConnectorPhaseRotation"] == ("0.RST,1.RST,2.RST", False)
    for key in (
        "ChargeProfileMaxStackLevel",
        "ChargingScheduleMaxPeriods",
        "MaxChargingProfilesInstalled",
        "MeterValuesAlignedData",
        "StopTxnSampledData",
        "HeartbeatInterval",
        "LocalAuthListEnabled",
        "LocalAuthListMaxLength",
        "SendLocalListMaxLength",
        "AuthorizeRemoteTxRequests",
    ):
        assert key in config
    assert len(config) == len(store.get_configuration()["configurationKey"])  # each key once
    assert store.supported_measurands == set(SIMULATED_MEASURANDS)
    with pytest.raises(ValueError, match="at least one connector"):
        factory_configuration(connectors=0)


def test_factory_settings_take_parameters() -> None:
    store = factory_configuration(3, meter_interval=5, max_measurands=2, rate_units="Current,Power", max_stack_level=0)
    assert store.value("NumberOfConnectors") == "3" and store.value("MeterValueSampleInterval") == "5"
    assert store.value("MeterValuesSampledDataMaxLength") == "2"
    assert store.value("ChargingScheduleAllowedChargingRateUnit") == "Current,Power"
    assert store.value("ChargeProfileMaxStackLevel") == "0"


# --------------------------------------------------------------------------- ChangeConfiguration


@pytest.mark.parametrize(
    ("key", "value", "status"),
    [
        ("NoSuchKey", "1", "NotSupported"),
        ("NumberOfConnectors", "4", "Rejected"),  # read-only
        ("MeterValueSampleInterval", "15", "Accepted"),
        ("MeterValueSampleInterval", "0", "Accepted"),
        ("MeterValueSampleInterval", "-5", "Rejected"),
        ("MeterValueSampleInterval", "1.5", "Rejected"),
        ("MeterValueSampleInterval", "fifteen", "Rejected"),
        ("MeterValueSampleInterval", "", "Rejected"),
        ("ClockAlignedDataInterval", "900", "Accepted"),
        ("HeartbeatInterval", "٣", "Rejected"),  # a digit, but not an ASCII one
        ("LocalAuthListEnabled", "FALSE", "Accepted"),
        ("LocalAuthListEnabled", "no", "Rejected"),
        ("MeterValuesSampledData", WANTED, "Accepted"),
        ("MeterValuesSampledData", "", "Accepted"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register, Power.Active.Import", "Accepted"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Frequency", "Rejected"),  # not supported
        ("MeterValuesSampledData", "Energy.Active.Import.Register,,SoC", "Rejected"),
        ("MeterValuesSampledData", "Bogus", "Rejected"),
        ("StopTxnSampledData", "SoC", "Accepted"),
        ("MeterValuesAlignedData", "Temperature", "Rejected"),
        ("ConnectorPhaseRotation", "0.RST,1.TSR", "Accepted"),
        ("ConnectorPhaseRotation", "1.XYZ", "Rejected"),
        ("ConnectorPhaseRotation", "0.RST,1.RST,2.RST", "Rejected"),  # longer than its MaxLength (2)
        ("WebSocketPingInterval", "30", "Accepted"),
    ],
)
def test_change_configuration_answers_as_a_charger_does(key: str, value: str, status: str) -> None:
    store = factory_configuration()
    before = store.value(key)
    assert store.change_configuration(key, value) == status
    assert store.value(key) == (value if status == "Accepted" else before)
    assert store.history == [(key, value, status)]


def test_a_measurand_list_must_fit_the_max_length() -> None:
    store = factory_configuration(max_measurands=3)
    assert store.change_configuration("MeterValuesSampledData", WANTED) == "Rejected"
    three = "Energy.Active.Import.Register,Power.Active.Import,SoC"
    assert store.change_configuration("MeterValuesSampledData", three) == "Accepted"
    assert store.effective_list("MeterValuesSampledData") == three.split(",")
    assert store.max_length("MeterValuesSampledData") == 3 and store.max_length("HeartbeatInterval") is None
    # Without its own MaxLength key, another measurand list is held to MeterValuesSampledDataMaxLength.
    store.remove("StopTxnSampledDataMaxLength")
    assert store.change_configuration("StopTxnSampledData", WANTED) == "Rejected"


def test_supported_measurands_are_the_stores_own() -> None:
    evbox = factory_configuration(supported_measurands=["Energy.Active.Import.Register", "Power.Active.Import"])
    assert evbox.change_configuration("MeterValuesSampledData", WANTED) == "Rejected"
    assert evbox.change_configuration("MeterValuesSampledData", "Power.Active.Import") == "Accepted"
    generic = ConfigurationStore([{"key": "MeterValuesSampledData", "readonly": False, "value": ""}])
    assert generic.supported_measurands == set(MEASURANDS)
    assert generic.change_configuration("MeterValuesSampledData", ",".join(MEASURANDS)) == "Accepted"  # no limit


def test_refused_keys_are_refused_whatever_the_value() -> None:
    store = factory_configuration(refuse={"MeterValueSampleInterval"})
    assert store.change_configuration("MeterValueSampleInterval", "15") == "Rejected"
    assert store.value("MeterValueSampleInterval") == "60"
    assert store.change_configuration("ClockAlignedDataInterval", "900") == "Accepted"
    odd = factory_configuration(refuse={"clockaligneddatainterval": "NotSupported"})
    assert odd.change_configuration("ClockAlignedDataInterval", "900") == "NotSupported"
    odd.refuse.clear()  # refusals may change while running
    assert odd.change_configuration("ClockAlignedDataInterval", "900") == "Accepted"
    with pytest.raises(ValueError, match="refuse 'X' with 'Accepted'"):
        ConfigurationStore(refuse={"X": "Accepted"})


def test_minimums_reject_smaller_intervals() -> None:
    easee = factory_configuration(minimums={"MeterValueSampleInterval": 30})
    assert easee.change_configuration("MeterValueSampleInterval", "15") == "Rejected"
    assert easee.change_configuration("MeterValueSampleInterval", "30") == "Accepted"


def test_changes_are_counted_per_key_whatever_the_answer() -> None:
    store = factory_configuration(refuse={"ClockAlignedDataInterval"})
    store.change_configuration("MeterValuesSampledData", WANTED)
    store.change_configuration("MeterValuesSampledData", "Bogus")
    store.change_configuration("ClockAlignedDataInterval", "0")
    store.change_configuration("Nope", "1")
    assert store.change_requests == {"MeterValuesSampledData": 2, "ClockAlignedDataInterval": 1, "Nope": 1}
    assert [status for _, _, status in store.history] == ["Accepted", "Rejected", "Rejected", "NotSupported"]
    assert store.change_requests["MeterValueSampleInterval"] == 0


# --------------------------------------------------------------------------- RebootRequired


def test_reboot_required_values_are_reported_at_once_and_in_force_after_a_reboot() -> None:
    store = factory_configuration(reboot_required={"MeterValuesSampledData"})
    assert store.change_configuration("MeterValuesSampledData", WANTED) == "RebootRequired"
    assert store.value("MeterValuesSampledData") == WANTED  # what GetConfiguration reports
    assert keys(store.get_configuration(["MeterValuesSampledData"]))["MeterValuesSampledData"] == (WANTED, False)
    assert store.effective("MeterValuesSampledData") == "Energy.Active.Import.Register"  # what it samples
    assert store.pending == {"MeterValuesSampledData": WANTED}
    assert store.reboot() == {"MeterValuesSampledData": WANTED}
    assert store.effective("MeterValuesSampledData") == WANTED and store.pending == {}
    assert store.reboot() == {}


def test_reboot_required_changes_are_checked_and_can_be_undone_before_the_reboot() -> None:
    store = factory_configuration(reboot_required={"HeartbeatInterval"})
    assert store.change_configuration("HeartbeatInterval", "soon") == "Rejected"
    assert store.pending == {}
    assert store.change_configuration("HeartbeatInterval", "300") == "RebootRequired"  # unchanged: nothing pending
    assert store.pending == {}
    assert store.change_configuration("HeartbeatInterval", "60") == "RebootRequired"
    assert store.change_configuration("HeartbeatInterval", "90") == "RebootRequired"
    assert store.pending == {"HeartbeatInterval": "90"} and store.effective_int("HeartbeatInterval") == 300
    assert store.change_configuration("HeartbeatInterval", "300") == "RebootRequired"  # back: nothing pending
    assert store.pending == {} and store.value("HeartbeatInterval") == "300"
    store.change_configuration("HeartbeatInterval", "60")
    store.reboot_required.clear()
    assert store.change_configuration("HeartbeatInterval", "45") == "Accepted"  # in force at once
    assert store.pending == {} and store.effective("HeartbeatInterval") == "45"


def test_set_and_remove_are_set_up_without_checks() -> None:
    store = ConfigurationStore()
    store.set("MeterValueSampleInterval", "10")
    store.set("heartbeatinterval", "30", readonly=True)
    assert store.keys == ["ChargingScheduleAllowedChargingRateUnit", "HeartbeatInterval", "MeterValueSampleInterval"]
    assert keys(store.get_configuration())["HeartbeatInterval"] == ("30", True)
    store.set("Unset", None)
    assert store.get_configuration(["Unset"])["configurationKey"] == [{"key": "Unset", "readonly": False}]
    store.remove("unset")
    assert "Unset" not in store and "heartbeatINTERVAL" in store
    assert store.change_requests == {}
    with pytest.raises(KeyError):
        store.remove("Unset")


# --------------------------------------------------------------------------- the charge point's answers


def test_the_charge_point_answers_from_its_store() -> None:
    store = factory_configuration(reboot_required={"MeterValueSampleInterval"})
    cp = SimulatedChargePoint(URL, "CP_1", configuration=store)
    assert cp.configuration is store
    assert cp.answer_call("GetConfiguration", {}) == store.get_configuration()
    assert cp.answer_call("GetConfiguration", {"key": ["NumberOfConnectors", "X"]}) == {
        "configurationKey": [{"key": "NumberOfConnectors", "readonly": True, "value": "1"}],
        "unknownKey": ["X"],
    }
    assert cp.answer_call("ChangeConfiguration", {"key": "MeterValuesSampledData", "value": WANTED}) == {
        "status": "Accepted"
    }
    assert cp.answer_call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "15"}) == {
        "status": "RebootRequired"
    }
    assert store.pending == {"MeterValueSampleInterval": "15"}
    assert cp.answer_call("Reset", {"type": "Soft"}) == {"status": "Accepted"}
    assert store.pending == {} and store.effective("MeterValueSampleInterval") == "15"
    assert cp.answer_call("UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    assert cp.answer_call("FooBar", {}) is None
    with pytest.raises(AnswerCallError) as error:
        cp.answer_call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": 60})
    assert error.value.code == "TypeConstraintViolation"
    with pytest.raises(AnswerCallError):
        cp.answer_call("GetConfiguration", {"key": "HeartbeatInterval"})


def test_the_default_charge_point_keeps_its_two_keys() -> None:
    cp = SimulatedChargePoint(URL, "CP_1")
    assert cp.answer_call("GetConfiguration", {}) == {"configurationKey": list(DEFAULT_CONFIGURATION), "unknownKey": []}
    assert dict(cp.boot_fields) == {"chargePointVendor": "SimVendor", "chargePointModel": "SimModel"}
    assert cp.boot_trigger is BootTrigger.BOOT and not cp.booted
    assert SimulatedChargePoint(URL, "CP_2").configuration is not cp.configuration  # each its own


@pytest.mark.parametrize(
    ("trigger", "before_boot", "after_boot"),
    [
        (BootTrigger.BOOT, "Accepted", "Rejected"),  # the errata sheet: Rejected once booted
        ("reject", "Rejected", "Rejected"),
        ("ignore", "Accepted", "Accepted"),
        ("not-implemented", "NotImplemented", "NotImplemented"),
    ],
)
def test_trigger_message_boot_notification(trigger: str, before_boot: str, after_boot: str) -> None:
    async def scenario() -> None:
        cp = SimulatedChargePoint(URL, "CP_1", boot_trigger=trigger)
        assert cp.answer_call("TriggerMessage", {"requestedMessage": "BootNotification"}) == {"status": before_boot}
        cp.booted = True
        assert cp.answer_call("TriggerMessage", {"requestedMessage": "BootNotification"}) == {"status": after_boot}
        assert cp.answer_call("TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}
        await cp.close()  # ends the BootNotification it may have started (not connected: it fails quietly)

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="'sometimes' is not a valid BootTrigger"):
        SimulatedChargePoint(URL, "CP_1", boot_trigger="sometimes")
