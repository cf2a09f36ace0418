"""The onboarding storm's charge points (bench/storm_loadgen.py) answer every call a central
system may send with a schema-valid answer, speak the websocket upgrade and frames correctly,
and the bench expects exactly the ChangeConfigurations the pass sends to their factory
configuration. No sockets: a stand-in transport records what a charge point writes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bench.loadgen import client_frame
from bench.onboarding_storm import expected_changes
from bench.storm_loadgen import (
    ANSWERS,
    FACTORY_CONFIGURATION,
    Fleet,
    StormChargePoint,
    StormConfig,
    accept_key,
    get_configuration_answer,
)
from common.schemas import CENTRAL_SYSTEM_ACTIONS, V16, passes
from common.settings import OnboardingSettings

FACTORY = {key: (value, readonly) for key, value, readonly in FACTORY_CONFIGURATION}


def test_every_central_system_call_has_a_schema_valid_answer() -> None:
    answered = set(ANSWERS) | {"GetConfiguration", "ChangeConfiguration"}
    assert answered == CENTRAL_SYSTEM_ACTIONS[V16]
    for action, answer in ANSWERS.items():
        assert passes(action, answer, response=True), action
    for answer in (
        get_configuration_answer(FACTORY, None),
        get_configuration_answer(FACTORY, []),
        get_configuration_answer(FACTORY, ["MeterValueSampleInterval", "NoSuchKey"]),
    ):
        assert passes("GetConfiguration", answer, response=True), answer


def test_get_configuration_answers_every_key_or_those_asked_for() -> None:
    everything = get_configuration_answer(FACTORY, None)
    assert [item["key"] for item in everything["configurationKey"]] == list(FACTORY)
    assert 20 <= len(FACTORY) <= 30 and "unknownKey" not in everything
    assert FACTORY["MeterValuesSampledData"] == ("Energy.Active.Import.Register", False)
    assert FACTORY["MeterValueSampleInterval"] == ("60", False)
    some = get_configuration_answer(FACTORY, ["NumberOfConnectors", "NoSuchKey"])
    assert some == {
        "configurationKey": [{"key": "NumberOfConnectors", "readonly": True, "value": "1"}],
        "unknownKey": ["NoSuchKey"],
    }


def test_the_pass_is_expected_to_change_sampling_and_interval_of_the_factory_configuration() -> None:
    assert expected_changes(OnboardingSettings()) == [
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"),
        ("MeterValueSampleInterval", "15"),
    ]
    already = OnboardingSettings(measurands=("Energy.Active.Import.Register",), meter_interval=60)
    assert expected_changes(already) == []
    assert expected_changes(OnboardingSettings(clock_aligned_interval=900))[-1] == ("ClockAlignedDataInterval", "900")


class Transport:
    """What an asyncio transport is to the charge point: written bytes recorded."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False
        self.wrote = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.written.append(data)
        self.wrote.set()

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def server_frame(text: str, opcode: int = 0x1) -> bytes:
    """An unmasked server-to-client frame (RFC 6455, 5.2)."""
    payload = text.encode()
    size = len(payload)
    head = bytes((0x80 | opcode, size)) if size < 126 else bytes((0x80 | opcode, 126)) + size.to_bytes(2, "big")
    return head + payload


def client_text(frame: bytes) -> Any:
    """The JSON of a client frame written with the zero mask."""
    size, start = frame[1] & 0x7F, 2
    if size == 126:
        size, start = int.from_bytes(frame[2:4], "big"), 4
    assert frame[1] & 0x80 and frame[start : start + 4] == b"\x00\x00\x00\x00"
    return json.loads(frame[start + 4 : start + 4 + size])


def test_a_charge_point_upgrades_boots_answers_and_sends_its_light_load() -> None:
    async def scenario() -> None:
        config = StormConfig("127.0.0.1", 9000, "/ocpp", ["CP_7"], [0.0], period=0.01)
        fleet = Fleet(config)
        point = StormChargePoint(fleet, "CP_7")
        transport = Transport()
        point.connection_made(transport)  # type: ignore[arg-type]
        request = transport.written.pop().decode()
        assert request.startswith("GET /ocpp/CP_7 HTTP/1.1\r\n") and "Sec-WebSocket-Protocol: ocpp1.6\r\n" in request
        accept = accept_key(point.key).decode()
        upgrade = (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        )
        # The upgrade's answer and the first frame may arrive together, split anywhere.
        change = server_frame('[2,"c1","ChangeConfiguration",{"key":"MeterValueSampleInterval","value":"15"}]')
        data = upgrade.encode() + server_frame('[2,"g1","GetConfiguration",{}]') + change
        point.data_received(data[:40])
        point.data_received(data[40:-5])
        point.data_received(data[-5:])
        boot, get_configuration, changed = (client_text(frame) for frame in transport.written)
        assert boot[:3] == [2, boot[1], "BootNotification"]
        assert get_configuration == [3, "g1", get_configuration_answer(FACTORY, None)]
        assert changed == [3, "c1", {"status": "Accepted"}]
        record = fleet.records["CP_7"]
        assert record.get_configuration == 1 and record.changes == [("MeterValueSampleInterval", "15")]
        assert record.configuration["MeterValueSampleInterval"] == ("15", False)

        transport.written.clear()
        point.data_received(server_frame('[2,"r1","Reset",{"type":"Soft"}]') + server_frame("ping", 0x9))
        point.data_received(server_frame('[2,"x1","NoSuchAction",{}]'))
        reset, pong, unknown = transport.written
        assert client_text(reset) == [3, "r1", {"status": "Accepted"}]
        assert pong == client_frame(b"ping", 0xA)
        assert client_text(unknown)[:3] == [4, "x1", "NotImplemented"]

        transport.written.clear()
        transport.wrote.clear()
        point.data_received(server_frame(f'[3,"{boot[1]}",{{"status":"Accepted","currentTime":"x","interval":300}}]'))
        assert record.booted > 0 and point.timer is not None
        await asyncio.wait_for(transport.wrote.wait(), 5)  # the light load's first call, within one period
        light = client_text(transport.written[0])
        assert light[0] == 2 and light[2] in ("Heartbeat", "MeterValues")
        point.data_received(server_frame(f'[3,"{light[1]}",{{}}]'))
        assert len(fleet.light_latency) == 1 and fleet.errors == {}
        assert fleet.stop() == []  # nothing left unanswered
        fleet.close()

    asyncio.run(scenario())


def test_a_refused_upgrade_is_counted_and_tried_again() -> None:
    async def scenario() -> None:
        fleet = Fleet(StormConfig("127.0.0.1", 9000, "/ocpp", ["CP_1"], [0.0], period=5))
        retried: list[str] = []
        fleet.retry = retried.append  # type: ignore[method-assign,assignment]
        point = StormChargePoint(fleet, "CP_1")
        transport = Transport()
        point.connection_made(transport)  # type: ignore[arg-type]
        point.data_received(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        assert fleet.errors == {"upgrade refused": 1} and retried == ["CP_1"] and transport.closed

    asyncio.run(scenario())
