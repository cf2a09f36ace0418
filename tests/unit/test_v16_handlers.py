"""The OCPP 1.6 handlers' events (processes/gateway/v16/session.py) on a real session over a fake
socket: what the gateway adds to a payload (connector, transaction, superseded)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from processes.gateway.store import Store
from processes.gateway.v16.session import ChargePointSession
from tests.support.buses import RecordingBus


class Socket:
    def __init__(self) -> None:
        self.sent: list[list[Any]] = []

    async def recv(self, decode: bool | None = None) -> str:
        raise AssertionError("route_message is driven directly")

    async def send(self, message: str) -> None:
        self.sent.append(json.loads(message))


def start(connector: int, meter: int, at: str) -> dict[str, Any]:
    return {"connectorId": connector, "idTag": "TAG", "meterStart": meter, "timestamp": at}


def test_a_late_stop_of_a_superseded_transaction_is_marked_in_its_event() -> None:
    bus, socket, store = RecordingBus(), Socket(), Store(":memory:")

    async def main() -> None:
        session = ChargePointSession("CP_1", socket, bus=bus, store=store, heartbeat_interval=300, response_timeout=1)
        calls = [
            ("s1", "StartTransaction", start(1, 100, "2026-01-01T00:00:00Z")),
            ("s2", "StartTransaction", start(1, 900, "2026-01-01T02:00:00Z")),
        ]
        for unique_id, action, payload in calls:
            await session.route_message(json.dumps([2, unique_id, action, payload]))
        first, second = (reply[2]["transactionId"] for reply in socket.sent)
        for unique_id, transaction in (("t1", first), ("t2", second)):
            stop = {"transactionId": transaction, "meterStop": 1000, "timestamp": "2026-01-01T03:00:00Z"}
            await session.route_message(json.dumps([2, unique_id, "StopTransaction", stop]))

    try:
        asyncio.run(main())
    finally:
        store.close()
    stops = [ctx for kind, _, ctx in bus.events if kind == "StopTransaction"]
    assert stops == [
        {"connector_id": 1, "meter_start": 100, "superseded": True},
        {"connector_id": 1, "meter_start": 900},
    ]
    assert [reply[0] for reply in socket.sent] == [3, 3, 3, 3]


def test_security_extension_messages_are_answered_per_the_whitepaper_and_on_the_bus() -> None:
    bus, socket, store = RecordingBus(), Socket(), Store(":memory:")
    calls = [
        ("e", "SecurityEventNotification", {"type": "FirmwareUpdated", "timestamp": "2026-01-01T00:00:00Z"}),
        ("f", "SignedFirmwareStatusNotification", {"status": "Downloading", "requestId": 7}),
        ("g", "LogStatusNotification", {"status": "Uploaded", "requestId": 8}),
        ("h", "SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"}),
    ]

    async def main() -> None:
        session = ChargePointSession("CP_1", socket, bus=bus, store=store, heartbeat_interval=300, response_timeout=1)
        for unique_id, action, payload in calls:
            await session.route_message(json.dumps([2, unique_id, action, payload]))

    try:
        asyncio.run(main())
    finally:
        store.close()
    assert socket.sent == [[3, "e", {}], [3, "f", {}], [3, "g", {}], [3, "h", {"status": "Rejected"}]]
    assert [kind for kind, _, _ in bus.events] == [action for _, action, _ in calls]
    assert bus.events[0][1] == {"type": "FirmwareUpdated", "timestamp": "2026-01-01T00:00:00Z"}
