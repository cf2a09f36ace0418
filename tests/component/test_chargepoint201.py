"""The simulated OCPP 2.0.1 charging station (tools/chargepoint201.py, tools.simulate --protocol
ocpp2.0.1) against a bare ``ocpp.v201`` central system on a real websocket.

The central system is the ``ocpp`` library's own: it validates every request it sends and every
answer it gets against the 2.0.1 schemas; the station's answers are checked once more from its
``sent_answers`` record."""

from __future__ import annotations

import asyncio
import contextlib
import io
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.charge_point import camel_to_snake_case
from ocpp.messages import CallResult, _validate_payload
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from common.schemas import CENTRAL_SYSTEM_ACTIONS, V201, schema_problem
from tools import simulate
from tools.chargepoint201 import SimulatedChargingStation
from tools.device_model201 import factory_device_model
from tools.smart_charging201 import STATION_MAX

NOW = "2025-01-01T00:00:00Z"


class CSMS(ChargePoint):  # type: ignore[misc]
    """A bare 2.0.1 central system: records every message (snake_case payloads) and accepts it."""

    def __init__(self, cs_id: str, connection: ServerConnection, log: list[tuple[str, str, dict[str, Any]]]) -> None:
        super().__init__(cs_id, connection)
        self.log = log

    def _record(self, action: str, payload: dict[str, Any]) -> None:
        self.log.append((self.id, action, payload))

    @on("BootNotification")  # type: ignore[untyped-decorator]
    def on_boot(self, **payload: Any) -> Any:
        self._record("BootNotification", payload)
        return call_result.BootNotification(current_time=NOW, interval=300, status="Accepted")

    @on("Heartbeat")  # type: ignore[untyped-decorator]
    def on_heartbeat(self, **payload: Any) -> Any:
        self._record("Heartbeat", payload)
        return call_result.Heartbeat(current_time=NOW)

    @on("StatusNotification")  # type: ignore[untyped-decorator]
    def on_status(self, **payload: Any) -> Any:
        self._record("StatusNotification", payload)
        return call_result.StatusNotification()

    @on("Authorize")  # type: ignore[untyped-decorator]
    def on_authorize(self, **payload: Any) -> Any:
        self._record("Authorize", payload)
        return call_result.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")  # type: ignore[untyped-decorator]
    def on_transaction_event(self, **payload: Any) -> Any:
        self._record("TransactionEvent", payload)
        if payload.get("id_token") is not None:
            return call_result.TransactionEvent(id_token_info={"status": "Accepted"})
        return call_result.TransactionEvent()

    @on("MeterValues")  # type: ignore[untyped-decorator]
    def on_meter_values(self, **payload: Any) -> Any:
        self._record("MeterValues", payload)
        return call_result.MeterValues()

    @on("NotifyReport")  # type: ignore[untyped-decorator]
    def on_notify_report(self, **payload: Any) -> Any:
        self._record("NotifyReport", payload)
        return call_result.NotifyReport()

    @on("ReportChargingProfiles")  # type: ignore[untyped-decorator]
    def on_report_profiles(self, **payload: Any) -> Any:
        self._record("ReportChargingProfiles", payload)
        return call_result.ReportChargingProfiles()

    @on("NotifyCustomerInformation")  # type: ignore[untyped-decorator]
    def on_customer_information(self, **payload: Any) -> Any:
        self._record("NotifyCustomerInformation", payload)
        return call_result.NotifyCustomerInformation()

    @on("FirmwareStatusNotification")  # type: ignore[untyped-decorator]
    def on_firmware_status(self, **payload: Any) -> Any:
        self._record("FirmwareStatusNotification", payload)
        return call_result.FirmwareStatusNotification()

    @on("LogStatusNotification")  # type: ignore[untyped-decorator]
    def on_log_status(self, **payload: Any) -> Any:
        self._record("LogStatusNotification", payload)
        return call_result.LogStatusNotification()


@dataclass
class Central:
    url: str
    stations: dict[str, CSMS] = field(default_factory=dict)
    log: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    subprotocols: list[str | None] = field(default_factory=list)

    def messages(self, action: str, cs_id: str | None = None) -> list[dict[str, Any]]:
        return [payload for who, name, payload in self.log if name == action and cs_id in (None, who)]

    async def wait_for(self, action: str, count: int = 1, cs_id: str | None = None) -> list[dict[str, Any]]:
        """Until ``count`` messages of ``action`` have arrived (5 s at most); all of them."""
        async with asyncio.timeout(5):
            while len(self.messages(action, cs_id)) < count:  # noqa: ASYNC110 - no event to wait on in the library
                await asyncio.sleep(0.01)
        return self.messages(action, cs_id)

    async def send(self, cs_id: str, action: str, payload: dict[str, Any]) -> Any:
        """A CSMS call (camelCase payload, checked against the 2.0.1 schema first); the library checks the answer."""
        problem = schema_problem(action, payload, V201)
        assert problem is None, f"{action}: the test's own payload is invalid: {problem}"
        request = getattr(call, action)(**camel_to_snake_case(payload))
        return await self.stations[cs_id].call(request, suppress=False)


@contextlib.asynccontextmanager
async def central_system() -> AsyncIterator[Central]:
    central = Central(url="")

    async def handler(connection: ServerConnection) -> None:
        assert connection.request is not None
        cs_id = urllib.parse.unquote(connection.request.path.rstrip("/").rsplit("/", 1)[-1])
        central.subprotocols.append(connection.subprotocol)
        station = CSMS(cs_id, connection, central.log)
        central.stations[cs_id] = station
        with contextlib.suppress(ConnectionClosed):
            await station.start()

    async with serve(handler, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp2.0.1")]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        central.url = f"ws://127.0.0.1:{port}/ocpp"
        yield central


def run(test: Callable[[Central], Awaitable[None]]) -> None:
    async def main() -> None:
        async with central_system() as central:
            await asyncio.wait_for(test(central), 15)

    asyncio.run(main())


def assert_answers_valid(station: SimulatedChargingStation) -> None:
    for answer in station.sent_answers:
        assert answer.result is not None, f"{answer.action} answered CALLERROR {answer.error}"
        _validate_payload(CallResult("check", answer.result, answer.action), V201)


def in_minutes(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def profile(
    profile_id: int, purpose: str, limit: float, *, unit: str = "W", stack_level: int = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "id": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": unit,
                "startSchedule": "2020-01-01T00:00:00Z",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            }
        ],
        **extra,
    }


# ---------------------------------------------------------------------- messages of the station


def test_boot_status_and_a_transaction() -> None:
    async def test(central: Central) -> None:
        async with SimulatedChargingStation(central.url, "CS 1") as cs:
            assert cs.subprotocol == "ocpp2.0.1"
            boot = await cs.boot()
            assert boot["status"] == "Accepted" and cs.booted
            await cs.status(1, 1, "Occupied")
            assert (await cs.authorize("TAG1"))["idTokenInfo"]["status"] == "Accepted"
            tx = await cs.start_transaction(1, "TAG1", meter_start=1000)
            assert cs.last_transaction_event_result == {"idTokenInfo": {"status": "Accepted"}}
            await cs.update_transaction(tx, meter_wh=1500.5)
            await cs.meter_values(1)
            await cs.stop_transaction(tx, meter_stop=2000, stopped_reason="EVDisconnected")
            assert cs.transactions == {}
        assert central.subprotocols == ["ocpp2.0.1"]
        [boot_msg] = central.messages("BootNotification", "CS 1")
        assert boot_msg["reason"] == "PowerUp"
        assert boot_msg["charging_station"] == {"model": "Simulator201", "vendor_name": "BEMCom"}
        [status] = central.messages("StatusNotification")
        assert (status["evse_id"], status["connector_id"], status["connector_status"]) == (1, 1, "Occupied")
        assert central.messages("Authorize")[0]["id_token"] == {"id_token": "TAG1", "type": "ISO14443"}
        started, updated, ended = central.messages("TransactionEvent")
        assert [e["event_type"] for e in (started, updated, ended)] == ["Started", "Updated", "Ended"]
        assert [e["seq_no"] for e in (started, updated, ended)] == [0, 1, 2]
        assert {e["transaction_info"]["transaction_id"] for e in (started, updated, ended)} == {tx}
        assert len(tx) == 36  # a uuid
        assert started["evse"] == {"id": 1, "connector_id": 1}
        assert started["id_token"] == {"id_token": "TAG1", "type": "ISO14443"}
        assert started["trigger_reason"] == "Authorized"
        assert started["transaction_info"]["charging_state"] == "Charging"
        [begin] = started["meter_value"][0]["sampled_value"]
        assert begin == {
            "value": 1000.0,
            "context": "Transaction.Begin",
            "measurand": "Energy.Active.Import.Register",
            "unit_of_measure": {"unit": "Wh"},
        }
        [sample] = updated["meter_value"][0]["sampled_value"]
        assert (sample["value"], sample["context"]) == (1500.5, "Sample.Periodic")
        assert updated["trigger_reason"] == "MeterValuePeriodic"
        assert ended["transaction_info"]["stopped_reason"] == "EVDisconnected"
        [end] = ended["meter_value"][0]["sampled_value"]
        assert (end["value"], end["context"]) == (2000.0, "Transaction.End")
        [meter] = central.messages("MeterValues")
        assert meter["evse_id"] == 1 and meter["meter_value"][0]["sampled_value"][0]["value"] == 1500.5

    run(test)


# ---------------------------------------------------------------------- every CSMS call answered


def csms_calls(transaction_id: str) -> dict[str, dict[str, Any]]:
    """A valid payload for every CSMS -> CS action of 2.0.1."""
    component = {"name": "SampledDataCtrlr"}
    variable = {"name": "TxUpdatedInterval"}
    token = {"idToken": "TAG9", "type": "Central"}
    return {
        "CancelReservation": {"reservationId": 5},
        "CertificateSigned": {"certificateChain": "-----BEGIN CERTIFICATE-----"},
        "ChangeAvailability": {"operationalStatus": "Operative", "evse": {"id": 2}},
        "ClearCache": {},
        "ClearChargingProfile": {"chargingProfileId": 999},
        "ClearDisplayMessage": {"id": 1},
        "ClearVariableMonitoring": {"id": [1, 2]},
        "CostUpdated": {"totalCost": 1.5, "transactionId": transaction_id},
        "CustomerInformation": {"requestId": 3, "report": True, "clear": False, "idToken": token},
        "DataTransfer": {"vendorId": "com.example"},
        "DeleteCertificate": {
            "certificateHashData": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "aa",
                "issuerKeyHash": "bb",
                "serialNumber": "01",
            }
        },
        "GetBaseReport": {"requestId": 1, "reportBase": "SummaryInventory"},
        "GetChargingProfiles": {"requestId": 4, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}},
        "GetCompositeSchedule": {"duration": 60, "evseId": 1},
        "GetDisplayMessages": {"requestId": 5},
        "GetInstalledCertificateIds": {},
        "GetLocalListVersion": {},
        "GetLog": {"logType": "DiagnosticsLog", "requestId": 6, "log": {"remoteLocation": "ftp://example.com/"}},
        "GetMonitoringReport": {"requestId": 7},
        "GetReport": {"requestId": 8, "componentVariable": [{"component": component, "variable": variable}]},
        "GetTransactionStatus": {"transactionId": transaction_id},
        "GetVariables": {"getVariableData": [{"component": component, "variable": variable}]},
        "InstallCertificate": {"certificateType": "V2GRootCertificate", "certificate": "-----BEGIN CERTIFICATE-----"},
        "PublishFirmware": {"location": "http://example.com/fw", "checksum": "0" * 32, "requestId": 9},
        "RequestStartTransaction": {"idToken": token, "remoteStartId": 77, "evseId": 2},
        "RequestStopTransaction": {"transactionId": "not-running"},
        "ReserveNow": {"id": 5, "expiryDateTime": in_minutes(30), "idToken": token, "evseId": 3},
        "Reset": {"type": "OnIdle"},
        "SendLocalList": {
            "versionNumber": 1,
            "updateType": "Full",
            "localAuthorizationList": [{"idToken": token, "idTokenInfo": {"status": "Accepted"}}],
        },
        "SetChargingProfile": {"evseId": 0, "chargingProfile": profile(800, "ChargingStationMaxProfile", 20_000)},
        "SetDisplayMessage": {
            "message": {"id": 1, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "hi"}}
        },
        "SetMonitoringBase": {"monitoringBase": "All"},
        "SetMonitoringLevel": {"severity": 5},
        "SetNetworkProfile": {
            "configurationSlot": 1,
            "connectionData": {
                "ocppVersion": "OCPP20",
                "ocppTransport": "JSON",
                "ocppCsmsUrl": "ws://example.com/ocpp",
                "messageTimeout": 30,
                "securityProfile": 0,
                "ocppInterface": "Wired0",
            },
        },
        "SetVariableMonitoring": {
            "setMonitoringData": [
                {"value": 1, "type": "Delta", "severity": 5, "component": component, "variable": variable}
            ]
        },
        "SetVariables": {"setVariableData": [{"attributeValue": "30", "component": component, "variable": variable}]},
        "TriggerMessage": {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
        "UnlockConnector": {"evseId": 3, "connectorId": 1},
        "UnpublishFirmware": {"checksum": "0" * 32},
        "UpdateFirmware": {
            "requestId": 10,
            "firmware": {"location": "http://example.com/fw", "retrieveDateTime": NOW},
        },
    }


def test_every_csms_call_is_answered_schema_valid() -> None:
    async def test(central: Central) -> None:
        async with SimulatedChargingStation(central.url, "CS2", device_model=factory_device_model(3)) as cs:
            await cs.boot()
            tx = await cs.start_transaction(1, "TAG1")
            calls = csms_calls(tx)
            assert set(calls) == CENTRAL_SYSTEM_ACTIONS[V201]
            for action, payload in sorted(calls.items()):
                await central.send("CS2", action, payload)
            assert [action for action, _ in cs.received_calls] == sorted(calls)
            assert_answers_valid(cs)
            answers = {answer.action: answer.result for answer in cs.sent_answers}
            assert answers["DataTransfer"] == {"status": "UnknownVendorId"}
            assert answers["UnlockConnector"] == {"status": "Unlocked"}
            assert answers["RequestStartTransaction"] == {"status": "Accepted"}
            assert answers["RequestStopTransaction"] == {"status": "Rejected"}
            assert answers["GetTransactionStatus"] == {"messagesInQueue": False, "ongoingIndicator": True}
            assert answers["SendLocalList"] == {"status": "Accepted"}
            assert answers["GetLocalListVersion"] == {"versionNumber": 0}  # asked before SendLocalList
            assert answers["Reset"] == {"status": "Scheduled"}  # OnIdle, a transaction runs
            assert answers["SetChargingProfile"] == {"status": "Accepted"}
            assert answers["CancelReservation"] == {"status": "Rejected"}  # before ReserveNow
            assert answers["ReserveNow"] == {"status": "Accepted"}
            # the follow-ups: a report, the remote start on EVSE 2, the triggered status
            await central.wait_for("NotifyReport")
            await central.wait_for("NotifyCustomerInformation")
            started = [e for e in await central.wait_for("TransactionEvent", 2) if e["event_type"] == "Started"]
            assert started[-1]["evse"]["id"] == 2 and started[-1]["transaction_info"]["remote_start_id"] == 77
            assert started[-1]["trigger_reason"] == "RemoteStart"
            assert cs.local_list.version == 1

    run(test)


# ---------------------------------------------------------------------- device model


def test_base_report_comes_in_notify_report_parts() -> None:
    async def test(central: Central) -> None:
        model = factory_device_model(2, items_per_report=10)
        async with SimulatedChargingStation(central.url, "CS3", device_model=model) as cs:
            await cs.boot()
            answer = await central.send("CS3", "GetBaseReport", {"requestId": 42, "reportBase": "FullInventory"})
            assert answer.status == "Accepted"
            expected = -(-len(model.variables) // 10)
            parts = await central.wait_for("NotifyReport", expected)
            assert [part["seq_no"] for part in parts] == list(range(expected))
            assert {part["request_id"] for part in parts} == {42}
            assert [part.get("tbc", False) for part in parts] == [True] * (expected - 1) + [False]
            entries = [entry for part in parts for entry in part["report_data"]]
            assert all(len(part["report_data"]) <= 10 for part in parts)
            assert len(entries) == len(model.variables)
            by_name = {
                (e["component"]["name"], e["variable"]["name"], e["variable"].get("instance")): e for e in entries
            }
            measurands = by_name[("SampledDataCtrlr", "TxUpdatedMeasurands", None)]
            assert measurands["variable_attribute"][0]["value"] == "Energy.Active.Import.Register"
            assert measurands["variable_attribute"][0]["mutability"] == "ReadWrite"
            assert measurands["variable_characteristics"]["data_type"] == "MemberList"
            assert "Power.Active.Import" in measurands["variable_characteristics"]["values_list"]
            assert ("OCPPCommCtrlr", "MessageTimeout", "Default") in by_name
            assert ("DeviceDataCtrlr", "ItemsPerMessage", "GetReport") in by_name
            evses = {e["component"]["evse"]["id"] for e in entries if e["component"]["name"] == "EVSE"}
            assert evses == {1, 2}
            empty = await central.send(
                "CS3", "GetReport", {"requestId": 43, "componentVariable": [{"component": {"name": "Nothing"}}]}
            )
            assert empty.status == "EmptyResultSet"
            assert_answers_valid(cs)

    run(test)


def test_set_and_get_variables() -> None:
    async def test(central: Central) -> None:
        model = factory_device_model(read_only={"SampledDataCtrlr.TxUpdatedInterval"})
        async with SimulatedChargingStation(central.url, "CS4", device_model=model) as cs:
            await cs.boot()
            sampled = {"name": "SampledDataCtrlr"}
            data = [
                {
                    "component": sampled,
                    "variable": {"name": "TxUpdatedMeasurands"},
                    "attributeValue": "Energy.Active.Import.Register,SoC",
                },
                {
                    "component": {"name": "AlignedDataCtrlr"},
                    "variable": {"name": "Measurands"},
                    "attributeValue": "Frequency",
                },
                {"component": sampled, "variable": {"name": "TxUpdatedInterval"}, "attributeValue": "15"},
                {"component": {"name": "Nothing"}, "variable": {"name": "X"}, "attributeValue": "1"},
                {"component": sampled, "variable": {"name": "Nothing"}, "attributeValue": "1"},
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "attributeValue": "sixty",
                },
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "attributeValue": "60",
                    "attributeType": "Target",
                },
            ]
            result = await central.send("CS4", "SetVariables", {"setVariableData": data})
            statuses = [item["attribute_status"] for item in result.set_variable_result]
            assert statuses == [
                "Accepted",
                "Rejected",  # Frequency is not among the supported measurands
                "Rejected",  # made read-only
                "UnknownComponent",
                "UnknownVariable",
                "Rejected",  # not an integer
                "NotSupportedAttributeType",
            ]
            assert model.value("SampledDataCtrlr.TxUpdatedMeasurands") == "Energy.Active.Import.Register,SoC"
            got = await central.send(
                "CS4",
                "GetVariables",
                {
                    "getVariableData": [
                        {"component": sampled, "variable": {"name": "TxUpdatedMeasurands"}},
                        {
                            "component": {"name": "EVSE", "evse": {"id": 1}},
                            "variable": {"name": "Power"},
                            "attributeType": "MaxSet",
                        },
                        {
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "MessageTimeout", "instance": "Default"},
                        },
                        {"component": {"name": "EVSE", "evse": {"id": 9}}, "variable": {"name": "Power"}},
                    ]
                },
            )
            results = [(item["attribute_status"], item.get("attribute_value")) for item in got.get_variable_result]
            assert results == [
                ("Accepted", "Energy.Active.Import.Register,SoC"),
                ("Accepted", "11040"),
                ("Accepted", "30"),
                ("UnknownComponent", None),
            ]
            assert model.set_requests["SampledDataCtrlr.TxUpdatedMeasurands"] == 1
            assert_answers_valid(cs)

    run(test)


# ---------------------------------------------------------------------- smart charging


def test_charging_profiles_and_composite_schedule() -> None:
    async def test(central: Central) -> None:
        model = factory_device_model(2, rate_units="W")
        async with SimulatedChargingStation(central.url, "CS5", device_model=model) as cs:
            await cs.boot()

            async def set_profile(evse: int, body: dict[str, Any]) -> str:
                answer = await central.send("CS5", "SetChargingProfile", {"evseId": evse, "chargingProfile": body})
                return str(answer.status)

            assert await set_profile(0, profile(800, "ChargingStationMaxProfile", 9000.0)) == "Accepted"
            assert await set_profile(1, profile(1001, "TxDefaultProfile", 7000.0)) == "Accepted"
            assert await set_profile(1, profile(1002, "TxDefaultProfile", 16.0, unit="A")) == "Rejected"  # W only
            assert await set_profile(1, profile(1003, "TxDefaultProfile", 5.0, stack_level=9)) == "Rejected"
            # a TxProfile needs a running transaction with its id
            assert await set_profile(1, profile(3001, "TxProfile", 4000.0, transactionId="nope")) == "Rejected"
            assert await set_profile(1, profile(3001, "TxProfile", 4000.0)) == "Rejected"
            composite = await central.send("CS5", "GetCompositeSchedule", {"duration": 300, "evseId": 1})
            assert composite.status == "Accepted"
            assert composite.schedule["evse_id"] == 1 and composite.schedule["charging_rate_unit"] == "W"
            assert composite.schedule["charging_schedule_period"][0]["limit"] == 7000.0
            tx = await cs.start_transaction(1, "TAG1")
            assert (
                await set_profile(1, profile(3001, "TxProfile", 4000.0, transactionId=tx, stack_level=1)) == "Accepted"
            )
            assert cs.smart_charging.limit_now(1) == 4000.0
            assert model.value("SmartChargingCtrlr.Entries[ChargingProfiles]") == "3"
            # an expired profile no longer counts
            assert await set_profile(2, profile(1002, "TxDefaultProfile", 3000.0, validTo=in_minutes(-1))) == "Accepted"
            assert cs.smart_charging.limit_now(2) == 9000.0
            cleared = await central.send(
                "CS5",
                "ClearChargingProfile",
                {"chargingProfileCriteria": {"evseId": 0, "chargingProfilePurpose": "ChargingStationMaxProfile"}},
            )
            assert cleared.status == "Accepted"
            assert cs.smart_charging.limit_now(2) is None
            assert (await central.send("CS5", "ClearChargingProfile", {"chargingProfileId": 800})).status == "Unknown"
            assert (await central.send("CS5", "ClearChargingProfile", {"chargingProfileId": 1001})).status == "Accepted"
            await cs.stop_transaction(tx)
            assert cs.smart_charging.profiles == {}  # the TxProfile ended with its transaction
            assert (await central.send("CS5", "GetCompositeSchedule", {"duration": 60, "evseId": 1})).schedule is None
            assert_answers_valid(cs)

    run(test)


def test_a_second_profile_at_a_stack_level_is_rejected_where_1_6_replaced_it() -> None:
    """2.0.1 part 2 K01: only the same id replaces (FR.05); the same stack level and purpose on the
    EVSE (FR.06), a TxDefaultProfile's level on EVSE 0 and on an EVSE (FR.52/53), a TxProfile's
    level in its transaction (FR.39) are Rejected; ClearChargingProfile by criteria on every EVSE."""

    async def test(central: Central) -> None:
        async with SimulatedChargingStation(central.url, "CS9", device_model=factory_device_model(2)) as cs:
            await cs.boot()

            async def set_profile(evse: int, body: dict[str, Any]) -> str:
                answer = await central.send("CS9", "SetChargingProfile", {"evseId": evse, "chargingProfile": body})
                return str(answer.status)

            async def clear(**criteria: Any) -> str:
                payload = {"chargingProfileCriteria": criteria}
                return str((await central.send("CS9", "ClearChargingProfile", payload)).status)

            tx_default = "TxDefaultProfile"
            assert await set_profile(1, profile(1001, tx_default, 7000.0, stack_level=1)) == "Accepted"
            assert await set_profile(1, profile(1001, tx_default, 6000.0, stack_level=1)) == "Accepted"  # FR.05
            assert await set_profile(1, profile(2001, tx_default, 5000.0, stack_level=1)) == "Rejected"  # FR.06
            assert await set_profile(0, profile(1000, tx_default, 4000.0, stack_level=1)) == "Rejected"  # FR.52
            assert await set_profile(2, profile(1002, tx_default, 4000.0, stack_level=1)) == "Accepted"
            assert await set_profile(0, profile(800, STATION_MAX, 9000.0, stack_level=1)) == "Accepted"
            assert await set_profile(0, profile(801, STATION_MAX, 8000.0, stack_level=1)) == "Rejected"  # FR.06
            assert await set_profile(0, profile(1000, tx_default, 4000.0, stack_level=2)) == "Accepted"
            assert await set_profile(2, profile(2002, tx_default, 3000.0, stack_level=2)) == "Rejected"  # FR.53
            assert cs.smart_charging.limit_now(1) == 6000.0
            tx = await cs.start_transaction(1, "TAG1")
            tx_profile = profile(3001, "TxProfile", 3000.0, stack_level=1, transactionId=tx)
            assert await set_profile(1, tx_profile) == "Accepted"
            assert await set_profile(1, {**tx_profile, "id": 3002}) == "Rejected"  # FR.39
            assert await set_profile(1, {**tx_profile, "id": 3002, "stackLevel": 2}) == "Accepted"
            reasons = [reason for action, status, reason in cs.smart_charging.history if status == "Rejected"]
            assert [reason.split(" ", 1)[0] for reason in reasons] == [
                "DuplicateProfileValidityPeriod",
                "DuplicateTxDefaultProfileFound",
                "DuplicateProfileValidityPeriod",
                "DuplicateTxDefaultProfileFound",
                "TxProfileConflictingStackLevel",
            ]
            # Criteria without an EVSE clear on every EVSE; Unknown when nothing matched.
            assert await clear(chargingProfilePurpose=tx_default, stackLevel=1) == "Accepted"
            assert sorted(cs.smart_charging.profiles) == [800, 1000, 3001, 3002]
            assert await clear(chargingProfilePurpose=tx_default, stackLevel=1) == "Unknown"
            assert await clear(evseId=1, chargingProfilePurpose="TxProfile", stackLevel=2) == "Accepted"
            assert await clear(evseId=2, chargingProfilePurpose=tx_default) == "Unknown"
            assert await clear(evseId=0, stackLevel=2) == "Accepted"
            assert sorted(cs.smart_charging.profiles) == [800, 3001]
            assert await set_profile(0, profile(1000, tx_default, 4000.0, stack_level=1)) == "Accepted"
            assert_answers_valid(cs)

    run(test)


# ---------------------------------------------------------------------- remote start and stop


def test_request_start_and_stop_transaction() -> None:
    async def test(central: Central) -> None:
        async with SimulatedChargingStation(central.url, "CS6") as cs:
            await cs.boot()
            token = {"idToken": "REMOTE1", "type": "Central"}
            tx_profile = profile(3001, "TxProfile", 3000.0)
            answer = await central.send(
                "CS6",
                "RequestStartTransaction",
                {"idToken": token, "remoteStartId": 12, "evseId": 1, "chargingProfile": tx_profile},
            )
            assert answer.status == "Accepted"
            [started] = await central.wait_for("TransactionEvent")
            assert started["transaction_info"]["remote_start_id"] == 12
            assert started["id_token"] == {"id_token": "REMOTE1", "type": "Central"}
            tx = started["transaction_info"]["transaction_id"]
            assert cs.transaction_on(1) == tx
            assert cs.smart_charging.limit_now(1) == 3000.0  # the TxProfile of the request
            busy = await central.send("CS6", "RequestStartTransaction", {"idToken": token, "remoteStartId": 13})
            assert busy.status == "Rejected"  # its only EVSE is busy
            assert (
                await central.send("CS6", "RequestStopTransaction", {"transactionId": "other"})
            ).status == "Rejected"
            assert (await central.send("CS6", "RequestStopTransaction", {"transactionId": tx})).status == "Accepted"
            _, ended = await central.wait_for("TransactionEvent", 2)
            assert ended["event_type"] == "Ended" and ended["seq_no"] == 1
            assert ended["transaction_info"]["stopped_reason"] == "Remote"
            assert ended["trigger_reason"] == "RemoteStop"
            assert cs.transactions == {}
            assert_answers_valid(cs)

    run(test)


def test_reset_reconnects_and_triggers() -> None:
    async def test(central: Central) -> None:
        model = factory_device_model(reboot_required={"OCPPCommCtrlr.WebSocketPingInterval"})
        async with SimulatedChargingStation(central.url, "CS7", device_model=model, reset_reconnects=True) as cs:
            await cs.boot()
            status = model.set_variable({"name": "OCPPCommCtrlr"}, {"name": "WebSocketPingInterval"}, "30")
            assert status == "RebootRequired" and model.effective("OCPPCommCtrlr.WebSocketPingInterval") == "0"
            trigger = await central.send("CS7", "TriggerMessage", {"requestedMessage": "MeterValues"})
            assert trigger.status == "Accepted"
            await central.wait_for("MeterValues")
            assert (
                await central.send("CS7", "TriggerMessage", {"requestedMessage": "BootNotification"})
            ).status == "Rejected"
            assert (
                await central.send("CS7", "TriggerMessage", {"requestedMessage": "TransactionEvent"})
            ).status == "Rejected"
            assert (
                await central.send("CS7", "TriggerMessage", {"requestedMessage": "SignV2GCertificate"})
            ).status == "NotImplemented"
            tx = await cs.start_transaction(1, "TAG1")
            assert (await central.send("CS7", "Reset", {"type": "Immediate"})).status == "Accepted"
            boots = await central.wait_for("BootNotification", 2, cs_id="CS7")
            assert boots[-1]["reason"] == "RemoteReset"
            ended = central.messages("TransactionEvent")[-1]
            assert ended["transaction_info"] == {
                "transaction_id": tx,
                "charging_state": "EVConnected",
                "stopped_reason": "ImmediateReset",
            }
            await cs.wait_until_booted()
            assert cs.connected and model.effective("OCPPCommCtrlr.WebSocketPingInterval") == "30"

    run(test)


# ---------------------------------------------------------------------- python -m tools.simulate --protocol ocpp2.0.1


def test_simulate_speaks_201() -> None:
    async def test(central: Central) -> None:
        parser = simulate.build_parser()
        args = parser.parse_args(
            [
                *(central.url, "--protocol", "ocpp2.0.1", "--charge-points", "2", "--connectors", "2"),
                *("--sessions", "1", "--interval", "0.5", "--samples", "3", "--pause", "0.1", "--report", "60"),
            ]
        )
        plan = simulate.check(parser, args)
        behaviour = simulate.charger_behaviour(parser, args)
        out = io.StringIO()
        running = asyncio.create_task(simulate.simulate(args, plan, out, behaviour))
        await central.wait_for("BootNotification", cs_id="CP_1")
        # the simulated station answers the CSMS while it charges
        report = await central.send("CP_1", "GetBaseReport", {"requestId": 5, "reportBase": "ConfigurationInventory"})
        assert report.status == "Accepted"
        parts = await central.wait_for("NotifyReport", cs_id="CP_1")
        assert parts[0]["request_id"] == 5
        trigger = await central.send("CP_1", "TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 2}})
        assert trigger.status == "Accepted"
        [triggered] = await central.wait_for("MeterValues", cs_id="CP_1")
        assert triggered["evse_id"] == 2
        assert {value["context"] for value in triggered["meter_value"][0]["sampled_value"]} == {"Trigger"}
        await asyncio.wait_for(running, 12)
        for cs_id in ("CP_1", "CP_2"):
            [boot] = central.messages("BootNotification", cs_id)
            assert boot["reason"] == "PowerUp"
            events = central.messages("TransactionEvent", cs_id)
            by_tx: dict[str, list[dict[str, Any]]] = {}
            for event in events:
                by_tx.setdefault(event["transaction_info"]["transaction_id"], []).append(event)
            assert len(by_tx) == 2  # one session on each EVSE
            for tx_events in by_tx.values():
                kinds = [event["event_type"] for event in tx_events]
                assert kinds[0] == "Started" and kinds[-1] == "Ended" and "Updated" in kinds
                assert [event["seq_no"] for event in tx_events] == list(range(len(tx_events)))
                updated = next(event for event in tx_events if event["event_type"] == "Updated")
                measurands = {value["measurand"] for value in updated["meter_value"][0]["sampled_value"]}
                assert "Energy.Active.Import.Register" in measurands and "Power.Active.Import" in measurands
            statuses = {(s["evse_id"], s["connector_status"]) for s in central.messages("StatusNotification", cs_id)}
            assert {(1, "Available"), (2, "Available"), (1, "Occupied"), (2, "Occupied")} <= statuses
        assert central.subprotocols == ["ocpp2.0.1", "ocpp2.0.1"]
        assert "4 sessions done" in out.getvalue().splitlines()[-1]

    run(test)


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_simulate_help_and_protocol_option(protocol: str) -> None:
    parser = simulate.build_parser()
    assert "--protocol" in parser.format_help()
    args = parser.parse_args(["ws://x/ocpp", "--protocol", protocol])
    assert args.protocol == protocol
    assert parser.parse_args(["ws://x/ocpp"]).protocol == "ocpp1.6"
