"""A simulated OCPP 2.0.1 charging station, for tests and for ``python -m tools.simulate --protocol ocpp2.0.1``.

Like :class:`tools.chargepoint.SimulatedChargePoint` (whose OCPP-J transport it uses: raw frames over
a real websocket, no ``ocpp`` library) but speaking 2.0.1: subprotocol ``ocpp2.0.1``, EVSEs, string
transaction ids and TransactionEvent, a device model instead of configuration keys.

Usage::

    async with SimulatedChargingStation("ws://127.0.0.1:9000/ocpp", "CS 1") as cs:   # .../ocpp/CS%201
        await cs.boot()
        await cs.status(1, 1, "Available")
        tx = await cs.start_transaction(1, "TAG1", meter_start=1000)    # TransactionEvent Started, seqNo 0
        await cs.update_transaction(tx, meter_wh=1500)                  # Updated, seqNo 1, Sample.Periodic
        await cs.stop_transaction(tx, meter_stop=2000)                  # Ended, seqNo 2, Transaction.End
        [report] = await cs.wait_for_call("GetBaseReport")

CALLs from the CSMS are recorded in ``received_calls`` and answered by :meth:`answer_call` (a
subclass may override it; ``answers=`` gives per-action answers, ``NO_ANSWER`` none at all); what
was sent back is in ``sent_answers``. Every CSMS→CS action of 2.0.1 gets a schema-valid answer:

- GetVariables, SetVariables, GetBaseReport and GetReport from ``device_model`` (a
  :class:`~tools.device_model201.DeviceModel`, by default
  :func:`~tools.device_model201.factory_device_model`); the reports follow the answer as NotifyReport
  calls (``seqNo`` 0.., ``tbc`` until the last) of ``DeviceDataCtrlr.ItemsPerMessage[GetReport]``
  entries each;
- SetChargingProfile, ClearChargingProfile, GetCompositeSchedule, GetChargingProfiles (then
  ReportChargingProfiles) from ``smart_charging`` (:class:`~tools.smart_charging201.SmartCharging201`);
- RequestStartTransaction starts a transaction after the answer (with ``remoteStartId``; an
  Authorize first when ``AuthCtrlr.AuthorizeRemoteStart`` is true), RequestStopTransaction ends a
  running one (``stoppedReason`` Remote), else ``Rejected``;
- Reset ``Accepted`` (``Scheduled`` OnIdle while a transaction runs): running transactions end with
  ImmediateReset, pending RebootRequired values come into force and, with ``reset_reconnects``, the
  station reconnects and boots again (reason RemoteReset);
- TriggerMessage sends BootNotification (as ``boot_trigger`` says), Heartbeat, StatusNotification,
  MeterValues, TransactionEvent, FirmwareStatusNotification, LogStatusNotification after the answer;
  the others ``NotImplemented``;
- SendLocalList and GetLocalListVersion from ``local_list`` (:class:`~tools.local_list.LocalAuthorizationList`);
- ChangeAvailability, UnlockConnector, ReserveNow/CancelReservation, GetTransactionStatus,
  CustomerInformation from the station's state; DataTransfer ``UnknownVendorId``; certificates,
  firmware, logs, display messages, monitoring and network profiles are refused schema-validly.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from websockets.datastructures import HeadersLike

from tools.chargepoint import AnswerCallError, BootTrigger, Connecting, SimulatedChargePoint
from tools.device_model201 import DeviceModel, factory_device_model
from tools.local_list import LocalAuthorizationList
from tools.ocppj import (
    CALLERROR,
    CALLRESULT,
    NO_ANSWER,
    AnswerSpec,
    CallErrorReceived,
    JSONDict,
    utc_now,
)
from tools.smart_charging201 import SmartCharging201, SmartChargingError

__all__ = [
    "NO_ANSWER",
    "SUBPROTOCOL",
    "AnswerCallError",
    "AnswerSpec",
    "BootTrigger",
    "CallErrorReceived",
    "DeviceModel",
    "SentAnswer",
    "SimulatedChargingStation",
    "SmartCharging201",
    "Transaction201",
    "energy_sample",
    "factory_device_model",
    "utc_now",
]

logger = logging.getLogger(__name__)

SUBPROTOCOL: Final = "ocpp2.0.1"
ENERGY: Final = "Energy.Active.Import.Register"
#: The idToken type of a token given as a bare string (an RFID card).
TOKEN_TYPE: Final = "ISO14443"  # noqa: S105 - an idToken type, not a password

#: The triggerReason of a TransactionEvent Ended, by stoppedReason.
STOP_TRIGGERS: Final = {
    "Local": "StopAuthorized",
    "Remote": "RemoteStop",
    "EVDisconnected": "EVCommunicationLost",
    "ImmediateReset": "ResetCommand",
    "Reboot": "ResetCommand",
    "PowerLoss": "AbnormalCondition",
    "DeAuthorized": "Deauthorized",
    "EnergyLimitReached": "EnergyLimitReached",
    "TimeLimitReached": "TimeLimitReached",
    "SOCLimitReached": "EnergyLimitReached",
}

#: Fixed, schema-valid answers of what the simulator does not model (no certificates, firmware,
#: logs, display messages, monitors or network profiles).
FIXED_ANSWERS: Final[Mapping[str, JSONDict]] = {
    "CertificateSigned": {"status": "Rejected"},
    "ClearCache": {"status": "Accepted"},
    "ClearDisplayMessage": {"status": "Unknown"},
    "CostUpdated": {},
    "DataTransfer": {"status": "UnknownVendorId"},
    "DeleteCertificate": {"status": "NotFound"},
    "GetDisplayMessages": {"status": "Unknown"},
    "GetInstalledCertificateIds": {"status": "NotFound"},
    "GetLog": {"status": "Rejected"},
    "GetMonitoringReport": {"status": "EmptyResultSet"},
    "InstallCertificate": {"status": "Rejected"},
    "PublishFirmware": {"status": "Rejected"},
    "SetDisplayMessage": {"status": "Rejected"},
    "SetMonitoringBase": {"status": "NotSupported"},
    "SetMonitoringLevel": {"status": "Rejected"},
    "SetNetworkProfile": {"status": "Rejected"},
    "UnpublishFirmware": {"status": "NoFirmware"},
    "UpdateFirmware": {"status": "Rejected"},
}

FollowUp = Callable[[], Awaitable[Any]]


def energy_sample(wh: float, context: str = "Sample.Periodic") -> JSONDict:
    """An Energy.Active.Import.Register sampledValue (2.0.1: a number, ``unitOfMeasure``)."""
    return {"value": round(float(wh), 1), "context": context, "measurand": ENERGY, "unitOfMeasure": {"unit": "Wh"}}


def id_token_of(token: str | Mapping[str, Any] | None, token_type: str = TOKEN_TYPE) -> JSONDict | None:
    if token is None:
        return None
    if isinstance(token, Mapping):
        return dict(token)
    return {"idToken": token, "type": token_type}


class SentAnswer(NamedTuple):
    """What the station sent back for a CALL: its CALLRESULT payload, or the CALLERROR code."""

    action: str
    payload: JSONDict
    result: JSONDict | None
    error: str | None


@dataclass
class Transaction201:
    """A transaction as the station keeps it."""

    transaction_id: str
    evse_id: int
    connector_id: int
    id_token: JSONDict | None
    meter_start_wh: float
    started: float
    remote_start_id: int | None = None
    charging_state: str = "Charging"
    #: The seqNo of the next TransactionEvent of this transaction.
    seq_no: int = 0
    #: (event type, seqNo) of the TransactionEvents sent, in order.
    events: list[tuple[str, int]] = field(default_factory=list)


class _Transport(SimulatedChargePoint):
    """The 1.6 simulator's OCPP-J transport, answering with its owner's :meth:`answer_call`."""

    def __init__(self, owner: SimulatedChargingStation, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = owner
        self._calls_by_uid: dict[str, tuple[str, JSONDict]] = {}

    def answer_call(self, action: str, payload: JSONDict) -> JSONDict | None:
        return self._owner.answer_call(action, payload)

    async def _handle_call(self, uid: str, action: str, payload: JSONDict) -> None:
        self._calls_by_uid[uid] = (action, payload)
        await super()._handle_call(uid, action, payload)

    async def _send_frame(self, frame: list[Any]) -> None:
        call = self._calls_by_uid.pop(frame[1], None) if frame and frame[0] in (CALLRESULT, CALLERROR) else None
        if call is not None and self.connected:
            result = frame[2] if frame[0] == CALLRESULT else None
            error = frame[2] if frame[0] == CALLERROR else None
            self._owner.sent_answers.append(SentAnswer(call[0], call[1], result, error))
        await super()._send_frame(frame)


class SimulatedChargingStation(Connecting):
    """An OCPP 2.0.1 charging station speaking raw OCPP-J frames over a real websocket.

    ``device_model``: its components and variables (default: :func:`factory_device_model` with one
    EVSE); its EVSEs and connectors are the model's. ``smart_charging``: its profiles (default: a
    model of the device model's SmartChargingCtrlr). ``reset_reconnects``: a Reset reconnects and
    boots again. The other arguments as for :class:`~tools.chargepoint.SimulatedChargePoint`.
    """

    def __init__(
        self,
        url_base: str,
        cp_id: str,
        *,
        answers: dict[str, AnswerSpec] | None = None,
        subprotocols: Iterable[str] = (SUBPROTOCOL,),
        extra_headers: HeadersLike | None = None,
        open_timeout: float = 10,
        ssl: ssl_module.SSLContext | None = None,
        device_model: DeviceModel | None = None,
        smart_charging: SmartCharging201 | None = None,
        boot_trigger: BootTrigger | str = BootTrigger.BOOT,
        boot_fields: Mapping[str, Any] | None = None,
        reset_reconnects: bool = False,
    ) -> None:
        self.cp_id = cp_id
        #: What :meth:`answer_call` answers from: components, variables, reports.
        self.device_model = device_model if device_model is not None else factory_device_model()
        self.smart_charging = (
            smart_charging if smart_charging is not None else SmartCharging201.from_device_model(self.device_model)
        )
        self.boot_trigger = BootTrigger(boot_trigger)
        model = self.device_model
        #: What every BootNotification sends besides ``reason`` (``boot()``'s keyword arguments add to it).
        self.boot_fields: dict[str, Any] = (
            dict(boot_fields)
            if boot_fields is not None
            else {
                "chargingStation": {
                    "model": model.value("ChargingStation.Model") or "Simulator201",
                    "vendorName": model.value("ChargingStation.VendorName") or "BEMCom",
                }
            }
        )
        self.reset_reconnects = reset_reconnects
        #: Whether a BootNotification was answered Accepted on this connection.
        self.booted = False
        self.last_boot_result: JSONDict | None = None
        #: Full answer to the last TransactionEvent (idTokenInfo etc.).
        self.last_transaction_event_result: JSONDict | None = None
        #: Running transactions by id.
        self.transactions: dict[str, Transaction201] = {}
        #: Every transaction this station ran, by id (ended ones too).
        self.all_transactions: dict[str, Transaction201] = {}
        #: The energy register of each EVSE (Wh), what transactions start and end with by default.
        self.meters: dict[int, float] = dict.fromkeys(self.evse_ids, 0.0)
        #: Power (W) each EVSE delivers now (``EVSE.n.Power``'s Actual).
        self.power_w: dict[int, float] = dict.fromkeys(self.evse_ids, 0.0)
        #: The connectorStatus last reported per (evse, connector).
        self.connector_status: dict[tuple[int, int], str] = {
            (evse, connector): "Available" for evse in self.evse_ids for connector in self.connectors_of(evse)
        }
        #: operationalStatus by EVSE (0: the station) as ChangeAvailability left it.
        self.availability: dict[int, str] = dict.fromkeys([0, *self.evse_ids], "Operative")
        #: The local authorization list (SendLocalList, GetLocalListVersion).
        self.local_list = LocalAuthorizationList()
        #: ReserveNow requests accepted and not cancelled, by reservation id.
        self.reservations: dict[int, JSONDict] = {}
        #: Reset requests received, in order; whether an OnIdle reset waits for the transactions.
        self.resets: list[JSONDict] = []
        self.reset_scheduled = False
        #: (requestId, seqNo, number of entries) of every NotifyReport sent.
        self.reports_sent: list[tuple[int, int, int]] = []
        #: What the station answered to each CALL, in order.
        self.sent_answers: list[SentAnswer] = []
        self._starting: set[int] = set()
        self._bind_dynamic()
        self._transport = _Transport(
            self,
            url_base,
            cp_id,
            answers=answers,
            subprotocols=subprotocols,
            extra_headers=extra_headers,
            open_timeout=open_timeout,
            ssl=ssl,
        )

    def _bind_dynamic(self) -> None:
        model = self.device_model
        dynamic: dict[str, Callable[[], str]] = {
            "SmartChargingCtrlr.Entries[ChargingProfiles]": lambda: str(len(self.smart_charging.model.profiles)),
            "LocalAuthListCtrlr.Entries": lambda: str(len(self.local_list.entries)),
        }
        for evse in self.evse_ids:
            dynamic[f"EVSE.{evse}.Power"] = lambda evse=evse: f"{self.power_w.get(evse, 0.0):.1f}"  # type: ignore[misc]
        for key, provider in dynamic.items():
            if key in model:
                model.bind(key, provider)

    # ------------------------------------------------------------------ the transport's state

    @property
    def url(self) -> str:
        return self._transport.url

    @property
    def answers(self) -> dict[str, AnswerSpec]:
        """Per-action answers overriding :meth:`answer_call` (may be changed while running)."""
        return self._transport.answers

    @property
    def connected(self) -> bool:
        return self._transport.connected

    @property
    def subprotocol(self) -> str | None:
        return self._transport.subprotocol

    @property
    def close_code(self) -> int | None:
        return self._transport.close_code

    @property
    def close_reason(self) -> str | None:
        return self._transport.close_reason

    @property
    def received_calls(self) -> list[tuple[str, JSONDict]]:
        """(action, payload) of every CALL the CSMS sent, in arrival order, across reconnects."""
        return self._transport.received_calls

    @property
    def late_replies(self) -> list[list[Any]]:
        return self._transport.late_replies

    @property
    def evse_ids(self) -> list[int]:
        return self.device_model.evse_ids() or [1]

    def connectors_of(self, evse_id: int) -> list[int]:
        return self.device_model.connector_ids(evse_id) or [1]

    # ------------------------------------------------------------------ connection

    async def connect(self) -> None:
        """Open the websocket (HTTP errors of the handshake propagate)."""
        await self._transport.connect()
        self.booted = False

    async def close(self) -> None:
        await self._transport.close()

    async def reconnect(self, reason: str = "RemoteReset") -> JSONDict:
        """Close, connect again and boot (``reason``); the BootNotification's answer."""
        await self.close()
        await self.connect()
        return await self.boot(reason)

    async def call(self, action: str, payload: JSONDict, timeout: float = 10) -> JSONDict:  # noqa: ASYNC109
        """Send a CALL, return the CALLRESULT payload; CallErrorReceived on a CALLERROR, TimeoutError,
        ConnectionError (as :meth:`tools.chargepoint.SimulatedChargePoint.call`)."""
        return await self._transport.call(action, payload, timeout)

    async def send_raw(self, text: str) -> None:
        await self._transport.send_raw(text)

    async def next_frame(self, timeout: float = 5) -> list[Any] | str:  # noqa: ASYNC109
        """The next frame that is neither a reply to our CALL nor a CALL answered automatically."""
        return await self._transport.next_frame(timeout)

    async def wait_for_call(self, action: str, timeout: float = 5, count: int = 1) -> list[JSONDict]:  # noqa: ASYNC109
        """Until ``count`` CALLs of ``action`` have arrived in total; the first ``count`` payloads."""
        return await self._transport.wait_for_call(action, timeout, count)

    def after_answer(self, follow_up: FollowUp) -> None:
        """Run ``follow_up`` once the answer being built has been sent (at once outside an answer)."""
        self._transport.after_answer(follow_up)

    # ------------------------------------------------------------------ messages to the CSMS

    async def boot(self, reason: str = "PowerUp", **overrides: Any) -> JSONDict:
        """BootNotification of a station that (re)booted: pending RebootRequired values come into force
        first. ``overrides`` are merged into ``boot_fields`` (None removes a field)."""
        self.device_model.reboot()
        return await self._boot(reason, **overrides)

    async def _boot(self, reason: str, **overrides: Any) -> JSONDict:
        payload: JSONDict = {"reason": reason, **self.boot_fields, **overrides}
        result = await self.call("BootNotification", {k: v for k, v in payload.items() if v is not None})
        self.last_boot_result = result
        if result.get("status") == "Accepted":
            self.booted = True
            interval = result.get("interval")
            if isinstance(interval, int) and interval > 0 and "OCPPCommCtrlr.HeartbeatInterval" in self.device_model:
                self.device_model.set("OCPPCommCtrlr.HeartbeatInterval", str(interval))
        return result

    async def wait_until_booted(self, timeout: float = 5) -> JSONDict:  # noqa: ASYNC109
        """Until a BootNotification was answered Accepted on this connection; its answer."""
        try:
            async with asyncio.timeout(timeout):
                while not self.booted:
                    if not self.connected:
                        raise ConnectionError(f"{self.cp_id}: connection closed before a BootNotification was accepted")
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise TimeoutError(f"{self.cp_id}: not booted within {timeout} s") from None
        assert self.last_boot_result is not None  # noqa: S101 - set together with booted
        return self.last_boot_result

    async def heartbeat(self) -> JSONDict:
        return await self.call("Heartbeat", {})

    async def status(
        self, evse_id: int, connector_id: int = 1, status: str = "Available", *, timestamp: str | None = None
    ) -> JSONDict:
        """StatusNotification (connectorStatus Available, Occupied, Reserved, Unavailable, Faulted)."""
        self.connector_status[(evse_id, connector_id)] = status
        self._set_state(f"Connector.{evse_id}.{connector_id}.AvailabilityState", status)
        self._set_state(f"EVSE.{evse_id}.AvailabilityState", status)
        return await self.call(
            "StatusNotification",
            {
                "timestamp": timestamp or utc_now(),
                "connectorStatus": status,
                "evseId": evse_id,
                "connectorId": connector_id,
            },
        )

    def _set_state(self, key: str, value: str) -> None:
        if key in self.device_model:
            self.device_model.set(key, value)

    async def authorize(self, id_token: str | Mapping[str, Any], token_type: str = TOKEN_TYPE) -> JSONDict:
        """Authorize ``{"idToken": {"idToken", "type"}}``; the answer (``idTokenInfo``)."""
        return await self.call("Authorize", {"idToken": id_token_of(id_token, token_type)})

    async def meter_values(
        self, evse_id: int, sampled: list[JSONDict] | None = None, *, timestamp: str | None = None
    ) -> JSONDict:
        """MeterValues with one meterValue of ``sampled`` (default: the EVSE's energy register)."""
        values = sampled if sampled is not None else [energy_sample(self.meters.get(evse_id, 0.0))]
        return await self.call(
            "MeterValues",
            {"evseId": evse_id, "meterValue": [{"timestamp": timestamp or utc_now(), "sampledValue": values}]},
        )

    def transaction_on(self, evse_id: int) -> str | None:
        """The id of the transaction running on ``evse_id``, None when none runs."""
        return next((tx.transaction_id for tx in self.transactions.values() if tx.evse_id == evse_id), None)

    async def transaction_event(
        self,
        event_type: str,
        transaction: Transaction201,
        trigger_reason: str,
        *,
        sampled: list[JSONDict] | None = None,
        timestamp: str | None = None,
        info: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> JSONDict:
        """One TransactionEvent of ``transaction`` with the next seqNo; ``sampled``: one meterValue."""
        stamp = timestamp or utc_now()
        seq_no = transaction.seq_no
        transaction.seq_no += 1
        transaction.events.append((event_type, seq_no))
        payload: JSONDict = {
            "eventType": event_type,
            "timestamp": stamp,
            "triggerReason": trigger_reason,
            "seqNo": seq_no,
            "transactionInfo": {"transactionId": transaction.transaction_id, **(info or {})},
        }
        if sampled:
            payload["meterValue"] = [{"timestamp": stamp, "sampledValue": sampled}]
        payload.update({k: v for k, v in extra.items() if v is not None})
        result = await self.call("TransactionEvent", payload)
        self.last_transaction_event_result = result
        return result

    async def start_transaction(
        self,
        evse_id: int,
        id_token: str | Mapping[str, Any] | None,
        *,
        meter_start: float | None = None,
        connector_id: int = 1,
        token_type: str = TOKEN_TYPE,
        trigger_reason: str = "Authorized",
        remote_start_id: int | None = None,
        charging_state: str = "Charging",
        transaction_id: str | None = None,
        sampled: list[JSONDict] | None = None,
    ) -> str:
        """TransactionEvent Started (seqNo 0, ``evse``, ``idToken``, the Transaction.Begin register);
        returns the new transaction's id (a uuid unless given)."""
        if meter_start is not None:
            self.meters[evse_id] = float(meter_start)
        start_wh = self.meters.setdefault(evse_id, 0.0)
        token = id_token_of(id_token, token_type)
        tx = Transaction201(
            transaction_id=transaction_id or str(uuid.uuid4()),
            evse_id=evse_id,
            connector_id=connector_id,
            id_token=token,
            meter_start_wh=start_wh,
            started=time.time(),
            remote_start_id=remote_start_id,
            charging_state=charging_state,
        )
        self.transactions[tx.transaction_id] = tx
        self.all_transactions[tx.transaction_id] = tx
        self.smart_charging.transaction_started(evse_id, tx.transaction_id)
        info: JSONDict = {"chargingState": charging_state}
        if remote_start_id is not None:
            info["remoteStartId"] = remote_start_id
        await self.transaction_event(
            "Started",
            tx,
            trigger_reason,
            sampled=sampled if sampled is not None else [energy_sample(start_wh, "Transaction.Begin")],
            info=info,
            evse={"id": evse_id, "connectorId": connector_id},
            idToken=token,
        )
        return tx.transaction_id

    def _transaction(self, transaction_id: str) -> Transaction201:
        tx = self.transactions.get(transaction_id)
        if tx is None:
            raise KeyError(f"{self.cp_id}: no transaction {transaction_id!r} runs")
        return tx

    async def update_transaction(
        self,
        transaction_id: str,
        *,
        meter_wh: float | None = None,
        sampled: list[JSONDict] | None = None,
        trigger_reason: str = "MeterValuePeriodic",
        charging_state: str | None = None,
        context: str = "Sample.Periodic",
    ) -> JSONDict:
        """TransactionEvent Updated with meter values (default: the energy register, ``context``)."""
        tx = self._transaction(transaction_id)
        if meter_wh is not None:
            self.meters[tx.evse_id] = float(meter_wh)
        info: JSONDict = {}
        if charging_state is not None and charging_state != tx.charging_state:
            tx.charging_state = charging_state
            info["chargingState"] = charging_state
        values = sampled if sampled is not None else [energy_sample(self.meters[tx.evse_id], context)]
        return await self.transaction_event("Updated", tx, trigger_reason, sampled=values, info=info)

    async def stop_transaction(
        self,
        transaction_id: str,
        *,
        meter_stop: float | None = None,
        stopped_reason: str = "Local",
        trigger_reason: str | None = None,
        id_token: str | Mapping[str, Any] | None = None,
        sampled: list[JSONDict] | None = None,
    ) -> JSONDict:
        """TransactionEvent Ended (``stoppedReason``, the Transaction.End register); the transaction
        has ended here whatever the answer."""
        tx = self._transaction(transaction_id)
        if meter_stop is not None:
            self.meters[tx.evse_id] = float(meter_stop)
        del self.transactions[transaction_id]
        self.smart_charging.transaction_stopped(transaction_id)
        self.power_w[tx.evse_id] = 0.0
        tx.charging_state = "EVConnected"
        values = sampled if sampled is not None else [energy_sample(self.meters[tx.evse_id], "Transaction.End")]
        try:
            return await self.transaction_event(
                "Ended",
                tx,
                trigger_reason or STOP_TRIGGERS.get(stopped_reason, "StopAuthorized"),
                sampled=values,
                info={"chargingState": "EVConnected", "stoppedReason": stopped_reason},
                idToken=id_token_of(id_token),
            )
        finally:
            if self.reset_scheduled and not self.transactions:
                self.reset_scheduled = False
                self.after_answer(lambda: self._perform_reset(None))

    async def notify_report(self, request_id: int, data: list[JSONDict], *, call: str = "NotifyReport") -> None:
        """``data`` as NotifyReport calls of ``DeviceDataCtrlr.ItemsPerMessage[GetReport]`` entries."""
        size = max(1, self.device_model.effective_int("DeviceDataCtrlr.ItemsPerMessage[GetReport]") or len(data) or 1)
        chunks = [data[start : start + size] for start in range(0, len(data), size)] or [[]]
        generated = utc_now()
        for seq_no, chunk in enumerate(chunks):
            payload: JSONDict = {"requestId": request_id, "generatedAt": generated, "seqNo": seq_no}
            if chunk:
                payload["reportData"] = chunk
            if seq_no < len(chunks) - 1:
                payload["tbc"] = True
            await self.call(call, payload)
            self.reports_sent.append((request_id, seq_no, len(chunk)))

    # ------------------------------------------------------------------ answering the CSMS

    def answer_call(self, action: str, payload: JSONDict) -> JSONDict | None:
        """This station's own answer to a CALL (``answers=`` overrides it per action), None for an
        action it does not know (answered CALLERROR ``NotImplemented``). Raises
        :class:`~tools.chargepoint.AnswerCallError` for a CALLERROR."""
        handler = self._handlers().get(action)
        try:
            if handler is not None:
                return handler(payload)
        except SmartChargingError as error:
            raise AnswerCallError(error.code, error.description) from None
        fixed = FIXED_ANSWERS.get(action)
        return dict(fixed) if fixed is not None else None

    def _handlers(self) -> dict[str, Callable[[JSONDict], JSONDict]]:
        return {
            "GetVariables": self.get_variables,
            "SetVariables": self.set_variables,
            "GetBaseReport": self.get_base_report,
            "GetReport": self.get_report,
            "SetChargingProfile": self.set_charging_profile,
            "ClearChargingProfile": self.clear_charging_profile,
            "GetCompositeSchedule": self.get_composite_schedule,
            "GetChargingProfiles": self.get_charging_profiles,
            "RequestStartTransaction": self.request_start_transaction,
            "RequestStopTransaction": self.request_stop_transaction,
            "Reset": self.reset,
            "ChangeAvailability": self.change_availability,
            "UnlockConnector": self.unlock_connector,
            "TriggerMessage": self.trigger_message,
            "SendLocalList": self.send_local_list,
            "GetLocalListVersion": self.get_local_list_version,
            "ReserveNow": self.reserve_now,
            "CancelReservation": self.cancel_reservation,
            "GetTransactionStatus": self.get_transaction_status,
            "CustomerInformation": self.customer_information,
            "SetVariableMonitoring": self.set_variable_monitoring,
            "ClearVariableMonitoring": self.clear_variable_monitoring,
        }

    def _limit(self, name: str, items: list[Any]) -> None:
        limit = self.device_model.effective_int(f"DeviceDataCtrlr.ItemsPerMessage[{name}]")
        if limit is not None and len(items) > limit:
            raise AnswerCallError(
                "OccurrenceConstraintViolation", f"{len(items)} items, ItemsPerMessage[{name}] is {limit}"
            )

    def get_variables(self, payload: JSONDict) -> JSONDict:
        self._limit("GetVariables", payload.get("getVariableData") or [])
        return self.device_model.get_variables(payload)

    def set_variables(self, payload: JSONDict) -> JSONDict:
        self._limit("SetVariables", payload.get("setVariableData") or [])
        return self.device_model.set_variables(payload)

    def _report(self, request_id: Any, data: list[JSONDict]) -> JSONDict:
        if not data:
            return {"status": "EmptyResultSet"}
        number = request_id if isinstance(request_id, int) else 0
        self.after_answer(lambda: self.notify_report(number, data))
        return {"status": "Accepted"}

    def get_base_report(self, payload: JSONDict) -> JSONDict:
        base = payload.get("reportBase")
        if base not in ("ConfigurationInventory", "FullInventory", "SummaryInventory"):
            return {"status": "NotSupported"}
        return self._report(payload.get("requestId"), self.device_model.base_report(str(base)))

    def get_report(self, payload: JSONDict) -> JSONDict:
        return self._report(payload.get("requestId"), self.device_model.report(payload))

    def _smart_charging_enabled(self) -> bool:
        return self.device_model.effective_bool("SmartChargingCtrlr.Enabled", default=True)

    def set_charging_profile(self, payload: JSONDict) -> JSONDict:
        if not self._smart_charging_enabled():
            return {"status": "Rejected"}
        return self.smart_charging.set_charging_profile_response(payload)

    def clear_charging_profile(self, payload: JSONDict) -> JSONDict:
        return {"status": self.smart_charging.clear_charging_profile(payload)}

    def get_composite_schedule(self, payload: JSONDict) -> JSONDict:
        if not self._smart_charging_enabled():
            return {"status": "Rejected"}
        return self.smart_charging.get_composite_schedule(payload)

    def get_charging_profiles(self, payload: JSONDict) -> JSONDict:
        found = self.smart_charging.charging_profiles(payload)
        if not found:
            return {"status": "NoProfiles"}
        request_id = payload.get("requestId", 0)

        async def report() -> None:
            for index, (evse, profiles) in enumerate(sorted(found.items())):
                message: JSONDict = {
                    "requestId": request_id,
                    "chargingLimitSource": "CSO",
                    "evseId": evse,
                    "chargingProfile": profiles,
                }
                if index < len(found) - 1:
                    message["tbc"] = True
                await self.call("ReportChargingProfiles", message)

        self.after_answer(report)
        return {"status": "Accepted"}

    def _idle_evses(self, wanted: Any) -> list[int]:
        return [
            evse
            for evse in self.evse_ids
            if wanted in (None, evse)
            and self.transaction_on(evse) is None
            and evse not in self._starting
            and self.availability.get(evse) != "Inoperative"
            and self.availability.get(0) != "Inoperative"
        ]

    def request_start_transaction(self, payload: JSONDict) -> JSONDict:
        """``Accepted`` and a transaction on the EVSE asked for (else the first idle one) after the
        answer, or ``Rejected`` (no idle EVSE, or a charging profile the station does not take)."""
        idle = self._idle_evses(payload.get("evseId"))
        if not idle:
            return {"status": "Rejected"}
        evse = idle[0]
        body = payload.get("chargingProfile")
        if body is not None and self.smart_charging.remote_start(evse, body) != "Accepted":
            return {"status": "Rejected"}
        self._starting.add(evse)
        self.after_answer(lambda: self._remote_start(evse, payload))
        return {"status": "Accepted"}

    async def _remote_start(self, evse: int, payload: JSONDict) -> None:
        try:
            token = payload.get("idToken")
            if self.device_model.effective_bool("AuthCtrlr.AuthorizeRemoteStart") and isinstance(token, dict):
                answer = await self.authorize(token)
                if answer.get("idTokenInfo", {}).get("status") != "Accepted":
                    self.smart_charging.model.pending.pop(evse, None)
                    return
            await self.start_transaction(
                evse,
                token if isinstance(token, dict) else None,
                trigger_reason="RemoteStart",
                remote_start_id=payload.get("remoteStartId"),
            )
        finally:
            self._starting.discard(evse)

    def request_stop_transaction(self, payload: JSONDict) -> JSONDict:
        transaction_id = payload.get("transactionId")
        if not isinstance(transaction_id, str) or transaction_id not in self.transactions:
            return {"status": "Rejected"}
        self.after_answer(lambda: self.stop_transaction(transaction_id, stopped_reason="Remote"))
        return {"status": "Accepted"}

    def reset(self, payload: JSONDict) -> JSONDict:
        evse = payload.get("evseId")
        if evse is not None and evse not in self.evse_ids:
            return {"status": "Rejected"}
        self.resets.append(payload)
        running = [tx for tx in self.transactions.values() if evse in (None, tx.evse_id)]
        if payload.get("type") == "OnIdle" and running:
            self.reset_scheduled = True
            return {"status": "Scheduled"}
        self.after_answer(lambda: self._perform_reset(evse))
        return {"status": "Accepted"}

    async def _perform_reset(self, evse: int | None) -> None:
        for tx in [tx for tx in self.transactions.values() if evse in (None, tx.evse_id)]:
            await self.stop_transaction(tx.transaction_id, stopped_reason="ImmediateReset")
        if evse is not None:
            return
        self.device_model.reboot()
        if self.reset_reconnects:
            await self.reconnect("RemoteReset")

    def change_availability(self, payload: JSONDict) -> JSONDict:
        wanted = payload.get("evse")
        evse = wanted.get("id") if isinstance(wanted, dict) else None
        operational = str(payload.get("operationalStatus"))
        if evse is not None and evse != 0 and evse not in self.evse_ids:
            return {"status": "Rejected"}
        targets = [evse] if evse else self.evse_ids
        self.availability[evse or 0] = operational
        if operational == "Inoperative" and any(self.transaction_on(target) for target in targets):
            return {"status": "Scheduled"}
        status = "Unavailable" if operational == "Inoperative" else "Available"
        changes = [
            (target, connector)
            for target in targets
            for connector in self.connectors_of(target)
            if self.transaction_on(target) is None
        ]

        async def notify() -> None:
            for target, connector in changes:
                await self.status(target, connector, status)

        self.after_answer(notify)
        return {"status": "Accepted"}

    def unlock_connector(self, payload: JSONDict) -> JSONDict:
        evse, connector = payload.get("evseId"), payload.get("connectorId")
        if evse not in self.evse_ids or connector not in self.connectors_of(int(evse)):
            return {"status": "UnknownConnector"}
        if self.transaction_on(int(evse)) is not None:
            return {"status": "OngoingAuthorizedTransaction"}
        return {"status": "Unlocked"}

    def answer_boot_trigger(self) -> JSONDict:
        """TriggerMessage(BootNotification) by ``boot_trigger`` (as the 1.6 simulator does)."""
        if self.boot_trigger is BootTrigger.NOT_IMPLEMENTED:
            return {"status": "NotImplemented"}
        if self.boot_trigger is BootTrigger.REJECT or (self.boot_trigger is BootTrigger.BOOT and self.booted):
            return {"status": "Rejected"}
        if self.boot_trigger is BootTrigger.BOOT:
            self.after_answer(lambda: self._boot("Triggered"))
        return {"status": "Accepted"}

    def trigger_message(self, payload: JSONDict) -> JSONDict:
        requested = payload.get("requestedMessage")
        wanted = payload.get("evse")
        if not isinstance(wanted, dict):
            wanted = {}
        evse, connector = wanted.get("id"), wanted.get("connectorId")
        if evse is not None and evse not in self.evse_ids:
            return {"status": "Rejected"}
        evses = [e for e in self.evse_ids if evse in (None, e)]
        if requested == "BootNotification":
            return self.answer_boot_trigger()
        send: FollowUp | None = None
        if requested == "Heartbeat":
            send = self.heartbeat
        elif requested == "StatusNotification":
            pairs = [(e, c) for e in evses for c in self.connectors_of(e) if connector in (None, c)]
            if not pairs:
                return {"status": "Rejected"}

            async def statuses() -> None:
                for e, c in pairs:
                    await self.status(e, c, self.connector_status.get((e, c), "Available"))

            send = statuses
        elif requested == "MeterValues":

            async def meter() -> None:
                for e in evses:
                    await self.meter_values(e, [energy_sample(self.meters.get(e, 0.0), "Trigger")])

            send = meter
        elif requested == "TransactionEvent":
            running = [tx.transaction_id for tx in self.transactions.values() if tx.evse_id in evses]
            if not running:
                return {"status": "Rejected"}

            async def events() -> None:
                for transaction_id in running:
                    if transaction_id in self.transactions:
                        await self.update_transaction(transaction_id, trigger_reason="Trigger", context="Trigger")

            send = events
        elif requested in ("FirmwareStatusNotification", "LogStatusNotification"):
            action = str(requested)

            async def idle() -> None:
                await self.call(action, {"status": "Idle"})

            send = idle
        if send is None:
            return {"status": "NotImplemented"}
        self.after_answer(send)
        return {"status": "Accepted"}

    def send_local_list(self, payload: JSONDict) -> JSONDict:
        """SendLocalList on ``local_list`` (within LocalAuthListCtrlr.Entries' maxLimit and ItemsPerMessage)."""
        if not self.device_model.effective_bool("LocalAuthListCtrlr.Enabled", default=True):
            return {"status": "Failed"}
        items = []
        for item in payload.get("localAuthorizationList") or []:
            token = item.get("idToken") if isinstance(item, dict) else None
            entry: JSONDict = {"idTag": token.get("idToken") if isinstance(token, dict) else None}
            if isinstance(item, dict) and item.get("idTokenInfo") is not None:
                entry["idTagInfo"] = item["idTokenInfo"]
            items.append(entry)
        entries = self.device_model.find_key("LocalAuthListCtrlr.Entries")
        maximum = int(entries.max_limit) if entries is not None and entries.max_limit is not None else None
        status = self.local_list.update(
            {
                "listVersion": payload.get("versionNumber"),
                "updateType": payload.get("updateType"),
                "localAuthorizationList": items,
            },
            max_length=maximum,
            send_max_length=self.device_model.effective_int("LocalAuthListCtrlr.ItemsPerMessage"),
        )
        return {"status": status}

    def get_local_list_version(self, payload: JSONDict) -> JSONDict:
        enabled = self.device_model.effective_bool("LocalAuthListCtrlr.Enabled", default=True)
        return {"versionNumber": self.local_list.version if enabled else 0}

    def reserve_now(self, payload: JSONDict) -> JSONDict:
        evse = payload.get("evseId")
        if evse is not None and evse not in self.evse_ids:
            return {"status": "Rejected"}
        if evse is not None and self.transaction_on(int(evse)) is not None:
            return {"status": "Occupied"}
        if self.availability.get(0) == "Inoperative" or (
            evse is not None and self.availability.get(evse) == "Inoperative"
        ):
            return {"status": "Unavailable"}
        self.reservations[int(payload.get("id", 0))] = dict(payload)
        return {"status": "Accepted"}

    def cancel_reservation(self, payload: JSONDict) -> JSONDict:
        found = self.reservations.pop(payload.get("reservationId"), None)  # type: ignore[arg-type]
        return {"status": "Accepted" if found is not None else "Rejected"}

    def get_transaction_status(self, payload: JSONDict) -> JSONDict:
        transaction_id = payload.get("transactionId")
        if transaction_id is None:
            return {"messagesInQueue": False}
        return {"messagesInQueue": False, "ongoingIndicator": transaction_id in self.transactions}

    def customer_information(self, payload: JSONDict) -> JSONDict:
        if payload.get("report"):
            request_id = payload.get("requestId", 0)

            async def notify() -> None:
                await self.call(
                    "NotifyCustomerInformation",
                    {"data": "", "seqNo": 0, "generatedAt": utc_now(), "requestId": request_id},
                )

            self.after_answer(notify)
        return {"status": "Accepted"}

    def set_variable_monitoring(self, payload: JSONDict) -> JSONDict:
        results = []
        for item in payload.get("setMonitoringData") or []:
            component, variable = item.get("component") or {}, item.get("variable") or {}
            if self.device_model.find(component, variable) is not None:
                status = "UnsupportedMonitorType"
            elif self.device_model.has_component(component):
                status = "UnknownVariable"
            else:
                status = "UnknownComponent"
            results.append(
                {
                    "status": status,
                    "type": item.get("type"),
                    "severity": item.get("severity"),
                    "component": component,
                    "variable": variable,
                }
            )
        return {"setMonitoringResult": results}

    def clear_variable_monitoring(self, payload: JSONDict) -> JSONDict:
        return {"clearMonitoringResult": [{"status": "NotFound", "id": number} for number in payload.get("id") or []]}
