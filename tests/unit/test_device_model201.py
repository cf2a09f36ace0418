"""The simulated 2.0.1 station's device model (tools/device_model201.py): pure, driven directly."""

from __future__ import annotations

import pytest

from common.schemas import V201, schema_problem
from tools.device_model201 import factory_device_model

SAMPLED = {"name": "SampledDataCtrlr"}


def test_factory_has_the_variables_the_connector_relies_on() -> None:
    model = factory_device_model(2, connectors_per_evse=2)
    for key in (
        "SampledDataCtrlr.Enabled",
        "SampledDataCtrlr.TxUpdatedMeasurands",
        "SampledDataCtrlr.TxUpdatedInterval",
        "SampledDataCtrlr.TxEndedMeasurands",
        "SampledDataCtrlr.TxEndedInterval",
        "SampledDataCtrlr.TxStartedMeasurands",
        "AlignedDataCtrlr.Enabled",
        "AlignedDataCtrlr.Measurands",
        "AlignedDataCtrlr.Interval",
        "SmartChargingCtrlr.Enabled",
        "SmartChargingCtrlr.Available",
        "SmartChargingCtrlr.ProfileStackLevel",
        "SmartChargingCtrlr.RateUnit",
        "SmartChargingCtrlr.PeriodsPerSchedule",
        "SmartChargingCtrlr.Entries[ChargingProfiles]",
        "OCPPCommCtrlr.HeartbeatInterval",
        "OCPPCommCtrlr.MessageTimeout[Default]",
        "AuthCtrlr.Enabled",
        "AuthCtrlr.AuthorizeRemoteStart",
        "LocalAuthListCtrlr.Enabled",
        "LocalAuthListCtrlr.Entries",
        "LocalAuthListCtrlr.ItemsPerMessage",
        "DeviceDataCtrlr.ItemsPerMessage[GetReport]",
        "DeviceDataCtrlr.ItemsPerMessage[GetVariables]",
        "DeviceDataCtrlr.BytesPerMessage[GetReport]",
        "EVSE.2.Power",
        "EVSE.2.AvailabilityState",
        "Connector.2.2.AvailabilityState",
        "ChargingStation.Model",
        "ChargingStation.VendorName",
        "ChargingStation.AvailabilityState",
    ):
        assert key in model, key
    assert model.evse_ids() == [1, 2]
    assert model.connector_ids(2) == [1, 2]
    assert model.value("SmartChargingCtrlr.RateUnit") == "A,W"


def test_measurand_lists_take_only_supported_measurands() -> None:
    model = factory_device_model(supported_measurands=["Energy.Active.Import.Register", "SoC"], max_measurands=2)
    variable = {"name": "TxUpdatedMeasurands"}
    assert model.set_variable(SAMPLED, variable, "SoC,Energy.Active.Import.Register") == "Accepted"
    assert model.set_variable(SAMPLED, variable, "Voltage") == "Rejected"
    assert model.set_variable(SAMPLED, variable, "SoC,SoC") == "Rejected"
    assert model.effective_list("SampledDataCtrlr.TxUpdatedMeasurands") == ["SoC", "Energy.Active.Import.Register"]
    assert model.find_key("SampledDataCtrlr.TxUpdatedMeasurands").values_list == "Energy.Active.Import.Register,SoC"  # type: ignore[union-attr]
    assert model.history[-1] == ("SampledDataCtrlr.TxUpdatedMeasurands", "Actual", "SoC,SoC", "Rejected")


def test_read_only_refused_and_reboot_required() -> None:
    model = factory_device_model(
        read_only={"SampledDataCtrlr.TxUpdatedInterval"},
        refuse={"AlignedDataCtrlr.Interval"},
        reboot_required={"OCPPCommCtrlr.HeartbeatInterval"},
    )
    assert model.set_variable(SAMPLED, {"name": "TxUpdatedInterval"}, "10") == "Rejected"
    assert model.set_variable({"name": "AlignedDataCtrlr"}, {"name": "Interval"}, "10") == "Rejected"
    assert model.set_variable({"name": "OCPPCommCtrlr"}, {"name": "HeartbeatInterval"}, "60") == "RebootRequired"
    assert model.value("OCPPCommCtrlr.HeartbeatInterval") == "60"
    assert model.effective("OCPPCommCtrlr.HeartbeatInterval") == "300"
    assert model.reboot() == {"OCPPCommCtrlr.HeartbeatInterval": "60"}
    assert model.effective_int("OCPPCommCtrlr.HeartbeatInterval") == 60
    with pytest.raises(KeyError):
        factory_device_model(read_only={"Nothing.Here"})


def test_reports_are_schema_valid_notify_report_data() -> None:
    model = factory_device_model(2)
    full = model.base_report("FullInventory")
    assert len(full) == len(model.variables)
    configuration = model.base_report("ConfigurationInventory")
    assert configuration and all(e["variableAttribute"][0]["mutability"] != "ReadOnly" for e in configuration)
    summary = model.base_report("SummaryInventory")
    assert {e["variable"]["name"] for e in summary} == {"AvailabilityState", "Available"}
    payload = {"requestId": 1, "generatedAt": "2025-01-01T00:00:00Z", "seqNo": 0, "reportData": full}
    assert schema_problem("NotifyReport", payload, V201) is None
    evse2 = model.report({"requestId": 2, "componentVariable": [{"component": {"name": "EVSE", "evse": {"id": 2}}}]})
    assert {e["variable"]["name"] for e in evse2} == {"AvailabilityState", "Available", "Power", "SupplyPhases"}
    enabled = model.report({"requestId": 3, "componentCriteria": ["Enabled"]})
    assert {e["component"]["name"] for e in enabled} == {
        "SampledDataCtrlr",
        "AlignedDataCtrlr",
        "SmartChargingCtrlr",
        "AuthCtrlr",
        "LocalAuthListCtrlr",
    }


def test_get_variables_statuses() -> None:
    model = factory_device_model()
    model.bind("LocalAuthListCtrlr.Entries", lambda: "7")
    answer = model.get_variables(
        {
            "getVariableData": [
                {"component": {"name": "localauthlistctrlr"}, "variable": {"name": "entries"}},
                {"component": SAMPLED, "variable": {"name": "TxUpdatedInterval"}, "attributeType": "Target"},
                {"component": {"name": "Nope"}, "variable": {"name": "X"}},
            ]
        }
    )
    assert [r["attributeStatus"] for r in answer["getVariableResult"]] == [
        "Accepted",
        "NotSupportedAttributeType",
        "UnknownComponent",
    ]
    assert answer["getVariableResult"][0]["attributeValue"] == "7"
