"""The gateway's OCPP 2.0.1 parts without sockets: the session's handlers over a fake socket (what
a TransactionEvent's event carries, authorization in 2.0.1's words, 2.0.1's error spelling), the
2.0.1 transactions in the store, the onboarding pass against a scripted station, the local list
and the failsafe profile in 2.0.1's shape, device-model keys and OCPP_PROTOCOLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any, cast

import pytest

from common.bus import ErrorCode
from common.device_model import parse_variable_key, variable_key
from common.schemas import V201, schema_problem
from common.settings import SettingsError, load_gateway
from processes.gateway.authorization import Authorizer
from processes.gateway.command_server import CommandError
from processes.gateway.commands import GatewayCommands
from processes.gateway.failsafe import as_201
from processes.gateway.id_tags import IdTag, of
from processes.gateway.journal import Journal
from processes.gateway.onboarding import Wanted
from processes.gateway.registry import ConnectionRegistry
from processes.gateway.store import Store
from processes.gateway.v201 import keep_local_list, onboard
from processes.gateway.v201.onboarding import MEASURANDS_KEY, capabilities, read_report
from processes.gateway.v201.session import ChargingStationSession, start_register
from tests.support.buses import RecordingBus

T0, T1, T2 = "2027-01-01T10:00:00Z", "2027-01-01T10:00:15Z", "2027-01-01T11:00:00Z"


class Socket:
    def __init__(self) -> None:
        self.sent: list[list[Any]] = []

    async def recv(self, decode: bool | None = None) -> str:
        raise AssertionError("route_message is driven directly")

    async def send(self, message: str) -> None:
        self.sent.append(json.loads(message))


def drive(
    frames: list[tuple[str, dict[str, Any]] | str], store: Store, authorizer: Authorizer | None = None
) -> tuple[list[list[Any]], RecordingBus]:
    bus, socket = RecordingBus(), Socket()

    async def main() -> None:
        session = ChargingStationSession(
            "CS_1", socket, bus=bus, store=store, heartbeat_interval=300, response_timeout=1, authorizer=authorizer
        )
        for number, frame in enumerate(frames):
            text = frame if isinstance(frame, str) else json.dumps([2, f"m{number}", *frame])
            await session.route_message(text)

    asyncio.run(main())
    return socket.sent, bus


def event(event_type: str, transaction: str, seq: int, at: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    payload = {
        "eventType": event_type,
        "timestamp": at,
        "triggerReason": "Authorized",
        "seqNo": seq,
        "transactionInfo": {"transactionId": transaction},
        **fields,
    }
    return "TransactionEvent", payload


def energy(value: float, context: str, unit: str = "Wh", multiplier: int | None = None) -> list[dict[str, Any]]:
    unit_of_measure: dict[str, Any] = {"unit": unit}
    if multiplier is not None:
        unit_of_measure["multiplier"] = multiplier
    sample = {"value": value, "context": context, "unitOfMeasure": unit_of_measure}
    return [{"timestamp": T0, "sampledValue": [sample]}]


def test_every_event_of_a_transaction_knows_its_evse_token_and_start_register() -> None:
    store = Store(":memory:")
    frames: list[tuple[str, dict[str, Any]] | str] = [
        event(
            "Started",
            "T-1",
            0,
            T0,
            evse={"id": 2, "connectorId": 1},
            idToken={"idToken": "CARD", "type": "ISO14443"},
            meterValue=energy(1.5, "Transaction.Begin", "kWh"),
        ),
        event("Updated", "T-1", 1, T1),
        event("Ended", "T-1", 2, T2, meterValue=energy(9.5, "Transaction.End", "kWh")),
    ]
    sent, bus = drive(frames, store)
    assert [frame[0] for frame in sent] == [3, 3, 3]
    assert sent[0][2] == {"idTokenInfo": {"status": "Accepted"}}  # an idToken is answered
    assert sent[1][2] == {} and sent[2][2] == {}
    contexts = [ctx for kind, _, ctx in bus.events if kind == "TransactionEvent"]
    assert [ctx["evse_id"] for ctx in contexts] == [2, 2, 2]
    assert [ctx["meter_start"] for ctx in contexts] == [1500.0] * 3
    assert [ctx["id_token"] for ctx in contexts] == ["CARD"] * 3
    assert all(ctx["ocpp"] == V201 and ctx["transaction_id"] == "T-1" for ctx in contexts)
    assert "superseded" not in contexts[2]
    assert store.open_transactions201("CS_1") == []


def test_a_late_event_of_a_superseded_transaction_says_so() -> None:
    store = Store(":memory:")
    frames: list[tuple[str, dict[str, Any]] | str] = [
        event("Started", "OLD", 0, T0, evse={"id": 1}),
        event("Started", "NEW", 0, T1, evse={"id": 1}),
        event("Ended", "OLD", 1, T2),
    ]
    _, bus = drive(frames, store)
    ended = [ctx for kind, payload, ctx in bus.events if kind == "TransactionEvent"][-1]
    assert ended["transaction_id"] == "OLD" and ended["superseded"] is True
    assert [t.id for t in store.open_transactions201("CS_1", 1)] == ["NEW"]


def test_a_transaction_whose_evse_comes_later_supersedes_the_one_open_there() -> None:
    store = Store(":memory:")
    frames: list[tuple[str, dict[str, Any]] | str] = [
        event("Started", "OLD", 0, T0, evse={"id": 1}),  # never ended (the station lost it)
        event("Started", "NEW", 0, T1, idToken={"idToken": "CARD", "type": "ISO14443"}),  # no EVSE yet
        event("Updated", "NEW", 1, T1, evse={"id": 1}),
        event("Updated", "NEW", 2, T2),
    ]
    _, bus = drive(frames, store)
    contexts = [ctx for kind, _, ctx in bus.events if kind == "TransactionEvent"]
    assert [ctx["evse_id"] for ctx in contexts] == [1, None, 1, 1]
    assert [ctx.get("evse_learnt", False) for ctx in contexts] == [False, False, True, False]
    assert [t.id for t in store.open_transactions201("CS_1", 1)] == ["NEW"]
    commands = GatewayCommands(cast(ConnectionRegistry, None), cast(Journal, None), store, 0)
    assert commands._active_transaction_201("CS_1", 1, None) == "NEW"


def test_an_event_sent_again_gets_the_same_answer_and_refused_tokens_are_not_charging() -> None:
    store = Store(":memory:")
    authorizer = Authorizer(of(IdTag("CARD")))
    token = {"idToken": "CARD", "type": "ISO14443"}
    elsewhere = store.start_transaction("CP_16", 1, "CARD", 0, T0, "Accepted")
    started = event("Started", "T-1", 0, T1, evse={"id": 1}, idToken=token)
    sent, _ = drive([started, started], store, authorizer)  # the answer was lost: sent again
    assert [frame[2]["idTokenInfo"]["status"] for frame in sent] == ["ConcurrentTx", "ConcurrentTx"]
    store.stop_transaction("CP_16", elsewhere, 10, T1)
    # T-1 still runs, with a refused token: that is not CARD charging (StopTxOnInvalidId false).
    assert [t.id for t in store.open_transactions201("CS_1")] == ["T-1"]
    assert store.charging_elsewhere("CARD", "CP_16", 1) is False


def test_start_register_reads_units_multipliers_and_context() -> None:
    started = {
        "event_type": "Started",
        "meter_value": [{"sampled_value": [{"value": 12, "unit_of_measure": {"unit": "Wh", "multiplier": 3}}]}],
    }
    assert start_register(started) == 12000.0
    updated = {"event_type": "Updated", "meter_value": [{"sampled_value": [{"value": 5}]}]}
    assert start_register(updated) is None  # not the start of anything
    begin = {
        "event_type": "Updated",
        "meter_value": [{"sampled_value": [{"value": 5, "context": "Transaction.Begin"}]}],
    }
    assert start_register(begin) == 5.0
    phase = {"event_type": "Started", "meter_value": [{"sampled_value": [{"value": 5, "phase": "L1"}]}]}
    assert start_register(phase) is None


def test_listed_authorization_answers_in_2_0_1_words() -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    tags = of(
        IdTag("FLEET-A", parent="FLEET", expiry=dt.datetime(2027, 6, 30, tzinfo=dt.UTC)),
        IdTag("LOST", status="Blocked"),
    )
    authorizer = Authorizer(tags, clock=lambda: now)
    frames: list[tuple[str, dict[str, Any]] | str] = [
        ("Authorize", {"idToken": {"idToken": "FLEET-A", "type": "ISO14443"}}),
        ("Authorize", {"idToken": {"idToken": "NOBODY", "type": "ISO14443"}}),
        ("Authorize", {"idToken": {"idToken": "", "type": "NoAuthorization"}}),
        event("Started", "T-9", 0, T0, evse={"id": 1}, idToken={"idToken": "LOST", "type": "ISO14443"}),
    ]
    sent, bus = drive(frames, Store(":memory:"), authorizer)
    fleet, nobody, free, lost = (frame[2]["idTokenInfo"] for frame in sent)
    assert fleet == {
        "status": "Accepted",
        "cacheExpiryDateTime": "2027-06-30T00:00:00Z",
        "groupIdToken": {"idToken": "FLEET", "type": "Central"},
    }
    assert nobody == {"status": "Invalid"}
    assert free == {"status": "Accepted"}  # NoAuthorization names nobody
    assert lost["status"] == "Blocked"
    [started] = [ctx for kind, _, ctx in bus.events if kind == "TransactionEvent"]
    assert started["id_token_status"] == "Blocked"


def test_concurrent_tx_across_versions() -> None:
    store = Store(":memory:")
    authorizer = Authorizer(of(IdTag("CARD")))
    store.start_transaction("CP_16", 1, "CARD", 0, T0, "Accepted")  # charging on a 1.6 charge point
    frames: list[tuple[str, dict[str, Any]] | str] = [
        event("Started", "T-2", 0, T1, evse={"id": 1}, idToken={"idToken": "CARD", "type": "ISO14443"}),
    ]
    sent, _ = drive(frames, store, authorizer)
    assert sent[0][2]["idTokenInfo"]["status"] == "ConcurrentTx"


def test_bad_frames_are_answered_with_2_0_1_spelling() -> None:
    sent, _ = drive(
        ['[2,"a","Heartbeat",{"x":1}]', '[2,"b","BootNotification",{"reason":"PowerUp"}]', '[2,"c","Heartbeat",[]]'],
        Store(":memory:"),
    )
    assert [frame[2] for frame in sent] == ["FormatViolation", "ProtocolError", "FormatViolation"]


# -- onboarding -----------------------------------------------------------------------------


class ScriptedStation:
    """A station's device model answering GetBaseReport (with NotifyReport parts), SetVariables and
    GetVariables; ``refuses``: measurands it does not take."""

    def __init__(self, reports: bool = True, refuses: frozenset[str] = frozenset()) -> None:
        self.values = {
            MEASURANDS_KEY: "Energy.Active.Import.Register",
            "SampledDataCtrlr.TxUpdatedInterval": "60",
            "AlignedDataCtrlr.Interval": "900",
            "SmartChargingCtrlr.ProfileStackLevel": "3",
            "SmartChargingCtrlr.RateUnit": "A",
            "SmartChargingCtrlr.Enabled": "true",
            "LocalAuthListCtrlr.Enabled": "true",
            "EVSE.1.Power": "11000",
            "EVSE.2.Power": "11000",
        }
        self.values_list = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"
        self.reports = reports
        self.refuses = refuses
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.report_listeners: dict[int, Any] = {}
        self.id = "CS_ON"

    def report(self) -> list[dict[str, Any]]:
        data = []
        for key, value in self.values.items():
            component, variable = parse_variable_key(key)
            evse = component.pop("evse", None)
            if evse is not None:
                component["evse"] = {"id": evse["id"]}
            entry: dict[str, Any] = {
                "component": component,
                "variable": variable,
                "variable_attribute": [{"value": value, "mutability": "ReadWrite"}],
            }
            if key == MEASURANDS_KEY:
                entry["variable_characteristics"] = {"data_type": "MemberList", "values_list": self.values_list}
            data.append(entry)
        return [{"request_id": 0, "seq_no": n, "tbc": n == 0, "report_data": data[n::2]} for n in (0, 1)]

    def answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((action, payload))
        if action == "GetBaseReport":
            if not self.reports:
                return {"status": "NotSupported"}
            listener = self.report_listeners[payload["requestId"]]
            asyncio.get_running_loop().call_soon(lambda: [listener(part) for part in self.report()])
            return {"status": "Accepted"}
        if action == "SetVariables":
            [data] = payload["setVariableData"]
            key = variable_key(data["component"], data["variable"])
            refused = key == MEASURANDS_KEY and set(data["attributeValue"].split(",")) & self.refuses
            if not refused:
                self.values[key] = data["attributeValue"]
            status = "Rejected" if refused else "Accepted"
            return {"setVariableResult": [{**data, "attributeStatus": status}]}
        if action == "GetVariables":
            results = []
            for data in payload["getVariableData"]:
                key = variable_key(data["component"], data["variable"])
                if key in self.values:
                    results.append({**data, "attributeStatus": "Accepted", "attributeValue": self.values[key]})
                else:
                    results.append({**data, "attributeStatus": "UnknownVariable"})
            return {"getVariableResult": results}
        raise AssertionError(f"unexpected {action}")


class Caller:
    """What a pass uses of ``onboarding.Caller``, calling the scripted station."""

    def __init__(self, station: ScriptedStation, store: Store) -> None:
        self.session = station
        self.memory = store
        self.cp = station.id
        self.timeout = 1.0

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert schema_problem(action, payload, V201) is None, (action, payload)
        return self.session.answer(action, payload)

    def emit(self, kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> None:
        pass


WANTED = Wanted(("Energy.Active.Import.Register", "Power.Active.Import", "SoC"), 15, 0)


def sets(station: ScriptedStation) -> list[tuple[str, str]]:
    return [
        (
            variable_key(p["setVariableData"][0]["component"], p["setVariableData"][0]["variable"]),
            p["setVariableData"][0]["attributeValue"],
        )
        for action, p in station.calls
        if action == "SetVariables"
    ]


def test_onboarding_sets_what_differs_within_the_values_list_and_a_reboot_sends_nothing() -> None:
    station, store = ScriptedStation(), Store(":memory:")
    result = asyncio.run(onboard(Caller(station, store), WANTED))  # type: ignore[arg-type]
    assert sets(station) == [
        (MEASURANDS_KEY, "Energy.Active.Import.Register,Power.Active.Import"),
        ("SampledDataCtrlr.TxUpdatedInterval", "15"),
    ]
    assert result.refused == [f"{MEASURANDS_KEY} without SoC (not in its valuesList)"]
    assert result.connectors == [1, 2]
    assert result.capabilities["max_stack_level"] == 3 and result.capabilities["rate_units"] == ["A"]
    assert result.capabilities["connectors"] == 2
    assert set(result.capabilities["feature_profiles"]) == {"LocalAuthListManagement", "SmartCharging"}
    station.calls.clear()
    again = asyncio.run(onboard(Caller(station, store), WANTED))  # type: ignore[arg-type]
    assert sets(station) == [] and again.refused == result.refused


def test_a_station_refusing_the_list_gets_the_largest_part_it_takes_once() -> None:
    station, store = ScriptedStation(refuses=frozenset({"Power.Active.Import"})), Store(":memory:")
    result = asyncio.run(onboard(Caller(station, store), WANTED))  # type: ignore[arg-type]
    assert station.values[MEASURANDS_KEY] == "Energy.Active.Import.Register"
    assert any("without Power.Active.Import (refused)" in item for item in result.refused)
    station.calls.clear()
    asyncio.run(onboard(Caller(station, store), WANTED))  # type: ignore[arg-type]
    assert [key for key, _ in sets(station)] == []  # remembered: not asked again


def test_a_refused_interval_is_not_asked_again_after_a_boot() -> None:
    station, store = ScriptedStation(), Store(":memory:")
    station.answer_set = station.answer  # type: ignore[attr-defined]

    def refusing(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "SetVariables" and payload["setVariableData"][0]["variable"]["name"] == "TxUpdatedInterval":
            station.calls.append((action, payload))
            return {"setVariableResult": [{**payload["setVariableData"][0], "attributeStatus": "Rejected"}]}
        return station.answer_set(action, payload)  # type: ignore[attr-defined,no-any-return]

    station.answer = refusing  # type: ignore[method-assign]
    first = asyncio.run(onboard(Caller(station, store), WANTED))  # type: ignore[arg-type]
    assert "SampledDataCtrlr.TxUpdatedInterval 15 Rejected" in first.refused
    station.calls.clear()
    again = asyncio.run(onboard(Caller(station, store), WANTED))  # type: ignore[arg-type]
    assert sets(station) == []
    assert "SampledDataCtrlr.TxUpdatedInterval 15 refused before" in again.refused


def test_a_station_that_takes_few_variables_per_message_is_asked_one_at_a_time() -> None:
    station, store = ScriptedStation(reports=False), Store(":memory:")
    answer = station.answer

    def few(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "GetVariables" and len(payload["getVariableData"]) > 4:
            station.calls.append((action, payload))
            raise CommandError(ErrorCode.CALL_ERROR, "OccurrenceConstraintViolation: too many")
        return answer(action, payload)

    station.answer = few  # type: ignore[method-assign]
    result = asyncio.run(onboard(Caller(station, store), WANTED))  # type: ignore[arg-type]
    asked = [len(p["getVariableData"]) for action, p in station.calls if action == "GetVariables"]
    assert asked[0] > 4 and set(asked[1:]) == {1}
    assert result.capabilities["max_stack_level"] == 3


def test_a_station_that_answers_neither_reports_nor_variables_fails_its_pass_as_for_1_6() -> None:
    station, store = ScriptedStation(), Store(":memory:")

    def refusing(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        station.calls.append((action, payload))
        raise CommandError(ErrorCode.CALL_ERROR, "NotSupported: no")

    station.answer = refusing  # type: ignore[method-assign]
    with pytest.raises(CommandError, match="NotSupported"):
        asyncio.run(onboard(Caller(station, store), WANTED))  # type: ignore[arg-type]
    assert sets(station) == []  # nothing set blindly


def test_a_station_without_reports_is_asked_with_get_variables() -> None:
    station, store = ScriptedStation(reports=False), Store(":memory:")
    result = asyncio.run(onboard(Caller(station, store), WANTED))  # type: ignore[arg-type]
    assert [action for action, _ in station.calls][:2] == ["GetBaseReport", "GetVariables"]
    assert result.capabilities["max_stack_level"] == 3
    assert ("SampledDataCtrlr.TxUpdatedInterval", "15") in sets(station)
    assert result.refused[0].startswith("GetBaseReport")


def test_capabilities_of_a_report() -> None:
    parts = [
        {
            "report_data": [
                {
                    "component": {"name": "SmartChargingCtrlr"},
                    "variable": {"name": "Entries", "instance": "ChargingProfiles"},
                    "variable_attribute": [{"value": "12"}],
                },
                {
                    "component": {"name": "LocalAuthListCtrlr"},
                    "variable": {"name": "Entries"},
                    "variable_attribute": [{"value": "0"}],
                    "variable_characteristics": {"data_type": "integer", "max_limit": 250},
                },
                {
                    "component": {"name": "LocalAuthListCtrlr"},
                    "variable": {"name": "Enabled"},
                    "variable_attribute": [{"value": "false"}],
                },
                {"component": {"name": "bad"}, "variable": {}, "variable_attribute": []},
                *(
                    {
                        "component": {"name": "Connector", "evse": {"id": evse, "connector_id": connector}},
                        "variable": {"name": "ConnectorType"},
                        "variable_attribute": [{"value": "cType2"}],
                    }
                    for evse, connector in ((1, 1), (2, 2), (2, 1))
                ),
            ]
        }
    ]
    learnt = capabilities(read_report(parts))
    assert learnt["evse_connectors"] == {"1": [1], "2": [1, 2]}  # the connectors of each EVSE
    assert learnt["max_profiles"] == 12 and learnt["local_list_max_length"] == 250
    assert learnt["local_list_enabled"] is False and learnt["feature_profiles"] == ["SmartCharging"]


# -- local list and failsafe ------------------------------------------------------------------


class ListStation:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.version = 0

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert schema_problem(action, payload, V201) is None, (action, payload)
        self.calls.append((action, payload))
        if action == "GetLocalListVersion":
            return {"versionNumber": self.version}
        self.version = payload["versionNumber"]
        return {"status": "Accepted"}


def test_the_local_list_goes_out_in_2_0_1_words() -> None:
    station, store = ListStation(), Store(":memory:")
    caller: Any = type("C", (), {"cp": "CS_L", "call": station.call})()
    wanted = {
        "a": {
            "idTag": "A",
            "idTagInfo": {"status": "Accepted", "expiryDate": "2027-06-30T00:00:00Z", "parentIdTag": "F"},
        },
        "b": {"idTag": "B", "idTagInfo": {"status": "Blocked"}},
    }
    done = asyncio.run(keep_local_list(caller, wanted, {}, store))
    assert done.startswith("version 1: Full update")
    [(_, sent)] = [call for call in station.calls if call[0] == "SendLocalList"]
    assert sent["localAuthorizationList"][0] == {
        "idToken": {"idToken": "A", "type": "ISO14443"},
        "idTokenInfo": {
            "status": "Accepted",
            "cacheExpiryDateTime": "2027-06-30T00:00:00Z",
            "groupIdToken": {"idToken": "F", "type": "Central"},
        },
    }
    del wanted["b"]
    done = asyncio.run(keep_local_list(caller, wanted, {}, store))
    assert done.startswith("version 2: Differential")
    assert station.calls[-1][1]["localAuthorizationList"] == [{"idToken": {"idToken": "B", "type": "ISO14443"}}]


def test_the_failsafe_profile_in_2_0_1_shape_is_schema_valid() -> None:
    payload = {
        "connectorId": 2,
        "csChargingProfiles": {
            "chargingProfileId": 3002,
            "transactionId": 17,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": "2020-01-01T00:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0, "numberPhases": 3}],
            },
        },
    }
    converted = as_201(payload)
    assert schema_problem("SetChargingProfile", converted, V201) is None
    assert converted["evseId"] == 2 and converted["chargingProfile"]["transactionId"] == "17"
    assert converted["chargingProfile"]["chargingSchedule"][0]["id"] == 3002


# -- keys and settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "SampledDataCtrlr.TxUpdatedMeasurands",
        "EVSE.1.Power",
        "Connector.1.2.ConnectorType",
        "OCPPCommCtrlr.MessageTimeout[Default]",
        "TokenReader.Front.Enabled",
    ],
)
def test_device_model_keys_round_trip(key: str) -> None:
    component, variable = parse_variable_key(key)
    assert variable_key(component, variable) == key


@pytest.mark.parametrize("key", ["NoVariable", "A..B", "A.1.2.3.V", "A.x.y.V", "A.V[]", 7])
def test_bad_device_model_keys_say_what_is_expected(key: Any) -> None:
    with pytest.raises(ValueError, match=r"Component|instance|EVSE|string|Variable"):
        parse_variable_key(key)


def test_ocpp_protocols_setting() -> None:
    assert load_gateway({}).protocols == ("ocpp1.6", "ocpp2.0.1")
    assert load_gateway({"OCPP_PROTOCOLS": "ocpp2.0.1"}).protocols == ("ocpp2.0.1",)
    with pytest.raises(SettingsError, match=r"OCPP_PROTOCOLS='ocpp2\.0'"):
        load_gateway({"OCPP_PROTOCOLS": "ocpp2.0"})
