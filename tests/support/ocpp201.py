"""OCPP 2.0.1 for tests: one valid request of every message a charging station sends (as on the
wire, camelCase), and a bare websocket client that sends frames and reads the answers."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

NOW = "2026-12-07T10:00:00Z"
EVSE_1 = {"id": 1, "connectorId": 1}
TOKEN = {"idToken": "TAG_201", "type": "ISO14443"}


def sampled(value: float, measurand: str | None = None, unit: str | None = None, **extra: Any) -> dict[str, Any]:
    sample: dict[str, Any] = {"value": value, **extra}
    if measurand is not None:
        sample["measurand"] = measurand
    if unit is not None:
        sample["unitOfMeasure"] = {"unit": unit}
    return sample


#: A valid request of every CS -> CSMS action of OCPP 2.0.1 (each checked against the library's schema).
REQUESTS: dict[str, dict[str, Any]] = {
    "Authorize": {"idToken": TOKEN},
    "BootNotification": {
        "chargingStation": {"model": "Wallbox 201", "vendorName": "Acme", "firmwareVersion": "2.0.1-rc"},
        "reason": "PowerUp",
    },
    "ClearedChargingLimit": {"chargingLimitSource": "EMS", "evseId": 1},
    "DataTransfer": {"vendorId": "com.acme", "messageId": "hello", "data": {"x": 1}},
    "FirmwareStatusNotification": {"status": "Installed", "requestId": 3},
    "Get15118EVCertificate": {
        "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
        "action": "Install",
        "exiRequest": "AAAA",
    },
    "GetCertificateStatus": {
        "ocspRequestData": {
            "hashAlgorithm": "SHA256",
            "issuerNameHash": "aa",
            "issuerKeyHash": "bb",
            "serialNumber": "01",
            "responderURL": "http://ocsp.example",
        }
    },
    "Heartbeat": {},
    "LogStatusNotification": {"status": "Uploaded", "requestId": 4},
    "MeterValues": {"evseId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [sampled(1234.5)]}]},
    "NotifyChargingLimit": {"chargingLimit": {"chargingLimitSource": "SO", "isGridCritical": False}, "evseId": 1},
    "NotifyCustomerInformation": {"data": "none", "seqNo": 0, "generatedAt": NOW, "requestId": 5},
    "NotifyDisplayMessages": {"requestId": 6},
    "NotifyEVChargingNeeds": {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}},
    "NotifyEVChargingSchedule": {
        "timeBase": NOW,
        "evseId": 1,
        "chargingSchedule": {
            "id": 1,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000.0}],
        },
    },
    "NotifyEvent": {
        "generatedAt": NOW,
        "seqNo": 0,
        "eventData": [
            {
                "eventId": 1,
                "timestamp": NOW,
                "trigger": "Delta",
                "actualValue": "Faulted",
                "eventNotificationType": "HardWiredNotification",
                "component": {"name": "Connector", "evse": EVSE_1},
                "variable": {"name": "AvailabilityState"},
            }
        ],
    },
    "NotifyMonitoringReport": {"requestId": 7, "seqNo": 0, "generatedAt": NOW},
    "NotifyReport": {
        "requestId": 8,
        "generatedAt": NOW,
        "seqNo": 0,
        "reportData": [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "variableAttribute": [{"value": "300", "mutability": "ReadWrite"}],
            }
        ],
    },
    "PublishFirmwareStatusNotification": {"status": "Published", "location": ["http://fw.example/a"], "requestId": 9},
    "ReportChargingProfiles": {
        "requestId": 10,
        "chargingLimitSource": "CSO",
        "evseId": 1,
        "chargingProfile": [
            {
                "id": 1001,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 1,
                        "startSchedule": NOW,
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                    }
                ],
            }
        ],
    },
    "ReservationStatusUpdate": {"reservationId": 11, "reservationUpdateStatus": "Expired"},
    "SecurityEventNotification": {"type": "FirmwareUpdated", "timestamp": NOW, "techInfo": "v2"},
    "SignCertificate": {"csr": "-----BEGIN CERTIFICATE REQUEST-----"},
    "StatusNotification": {"timestamp": NOW, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
    "TransactionEvent": {
        "eventType": "Started",
        "timestamp": NOW,
        "triggerReason": "CablePluggedIn",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-sample"},
        "evse": EVSE_1,
        "idToken": TOKEN,
        "meterValue": [{"timestamp": NOW, "sampledValue": [sampled(1000, context="Transaction.Begin")]}],
    },
}


class CallErrorReceived(Exception):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class BareStation:
    """A websocket client speaking OCPP-J by hand: sends CALLs, returns their answers, answers the
    CSMS's calls with ``answers`` (action -> payload; CallError NotImplemented for the rest)."""

    def __init__(self, url: str, cp_id: str, subprotocols: tuple[str, ...] = ("ocpp2.0.1",)) -> None:
        self.url = f"{url}/{cp_id}"
        self.subprotocols = subprotocols
        self.answers: dict[str, dict[str, Any]] = {}
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._ws: ClientConnection | None = None
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    @property
    def subprotocol(self) -> str | None:
        return self._ws.subprotocol if self._ws is not None else None

    async def __aenter__(self) -> BareStation:
        self._ws = await connect(self.url, subprotocols=list(self.subprotocols), open_timeout=5)  # type: ignore[arg-type]
        self._reader = asyncio.create_task(self._read(self._ws))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self, ws: ClientConnection) -> None:
        async for text in ws:
            frame = json.loads(text)
            if frame[0] == 2:
                self.received.append((frame[2], frame[3]))
                answer = self.answers.get(frame[2])
                reply = [3, frame[1], answer] if answer is not None else [4, frame[1], "NotImplemented", "", {}]
                await ws.send(json.dumps(reply))
            elif frame[1] in self._pending:
                self._pending.pop(frame[1]).set_result(frame)

    async def frame(self, text: str, unique_id: str, timeout: float = 5) -> list[Any]:  # noqa: ASYNC109
        """Send a frame as it is; the answer to ``unique_id``."""
        assert self._ws is not None
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = future
        await self._ws.send(text)
        return await asyncio.wait_for(future, timeout)

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 5) -> dict[str, Any]:  # noqa: ASYNC109
        unique_id = uuid.uuid4().hex[:16]
        answer = await self.frame(json.dumps([2, unique_id, action, payload]), unique_id, timeout)
        if answer[0] == 4:
            raise CallErrorReceived(answer[2], answer[3])
        result: dict[str, Any] = answer[2]
        return result
