"""End to end, OCPP 2.0.1 charging stations that behave (``tools/chargepoint201.py``) at a site
with OCPP 1.6 charge points: onboarding through the device model, the power-limit actuators and
every other actuator making the 2.0.1 calls, the local list and authorization from the id tags
file, all on one connector next to a 1.6 charge point."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.harness import Broker, Connector, Observer, wait_until
from tests.support.bemcom import Bemcom
from tests.support.chargepoint import SimulatedChargePoint
from tools.chargepoint201 import SimulatedChargingStation
from tools.device_model201 import factory_device_model
from tools.ocppj import utc_now

pytestmark = pytest.mark.e2e

ID_TAGS = """
[id_tags."CARD_OK"]

[id_tags."CARD_BLOCKED"]
status = "Blocked"
"""


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:  # noqa: ASYNC109
    """``wait_until`` without blocking the event loop the simulated stations answer on."""
    return await asyncio.to_thread(wait_until, predicate, timeout, what)


def sensor(bemcom: Bemcom, key: str) -> list[Any]:
    return [message.payload["value"] for message in bemcom.observer.on(f"sensor/{key}")]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Connector]]:
    directory: Path = tmp_path_factory.mktemp("site201")
    tags = directory / "id_tags.toml"
    tags.write_text(ID_TAGS)
    broker = Broker(directory)
    broker.start()
    connector = Connector(
        directory,
        broker.port,
        OCPP_CALL_TIMEOUT="3",
        OCPP_LIMIT_GRACE="1",
        OCPP_ID_TAGS_FILE=str(tags),
        OCPP_AUTHORIZE="listed",
    )
    try:
        connector.start()
        yield broker, connector
    finally:
        connector.stop()
        broker.stop()


@pytest.fixture
def bemcom(site: tuple[Broker, Connector]) -> Iterator[Bemcom]:
    broker, connector = site
    observer = Observer(broker.port, connector.name)
    yield Bemcom(observer)
    observer.close()


def set_variables(station: SimulatedChargingStation) -> list[tuple[str, str]]:
    found = []
    for action, payload in station.received_calls:
        if action == "SetVariables":
            for data in payload["setVariableData"]:
                found.append((f"{data['component']['name']}.{data['variable']['name']}", data["attributeValue"]))
    return found


def test_a_station_is_onboarded_through_its_device_model_and_a_reboot_changes_nothing(
    site: tuple[Broker, Connector], bemcom: Bemcom
) -> None:
    _, connector = site
    cp = "CS_ONBOARD"
    bemcom.map(
        sensors=(
            f"{cp}__onboarding",
            f"{cp}__configuration__SampledDataCtrlr.TxUpdatedInterval",
            f"{cp}__configuration__SmartChargingCtrlr.RateUnit",
            f"{cp}__local_list",
        )
    )
    model = factory_device_model(
        2, supported_measurands=("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage")
    )

    async def scenario() -> SimulatedChargingStation:
        async with SimulatedChargingStation(connector.url, cp, device_model=model) as station:
            await station.boot()
            await until(lambda: sensor(bemcom, f"{cp}__onboarding"), 15, "onboarding")
            await until(lambda: sensor(bemcom, f"{cp}__local_list"), 15, "the local list")
            first = list(set_variables(station))
            # The station's list after a reboot: nothing is set again.
            await station.boot()
            await until(lambda: len(sensor(bemcom, f"{cp}__onboarding")) >= 2, 15, "the second onboarding")
            await until(lambda: len(sensor(bemcom, f"{cp}__local_list")) >= 2, 15, "the second local list check")
            assert set_variables(station) == first
            return station

    station = asyncio.run(scenario())
    assert (
        sensor(bemcom, f"{cp}__onboarding")[0]
        == "partial: SampledDataCtrlr.TxUpdatedMeasurands without SoC (not in its valuesList)"
    )
    measurands = dict(set_variables(station))["SampledDataCtrlr.TxUpdatedMeasurands"]
    assert measurands == "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"
    assert dict(set_variables(station))["SampledDataCtrlr.TxUpdatedInterval"] == "15"
    assert station.device_model.value("SampledDataCtrlr.TxUpdatedInterval") == "15"
    assert sensor(bemcom, f"{cp}__configuration__SmartChargingCtrlr.RateUnit")[0] == "A,W"
    # The id tags file went to the station's local list, as 2.0.1 has it.
    assert {entry["idTag"] for entry in station.local_list.entries.values()} == {"CARD_OK", "CARD_BLOCKED"}
    sent = [p for action, p in station.received_calls if action == "SendLocalList"]
    assert sent[0]["localAuthorizationList"][0]["idToken"]["type"] == "ISO14443"
    assert sensor(bemcom, f"{cp}__local_list")[-1].startswith("up to date")
    # Both EVSEs' actuators are announced.
    key = f"{cp}__2__execute_send_charging_profile"
    bemcom.observer.wait_for("available_datapoints", lambda p: key in p["actuator"])


def test_a_limit_holds_at_once_is_read_back_and_judged_on_a_2_0_1_station(
    site: tuple[Broker, Connector], bemcom: Bemcom
) -> None:
    _, connector = site
    cp = "CS_LIMIT"
    limit, station_max = f"{cp}__1__execute_send_charging_profile", f"{cp}__execute_charge_point_max_power"
    bemcom.map(
        limit, station_max, sensors=(f"{cp}__1__effective_limit__W", f"{cp}__1__limit_obeyed", f"{cp}__onboarding")
    )
    model = factory_device_model(1, rate_units="A")  # amperes only: W is converted

    async def scenario() -> SimulatedChargingStation:
        async with SimulatedChargingStation(connector.url, cp, device_model=model) as station:
            await station.boot()
            await until(lambda: sensor(bemcom, f"{cp}__onboarding"), 15, "onboarding")
            transaction = await station.start_transaction(1, "CARD_OK", meter_start=0)
            assert await asyncio.to_thread(bemcom.write, limit, 7400) == "Accepted"
            # The running transaction is limited at once (TxProfile with its string id).
            assert station.smart_charging.limit_now(1) == pytest.approx(7400, rel=0.01)
            read = await until(
                lambda: [w for w in sensor(bemcom, f"{cp}__1__effective_limit__W") if w is not None],
                10,
                "the read-back",
            )
            assert read[-1] == pytest.approx(7400, rel=0.01)
            await asyncio.sleep(1.1)  # OCPP_LIMIT_GRACE
            power = [{"value": 7.0, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "kW"}}]
            await station.update_transaction(transaction, sampled=power)
            obeyed = await until(lambda: sensor(bemcom, f"{cp}__1__limit_obeyed"), 10, "limit_obeyed")
            assert obeyed[-1] is True
            assert await asyncio.to_thread(bemcom.write, station_max, 11000) == "Accepted"
            assert await asyncio.to_thread(bemcom.write, limit, None) == "Accepted"  # removed
            return station

    station = asyncio.run(scenario())
    sent = [p for action, p in station.received_calls if action == "SetChargingProfile"]
    purposes = [(p["evseId"], p["chargingProfile"]["chargingProfilePurpose"]) for p in sent]
    assert (1, "TxDefaultProfile") in purposes and (1, "TxProfile") in purposes
    assert (0, "ChargingStationMaxProfile") in purposes
    [tx_profile] = [p["chargingProfile"] for p in sent if p["chargingProfile"]["chargingProfilePurpose"] == "TxProfile"]
    assert isinstance(tx_profile["transactionId"], str)
    assert all(p["chargingProfile"]["chargingSchedule"][0]["chargingRateUnit"] == "A" for p in sent)
    assert any(action == "ClearChargingProfile" for action, _ in station.received_calls)


def test_the_other_actuators_make_the_2_0_1_calls(site: tuple[Broker, Connector], bemcom: Bemcom) -> None:
    _, connector = site
    cp = "CS_ACT"
    keys = {
        "reset": f"{cp}__execute_reset",
        "change": f"{cp}__execute_change_configuration",
        "get": f"{cp}__execute_get_configuration",
        "trigger": f"{cp}__1__execute_trigger_message",
        "start": f"{cp}__1__execute_remote_start_transaction",
        "stop": f"{cp}__1__execute_remote_stop_transaction",
        "unlock": f"{cp}__1__execute_unlock_connector",
        "availability": f"{cp}__1__execute_change_availability",
        "call": f"{cp}__execute_ocpp_call",
        "composite": f"{cp}__1__execute_get_composite_schedule",
    }
    bemcom.map(
        *keys.values(),
        sensors=(
            f"{cp}__onboarding",
            f"{cp}__1__transaction__id",
            f"{cp}__configuration__OCPPCommCtrlr.HeartbeatInterval",
        ),
    )

    async def scenario() -> dict[str, Any]:
        outcomes: dict[str, Any] = {}
        async with SimulatedChargingStation(connector.url, cp) as station:
            await station.boot()
            await until(lambda: sensor(bemcom, f"{cp}__onboarding"), 15, "onboarding")

            def write(name: str, value: Any) -> Any:
                return bemcom.write(keys[name], value)

            outcomes["change"] = await asyncio.to_thread(
                write, "change", {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "120"}
            )
            outcomes["change_bad"] = await asyncio.to_thread(write, "change", {"key": "NoDot", "value": "1"})
            outcomes["get"] = await asyncio.to_thread(write, "get", "OCPPCommCtrlr.HeartbeatInterval")
            outcomes["trigger"] = await asyncio.to_thread(write, "trigger", 4)
            outcomes["start"] = await asyncio.to_thread(write, "start", "CARD_OK")
            await until(lambda: sensor(bemcom, f"{cp}__1__transaction__id"), 10, "the remote started transaction")
            outcomes["started"] = station.transaction_on(1)
            outcomes["stop"] = await asyncio.to_thread(write, "stop", True)
            await until(lambda: not station.transactions, 10, "the transaction to end")
            outcomes["unlock"] = await asyncio.to_thread(write, "unlock", True)
            outcomes["availability"] = await asyncio.to_thread(write, "availability", "Inoperative")
            outcomes["call"] = await asyncio.to_thread(write, "call", {"action": "ClearCache", "payload": {}})
            outcomes["call_16"] = await asyncio.to_thread(
                write, "call", {"action": "ChangeConfiguration", "payload": {"key": "a", "value": "b"}}
            )
            outcomes["composite"] = await asyncio.to_thread(write, "composite", 600)
            outcomes["reset"] = await asyncio.to_thread(write, "reset", "Soft")
            outcomes["calls"] = list(station.received_calls)
        return outcomes

    outcomes = asyncio.run(scenario())
    calls: list[tuple[str, dict[str, Any]]] = outcomes.pop("calls")
    by_action: dict[str, list[dict[str, Any]]] = {}
    for action, payload in calls:
        by_action.setdefault(action, []).append(payload)
    assert outcomes["change"] == "Accepted"
    assert outcomes["change_bad"].startswith("InvalidValue")
    assert outcomes["get"] == "Accepted"
    assert sensor(bemcom, f"{cp}__configuration__OCPPCommCtrlr.HeartbeatInterval")[-1] == "120"
    assert outcomes["trigger"] == "Accepted"
    assert by_action["TriggerMessage"][-1]["requestedMessage"] == "MeterValues"
    assert outcomes["start"] == "Accepted"
    assert by_action["RequestStartTransaction"][0]["idToken"]["idToken"] == "CARD_OK"
    assert outcomes["stop"] == "Accepted"
    assert by_action["RequestStopTransaction"][0]["transactionId"] == outcomes["started"]  # the station's own id
    assert outcomes["unlock"] == "Unlocked"
    assert outcomes["availability"] == "Accepted"
    assert by_action["ChangeAvailability"][0] == {"operationalStatus": "Inoperative", "evse": {"id": 1}}
    assert outcomes["call"] == json.dumps({"status": "Accepted"}, separators=(",", ":")) or outcomes["call"].startswith(
        "{"
    )
    assert outcomes["call_16"].startswith("InvalidValue")  # not a 2.0.1 call
    assert json.loads(outcomes["composite"])["status"] == "Accepted"
    assert by_action["Reset"][0]["type"] == "OnIdle"
    assert outcomes["reset"] == "Accepted"


def test_a_mixed_site_1_6_and_2_0_1_at_once(site: tuple[Broker, Connector], bemcom: Bemcom) -> None:
    _, connector = site
    old, new = "MIX_16", "MIX_201"
    limits = (f"{old}__1__execute_send_charging_profile", f"{new}__1__execute_send_charging_profile")
    energy = (f"{old}__1__Energy.Active.Import.Register__Wh", f"{new}__1__Energy.Active.Import.Register__Wh")
    bemcom.map(
        *limits,
        sensors=(
            *energy,
            f"{old}__protocol",
            f"{new}__protocol",
            f"{new}__Authorize__status",
            f"{new}__1__transaction__id_token",
        ),
    )

    async def scenario() -> tuple[SimulatedChargePoint, SimulatedChargingStation, dict[str, Any]]:
        async with (
            SimulatedChargePoint(connector.url, old) as cp16,
            SimulatedChargingStation(connector.url, new) as cs201,
        ):
            await asyncio.gather(cp16.boot(), cs201.boot())
            blocked = await cs201.authorize("CARD_BLOCKED")
            unknown = await cs201.authorize("CARD_NOBODY")
            transaction16 = await cp16.start_transaction(1, "CARD_OK", meter_start=100)
            transaction201 = await cs201.start_transaction(1, "CARD_OK", meter_start=200)
            # CARD_OK charges on both: the second start is ConcurrentTx, on whichever version.
            concurrent = cs201.last_transaction_event_result
            results = await asyncio.gather(
                asyncio.to_thread(bemcom.write, limits[0], 5000), asyncio.to_thread(bemcom.write, limits[1], 6000)
            )
            await cp16.meter_values(
                1, [{"value": "1100", "unit": "Wh"}], transaction_id=transaction16, timestamp=utc_now()
            )
            await cs201.update_transaction(transaction201, meter_wh=1200)
            await until(
                lambda: 1100 in sensor(bemcom, energy[0]) and 1200 in sensor(bemcom, energy[1]), 10, "both meters"
            )
            return cp16, cs201, {"blocked": blocked, "unknown": unknown, "concurrent": concurrent, "limits": results}

    cp16, cs201, seen = asyncio.run(scenario())
    assert seen["limits"] == ["Accepted", "Accepted"]
    assert seen["blocked"]["idTokenInfo"]["status"] == "Blocked"
    assert seen["unknown"]["idTokenInfo"]["status"] == "Invalid"
    assert seen["concurrent"]["idTokenInfo"]["status"] == "ConcurrentTx"
    assert sensor(bemcom, f"{old}__protocol")[-1] == "ocpp1.6"
    assert sensor(bemcom, f"{new}__protocol")[-1] == "ocpp2.0.1"
    assert {
        p["csChargingProfiles"]["chargingProfilePurpose"] for a, p in cp16.received_calls if a == "SetChargingProfile"
    } >= {"TxDefaultProfile"}
    assert {
        p["chargingProfile"]["chargingProfilePurpose"] for a, p in cs201.received_calls if a == "SetChargingProfile"
    } >= {"TxDefaultProfile", "TxProfile"}
