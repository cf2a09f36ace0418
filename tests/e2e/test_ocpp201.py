"""End to end, OCPP 2.0.1 on the connector's one port: negotiation, every message a charging
station sends answered schema-valid and on the bus, its datapoints on MQTT, malformed frames
answered with 2.0.1's error codes, and a charge point that changes version.

A bare OCPP-J client (``tests/support/ocpp201.py``) speaks here, so the frames are exactly what
a test says; the simulated station (``tools/chargepoint201.py``) is used where a behaving
station is needed (``test_ocpp201_site.py``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.messages import get_validator
from websockets.exceptions import InvalidStatus

from bench.harness import Broker, Connector, Observer, wait_until
from tests.support.ocpp201 import NOW, REQUESTS, BareStation, CallErrorReceived, sampled

pytestmark = pytest.mark.e2e

Site = tuple[Broker, Connector, Observer]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("ocpp201")
    broker = Broker(directory)
    broker.start()
    # Onboarding off: the bare client answers no calls, and these tests are about its own messages.
    connector = Connector(directory, broker.port, OCPP_ONBOARDING="FALSE", OCPP_BOOT_WAIT="600")
    connector.start()
    observer = Observer(broker.port, connector.name)
    yield broker, connector, observer
    observer.close()
    connector.stop()
    broker.stop()


def map_sensors(observer: Observer, *keys: str) -> None:
    """Map ``keys`` to ``sensor/{key}`` topics (every earlier mapping replaced)."""
    mapping = {"sensor": {key: f"{observer.connector_name}/sensor/{key}" for key in keys}, "actuator": {}}
    mark = len(observer.on("logs"))
    observer.publish("datapoint_map", mapping, 2, True)
    expected = f"Datapoint map: {len(keys)} sensors, 0 actuators mapped"
    wait_until(lambda: any(m.payload["msg"] == expected for m in observer.on("logs")[mark:]), 10, expected)


def sensor(observer: Observer, key: str, timeout: float = 10) -> Any:
    """The first value of a mapped sensor."""
    return observer.wait_for(f"sensor/{key}", timeout=timeout)["value"]


def values(observer: Observer, key: str) -> list[Any]:
    return [message.payload["value"] for message in observer.on(f"sensor/{key}")]


def wait_for_value(observer: Observer, key: str, value: Any, timeout: float = 10) -> None:
    wait_until(lambda: value in values(observer, key), timeout, f"{key} = {value!r}")


def test_a_station_offering_only_2_0_1_gets_it_and_one_offering_both_gets_the_preferred(site: Site) -> None:
    _, connector, observer = site
    map_sensors(observer, "NEG_A__protocol", "NEG_B__protocol")

    async def scenario() -> tuple[str | None, str | None]:
        async with (
            BareStation(connector.url, "NEG_A") as only_201,
            BareStation(connector.url, "NEG_B", ("ocpp2.0.1", "ocpp1.6")) as both,
        ):
            return only_201.subprotocol, both.subprotocol

    assert asyncio.run(scenario()) == ("ocpp2.0.1", "ocpp1.6")  # OCPP_PROTOCOLS' default order
    assert sensor(observer, "NEG_A__protocol") == "ocpp2.0.1"
    assert sensor(observer, "NEG_B__protocol") == "ocpp1.6"


def test_every_message_a_station_sends_is_answered_schema_valid_and_reaches_the_raw_store(site: Site) -> None:
    _, connector, observer = site

    async def scenario() -> dict[str, dict[str, Any]]:
        answers = {}
        async with BareStation(connector.url, "ALL_201") as station:
            for action, payload in REQUESTS.items():
                answers[action] = await station.call(action, payload)
        return answers

    answers = asyncio.run(scenario())
    assert set(answers) == set(REQUESTS)
    for action, answer in answers.items():
        get_validator(3, action, "2.0.1").validate(answer)  # raises when our answer is not schema-valid
    assert answers["BootNotification"]["status"] == "Accepted"
    assert answers["Authorize"]["idTokenInfo"] == {"status": "Accepted"}
    assert answers["TransactionEvent"]["idTokenInfo"] == {"status": "Accepted"}
    assert answers["SignCertificate"]["status"] == "Rejected"
    assert answers["Get15118EVCertificate"]["status"] == "Failed"
    assert answers["NotifyEVChargingNeeds"]["status"] == "Rejected"

    def actions_in_raw_store() -> set[str]:
        frames = [m.payload["payload"]["raw_message"] for m in observer.on("raw_message_to_db")]
        return {
            json.loads(frame["frame"])[2]
            for frame in frames
            if frame["charge_point_id"] == "ALL_201" and frame["frame"].startswith("[2,")
        }

    wait_until(lambda: actions_in_raw_store() >= set(REQUESTS), 15, "every call in the raw message store")


def test_malformed_frames_get_the_2_0_1_error_codes(site: Site) -> None:
    _, connector, _ = site

    async def scenario() -> list[list[Any]]:
        async with BareStation(connector.url, "BAD_201") as station:
            frames = [
                ('[2,"b1","Heartbeat",{"unexpected":1}]', "b1"),  # fails the schema
                ('[2,"b2","StartTransaction",{}]', "b2"),  # 1.6 only: no 2.0.1 action
                ('[2,"b3","Reset",{"type":"Immediate"}]', "b3"),  # a CSMS's call
                (
                    '[2,"b4","StatusNotification",{"timestamp":"x","connectorStatus":"Bogus","evseId":1,"connectorId":1}]',
                    "b4",
                ),
            ]
            answers = [await station.frame(text, uid) for text, uid in frames]
            # The connection is still served.
            answers.append([0, "", await station.call("Heartbeat", {})])
            return answers

    bad_schema, not_201, not_ours, bad_enum, after = asyncio.run(scenario())
    assert bad_schema[:3] == [4, "b1", "FormatViolation"]  # 2.0.1's spelling, not 1.6's FormationViolation
    assert not_201[:3] == [4, "b2", "NotImplemented"]
    assert not_ours[:3] == [4, "b3", "NotSupported"]
    assert bad_enum[:3] == [4, "b4", "PropertyConstraintViolation"]
    assert "currentTime" in after[2]


def test_a_station_s_datapoints_reach_bemcom(site: Site) -> None:
    _, connector, observer = site
    cp = "DP_201"
    keys = {
        "boot_vendor": f"{cp}__BootNotification__charge_point_vendor",
        "boot_model": f"{cp}__BootNotification__charge_point_model",
        "status": f"{cp}__1__StatusNotification__connector_status",
        "tx_id": f"{cp}__1__transaction__id",
        "tx_active": f"{cp}__1__transaction__active",
        "tx_state": f"{cp}__1__transaction__charging_state",
        "tx_reason": f"{cp}__1__transaction__stopped_reason",
        "tx_token": f"{cp}__1__transaction__id_token",
        "tx_energy": f"{cp}__1__transaction__energy",
        "power": f"{cp}__1__Power.Active.Import__W",
        "current_l1": f"{cp}__1__Current.Import__L1__A",
        "energy": f"{cp}__1__Energy.Active.Import.Register__Wh",
        "heartbeat_interval": f"{cp}__configuration__OCPPCommCtrlr.HeartbeatInterval",
    }
    map_sensors(observer, *keys.values())
    t1, t2, t3 = "2027-01-01T10:00:00Z", "2027-01-01T10:00:15Z", "2027-01-01T11:00:00Z"

    async def scenario() -> None:
        async with BareStation(connector.url, cp) as station:
            await station.call("BootNotification", REQUESTS["BootNotification"])
            await station.call("NotifyReport", REQUESTS["NotifyReport"])
            status = {"timestamp": t1, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
            await station.call("StatusNotification", status)
            started = {
                "eventType": "Started",
                "timestamp": t1,
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "TX-A1", "chargingState": "EVConnected"},
                "evse": {"id": 1, "connectorId": 1},
                "idToken": {"idToken": "CARD_7", "type": "ISO14443"},
                "meterValue": [
                    {"timestamp": t1, "sampledValue": [sampled(2.5, unit="kWh", context="Transaction.Begin")]}
                ],
            }
            await station.call("TransactionEvent", started)
            # An Updated without the EVSE: the gateway knows the transaction's.
            updated = {
                "eventType": "Updated",
                "timestamp": t2,
                "triggerReason": "MeterValuePeriodic",
                "seqNo": 1,
                "transactionInfo": {"transactionId": "TX-A1", "chargingState": "Charging"},
                "meterValue": [
                    {
                        "timestamp": t2,
                        "sampledValue": [
                            sampled(7.4, "Power.Active.Import", "kW"),
                            sampled(16, "Current.Import", "A", phase="L1"),
                        ],
                    }
                ],
            }
            await station.call("TransactionEvent", updated)
            await station.call(
                "MeterValues",
                {"evseId": 1, "meterValue": [{"timestamp": t2, "sampledValue": [sampled(3100, unit="Wh")]}]},
            )
            ended = {
                "eventType": "Ended",
                "timestamp": t3,
                "triggerReason": "EVDeparted",
                "seqNo": 2,
                "transactionInfo": {"transactionId": "TX-A1", "stoppedReason": "EVDisconnected"},
                "meterValue": [
                    {"timestamp": t3, "sampledValue": [sampled(10.5, unit="kWh", context="Transaction.End")]}
                ],
            }
            await station.call("TransactionEvent", ended)

    asyncio.run(scenario())
    assert sensor(observer, keys["boot_vendor"]) == "Acme"
    assert sensor(observer, keys["boot_model"]) == "Wallbox 201"
    assert sensor(observer, keys["status"]) == "Occupied"
    assert sensor(observer, keys["tx_id"]) == "TX-A1"
    assert sensor(observer, keys["tx_token"]) == "CARD_7"
    assert sensor(observer, keys["heartbeat_interval"]) == "300"
    wait_for_value(observer, keys["tx_active"], False)
    assert values(observer, keys["tx_active"])[0] is True
    assert sensor(observer, keys["tx_reason"]) == "EVDisconnected"
    assert sensor(observer, keys["tx_energy"]) == 8000  # 10.5 kWh at the end - 2.5 kWh at the start
    wait_for_value(observer, keys["tx_state"], "Charging")
    power = observer.wait_for(f"sensor/{keys['power']}")
    assert power["value"] == 7400 and power["timestamp"] == 1798797615000  # the sample's own time (t2)
    assert sensor(observer, keys["current_l1"]) == 16
    for energy in (2500, 3100, 10500):  # the start register, MeterValues, the end register: all in Wh
        wait_for_value(observer, keys["energy"], energy)


def test_a_charge_point_that_reconnects_with_another_version_gets_a_fresh_session(site: Site) -> None:
    _, connector, observer = site
    cp = "SWITCH_1"
    map_sensors(observer, f"{cp}__protocol", f"{cp}__BootNotification__charge_point_model")

    async def as_version(protocol: str, boot: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        async with BareStation(connector.url, cp, (protocol,)) as station:
            return station.subprotocol, await station.call("BootNotification", boot)

    # A firmware update: the charger was 1.6 and comes back speaking 2.0.1.
    first = asyncio.run(as_version("ocpp1.6", {"chargePointVendor": "Acme", "chargePointModel": "Old"}))
    assert first[0] == "ocpp1.6" and first[1]["status"] == "Accepted"
    wait_for_value(observer, f"{cp}__protocol", "ocpp1.6")
    second = asyncio.run(as_version("ocpp2.0.1", REQUESTS["BootNotification"]))
    assert second[0] == "ocpp2.0.1" and second[1]["status"] == "Accepted"
    wait_for_value(observer, f"{cp}__protocol", "ocpp2.0.1")
    wait_for_value(observer, f"{cp}__BootNotification__charge_point_model", "Wallbox 201")

    # A 1.6 message on the 2.0.1 connection is not understood: the session is 2.0.1's.
    async def wrong_version() -> None:
        async with BareStation(connector.url, cp) as station:
            with pytest.raises(CallErrorReceived) as refused:
                await station.call(
                    "StartTransaction", {"connectorId": 1, "idTag": "X", "meterStart": 0, "timestamp": NOW}
                )
            assert refused.value.code == "NotImplemented"

    asyncio.run(wrong_version())


def test_ocpp_protocols_limits_and_orders_the_versions_served_and_admission_is_the_same(
    tmp_path: Path, broker: Broker
) -> None:
    connector = Connector(
        tmp_path, broker.port, OCPP_PROTOCOLS="ocpp2.0.1", OCPP_ALLOWED_CHARGE_POINTS="ONLY_ME", OCPP_ONBOARDING="FALSE"
    )
    connector.use_private_control()  # the module's connector may still run
    connector.start()
    try:

        async def scenario() -> None:
            with pytest.raises(InvalidStatus) as refused:
                async with BareStation(connector.url, "ONLY_ME", ("ocpp1.6",)):
                    pass
            assert refused.value.response.status_code == 400  # no subprotocol in common
            async with BareStation(connector.url, "ONLY_ME", ("ocpp1.6", "ocpp2.0.1")) as station:
                assert station.subprotocol == "ocpp2.0.1"
                assert "currentTime" in await station.call("Heartbeat", {})
            with pytest.raises(InvalidStatus) as unknown:
                async with BareStation(connector.url, "SOMEONE_ELSE"):
                    pass
            assert unknown.value.response.status_code == 404  # the allow-list, as for 1.6

        asyncio.run(scenario())
    finally:
        connector.stop()
