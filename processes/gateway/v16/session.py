"""An OCPP 1.6 charge point: the answer to every call a charge point sends in OCPP 1.6.

The handlers are thin: work out what the gateway knows beyond the payload (transaction,
connector), emit the event, answer. Reading frames, checking them, journaling before answering
and our calls to the charge point are the version-neutral part (``processes/gateway/session.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, DataTransferStatus, GenericStatus, RegistrationStatus

from common.schemas import V16
from processes.gateway.onboarding import text_or_none
from processes.gateway.session import OcppSession, empty_results, log_security_event, utc_now_iso
from processes.gateway.v16.calls import build_call

log = logging.getLogger(__name__)

#: The websocket subprotocol of OCPP-J 1.6.
SUBPROTOCOL = "ocpp1.6"

#: ``OCPP_AUTHORIZE=all``: every id tag accepted (the library copies it into each answer).
_ACCEPTED = {"status": AuthorizationStatus.accepted}


class ChargePointSession(OcppSession, ChargePoint):
    EMPTY_RESULTS = empty_results(call_result, V16)
    subprotocol = SUBPROTOCOL

    def build_call(self, action: str, payload: dict[str, Any]) -> Any:
        return build_call(action, payload)

    def identity(self) -> tuple[str | None, str | None, str | None]:
        boot = self.boot
        return (
            text_or_none(boot.get("charge_point_vendor")),
            text_or_none(boot.get("charge_point_model")),
            text_or_none(boot.get("firmware_version")),
        )

    @on(Action.authorize)
    def on_authorize(self, **payload: Any) -> call_result.Authorize:
        if self._authorizer is None:
            self.emit("Authorize", payload, {"status": "Accepted"})
            return call_result.Authorize(id_tag_info=_ACCEPTED)
        info = self._authorizer.authorize(str(payload["id_tag"]))
        self.emit("Authorize", payload, {"status": info.status})
        return call_result.Authorize(id_tag_info=info.payload())

    @on(Action.boot_notification)
    def on_boot_notification(self, **payload: Any) -> call_result.BootNotification:
        self.boot = payload
        self.emit("BootNotification", payload)
        self.booted()  # onboarding follows the answer
        return call_result.BootNotification(
            current_time=utc_now_iso(), interval=self._heartbeat_interval, status=RegistrationStatus.accepted
        )

    @on(Action.data_transfer)
    def on_data_transfer(self, **payload: Any) -> call_result.DataTransfer:
        self.emit("DataTransfer", payload)
        return call_result.DataTransfer(status=DataTransferStatus.accepted)

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, **payload: Any) -> call_result.DiagnosticsStatusNotification:
        self.emit("DiagnosticsStatusNotification", payload)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **payload: Any) -> call_result.FirmwareStatusNotification:
        self.emit("FirmwareStatusNotification", payload)
        return call_result.FirmwareStatusNotification()

    @on(Action.heartbeat)
    def on_heartbeat(self, **payload: Any) -> call_result.Heartbeat:
        self.emit("Heartbeat", payload)
        return call_result.Heartbeat(current_time=utc_now_iso())

    @on(Action.meter_values)
    def on_meter_values(self, **payload: Any) -> call_result.MeterValues:
        connector = int(payload["connector_id"])
        transaction_id = payload.get("transaction_id")
        if transaction_id is not None:
            transaction = self._store.find(self.id, int(transaction_id))
            if transaction is not None:
                connector = transaction.connector
        self.connectors.setdefault(connector, "Unknown")
        self.emit("MeterValues", payload, {"connector_id": connector})
        return call_result.MeterValues()

    @on(Action.start_transaction)
    def on_start_transaction(self, **payload: Any) -> call_result.StartTransaction:
        """A refused id tag still gets its transaction id (OCPP 1.6 section 4.8: the answer must
        carry one); the charge point ends the transaction (StopTransactionOnInvalidId)."""
        connector, id_tag = int(payload["connector_id"]), str(payload["id_tag"])
        if self._authorizer is None:
            info, status = _ACCEPTED, None
        else:
            decided = self._authorizer.start(id_tag, lambda: self._store.charging_elsewhere(id_tag, self.id, connector))
            info, status = decided.payload(), decided.status
        transaction_id = self._store.start_transaction(
            self.id, connector, id_tag, int(payload["meter_start"]), str(payload["timestamp"]), status
        )
        self.connectors.setdefault(connector, "Unknown")
        ctx = {"transaction_id": transaction_id, "connector_id": connector, "id_tag_status": status or "Accepted"}
        self.emit("StartTransaction", payload, ctx)
        return call_result.StartTransaction(transaction_id=transaction_id, id_tag_info=info)

    @on(Action.status_notification)
    def on_status_notification(self, **payload: Any) -> call_result.StatusNotification:
        self.connectors[int(payload["connector_id"])] = str(payload["status"])
        self.emit("StatusNotification", payload, {"connector_id": int(payload["connector_id"])})
        return call_result.StatusNotification()

    @on(Action.stop_transaction)
    def on_stop_transaction(self, **payload: Any) -> call_result.StopTransaction:
        transaction = self._store.stop_transaction(
            self.id, int(payload["transaction_id"]), int(payload["meter_stop"]), str(payload["timestamp"])
        )
        if transaction is None:
            log.warning(
                "%s stopped transaction %s, which this gateway never started", self.id, payload["transaction_id"]
            )
        ctx: dict[str, Any] = {
            "connector_id": transaction.connector if transaction else None,
            "meter_start": transaction.meter_start if transaction else None,
        }
        if transaction is not None and self._store.superseded(transaction):
            # A late stop (the charge point was offline): a newer transaction runs on the connector.
            ctx["superseded"] = True
        self.emit("StopTransaction", payload, ctx)
        if "id_tag" not in payload:
            return call_result.StopTransaction()
        if self._authorizer is None:
            return call_result.StopTransaction(id_tag_info=_ACCEPTED)
        return call_result.StopTransaction(id_tag_info=self._authorizer.authorize(str(payload["id_tag"])).payload())

    # -- the security extension (OCPP 1.6 security whitepaper, edition 2) --------------------

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **payload: Any) -> call_result.SecurityEventNotification:
        log_security_event(self.id, payload)
        self.emit("SecurityEventNotification", payload)
        return call_result.SecurityEventNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(self, **payload: Any) -> call_result.SignedFirmwareStatusNotification:
        self.emit("SignedFirmwareStatusNotification", payload)
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **payload: Any) -> call_result.LogStatusNotification:
        self.emit("LogStatusNotification", payload)
        return call_result.LogStatusNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, **payload: Any) -> call_result.SignCertificate:
        """Security profile 3 certificates are issued outside the connector (it holds no CA key):
        the request is on the bus and in the raw log, and answered Rejected (whitepaper 4.1: the
        central system may reject a CSR)."""
        log.warning(
            "%s asked for its certificate to be signed (SignCertificate): rejected, this connector signs no"
            " certificates; issue one from your CA and install it with InstallCertificate/CertificateSigned",
            self.id,
        )
        self.emit("SignCertificate", payload)
        return call_result.SignCertificate(status=GenericStatus.rejected)
