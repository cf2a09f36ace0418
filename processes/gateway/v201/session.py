"""An OCPP 2.0.1 charging station: the answer to every message a charging station sends to a CSMS.

As for 1.6 (``v16/session.py``) the handlers are thin: work out what the gateway knows beyond the
payload (the transaction's EVSE, its start register, its id token), emit the event, answer.
Every event carries ``ctx["ocpp"] = "2.0.1"``, so the bridge maps it by 2.0.1's fields.

What a CSMS may decline is declined plainly: ISO 15118 certificates (Get15118EVCertificate,
GetCertificateStatus: ``Failed``), certificate signing (SignCertificate: ``Rejected``, as for 1.6),
schedules computed for the EV (NotifyEVChargingNeeds: ``Rejected``, the charging profiles in force
govern).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action

from common.schemas import V201
from processes.gateway.authorization import IdTagInfo
from processes.gateway.frames import spelled_for_201
from processes.gateway.onboarding import text_or_none
from processes.gateway.session import OcppSession, empty_results, log_security_event, utc_now_iso
from processes.gateway.v201.calls import build_call

log = logging.getLogger(__name__)

#: The websocket subprotocol of OCPP-J 2.0.1.
SUBPROTOCOL = "ocpp2.0.1"

#: The ctx every event of a 2.0.1 charging station carries (the bridge maps by it).
VERSION_CTX = {"ocpp": V201}
ENERGY = "Energy.Active.Import.Register"
#: Id tokens that name nobody: never checked against the id tags file.
UNCHECKED_TOKEN_TYPES = frozenset({"NoAuthorization"})


def id_token_info(info: IdTagInfo) -> dict[str, Any]:
    """OCPP 2.0.1 IdTokenInfo (snake_case, as the library's result classes take it) from the 1.6
    IdTagInfo of ``authorization.py``: the same statuses; the expiry as the cache's, the parent
    as the group."""
    payload = info.payload()
    result: dict[str, Any] = {"status": payload["status"]}
    if "expiry_date" in payload:
        result["cache_expiry_date_time"] = payload["expiry_date"]
    if "parent_id_tag" in payload:
        result["group_id_token"] = {"id_token": payload["parent_id_tag"], "type": "Central"}
    return result


_ACCEPTED: dict[str, Any] = {"status": "Accepted"}


def start_register(payload: dict[str, Any]) -> float | None:
    """The energy register (Wh) a TransactionEvent reports for the start of its transaction:
    a ``Transaction.Begin`` sample of it, or in a ``Started`` event any sample of it (the
    station's main energy register: no phase, outlet or no location)."""
    started = payload.get("event_type") == "Started"
    for meter_value in payload.get("meter_value") or ():
        for sample in meter_value.get("sampled_value") or ():
            if sample.get("measurand", ENERGY) != ENERGY or sample.get("phase") is not None:
                continue
            if sample.get("location", "Outlet") != "Outlet":
                continue
            if not started and sample.get("context") != "Transaction.Begin":
                continue
            value = sample.get("value")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            unit = sample.get("unit_of_measure") or {}
            multiplier = unit.get("multiplier", 0)
            scale = 10**multiplier if isinstance(multiplier, int) and -9 <= multiplier <= 9 else 1
            if unit.get("unit") == "kWh":
                scale *= 1000
            return float(value) * scale
    return None


class _NoTokenInfo(call_result.TransactionEvent):
    """The answer to a TransactionEvent without an idToken: always ``{}``."""


#: Answers every TransactionEvent without an idToken (most of them: Updated with meter values).
NO_TOKEN_INFO = _NoTokenInfo()


class ChargingStationSession(OcppSession, ChargePoint):
    EMPTY_RESULTS = empty_results(call_result, V201) | {_NoTokenInfo}
    subprotocol = SUBPROTOCOL

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: requestId -> who waits for the NotifyReport parts of that report (onboarding).
        self.report_listeners: dict[int, Callable[[dict[str, Any]], None]] = {}

    def build_call(self, action: str, payload: dict[str, Any]) -> Any:
        return build_call(action, payload)

    def spelled(self, error_frame: str) -> str:
        return spelled_for_201(error_frame)

    def identity(self) -> tuple[str | None, str | None, str | None]:
        station = self.boot.get("charging_station")
        if not isinstance(station, dict):
            return None, None, None
        return (
            text_or_none(station.get("vendor_name")),
            text_or_none(station.get("model")),
            text_or_none(station.get("firmware_version")),
        )

    def emit(self, kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> None:
        self._bus.emit_event(self.id, kind, payload, {**VERSION_CTX, **ctx} if ctx else VERSION_CTX)

    def _note_evse(self, evse: Any) -> None:
        if isinstance(evse, int) and not isinstance(evse, bool) and evse > 0:
            self.connectors.setdefault(evse, "Unknown")

    # -- provisioning ---------------------------------------------------------------------

    @on(Action.boot_notification)
    def on_boot_notification(self, **payload: Any) -> call_result.BootNotification:
        self.boot = payload
        self.emit("BootNotification", payload)
        self.booted()  # onboarding follows the answer
        return call_result.BootNotification(
            current_time=utc_now_iso(), interval=self._heartbeat_interval, status="Accepted"
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **payload: Any) -> call_result.Heartbeat:
        self.emit("Heartbeat", payload)
        return call_result.Heartbeat(current_time=utc_now_iso())

    @on(Action.notify_report)
    def on_notify_report(self, **payload: Any) -> call_result.NotifyReport:
        self.emit("NotifyReport", payload)
        listener = self.report_listeners.get(payload.get("request_id"))  # type: ignore[arg-type]
        if listener is not None:
            listener(payload)
        return call_result.NotifyReport()

    @on(Action.status_notification)
    def on_status_notification(self, **payload: Any) -> call_result.StatusNotification:
        evse, connector = int(payload["evse_id"]), int(payload["connector_id"])
        self.connectors[evse] = str(payload["connector_status"])
        self.emit("StatusNotification", payload, {"evse_id": evse, "connector_id": connector})
        return call_result.StatusNotification()

    # -- authorization and transactions ---------------------------------------------------

    def _token_info(self, token: dict[str, Any], start: Callable[[], bool] | None = None) -> dict[str, Any]:
        """IdTokenInfo for an id token (``start``: asked whether the token charges elsewhere, for
        the first event of a transaction)."""
        if self._authorizer is None or token.get("type") in UNCHECKED_TOKEN_TYPES:
            return _ACCEPTED
        text = str(token.get("id_token", ""))
        decided = self._authorizer.start(text, start) if start is not None else self._authorizer.authorize(text)
        return id_token_info(decided)

    @on(Action.authorize)
    def on_authorize(self, **payload: Any) -> call_result.Authorize:
        info = self._token_info(payload["id_token"])
        self.emit("Authorize", payload, {"status": info["status"]})
        return call_result.Authorize(id_token_info=info)

    @on(Action.transaction_event)
    def on_transaction_event(self, **payload: Any) -> call_result.TransactionEvent:
        """Every event of a transaction is recorded (``store.py``): the bridge gets the EVSE, the
        id token and the start register even where this event does not carry them. An idToken in
        the event is answered with its IdTokenInfo (2.0.1 E01.FR.07 ...: the station stops a
        transaction whose token is not accepted)."""
        transaction_id = str(payload["transaction_info"]["transaction_id"])
        evse_data = payload.get("evse")
        evse = evse_data.get("id") if isinstance(evse_data, dict) else None
        token = payload.get("id_token")
        token_text = str(token["id_token"]) if isinstance(token, dict) and "id_token" in token else None
        store = self._store
        known = store.transaction201(self.id, transaction_id)
        info = None
        if isinstance(token, dict):
            if known is not None and known.id_token == token_text and known.id_token_status is not None:
                # The same token again (an event sent again): the same answer, not a new verdict.
                info = {"status": known.id_token_status}
            else:
                first = known is None or known.id_token is None
                where = evse if isinstance(evse, int) else 0
                elsewhere = (lambda: store.charging_elsewhere(token_text or "", self.id, where)) if first else None
                info = self._token_info(token, elsewhere)
        answered = info["status"] if info is not None and self._authorizer is not None else None
        transaction = store.transaction_event(
            self.id,
            transaction_id,
            str(payload["event_type"]),
            str(payload["timestamp"]),
            evse if isinstance(evse, int) else None,
            token_text,
            start_register(payload),
            answered,
        )
        self._note_evse(transaction.evse)
        ctx: dict[str, Any] = {
            "evse_id": transaction.evse,
            "transaction_id": transaction_id,
            "meter_start": transaction.meter_start,
            "id_token": transaction.id_token,
        }
        if info is not None:
            ctx["id_token_status"] = info["status"]
        if transaction.superseded:
            ctx["superseded"] = True
        if transaction.evse_learnt:  # its earlier events went to EVSE 0 (the bridge)
            ctx["evse_learnt"] = True
        self.emit("TransactionEvent", payload, ctx)
        if info is None:
            return NO_TOKEN_INFO
        return call_result.TransactionEvent(id_token_info=info)

    @on(Action.meter_values)
    def on_meter_values(self, **payload: Any) -> call_result.MeterValues:
        evse = int(payload["evse_id"])
        self._note_evse(evse)
        self.emit("MeterValues", payload, {"evse_id": evse})
        return call_result.MeterValues()

    @on(Action.reservation_status_update)
    def on_reservation_status_update(self, **payload: Any) -> call_result.ReservationStatusUpdate:
        self.emit("ReservationStatusUpdate", payload)
        return call_result.ReservationStatusUpdate()

    # -- smart charging -------------------------------------------------------------------

    @on(Action.notify_charging_limit)
    def on_notify_charging_limit(self, **payload: Any) -> call_result.NotifyChargingLimit:
        self.emit("NotifyChargingLimit", payload)
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    def on_cleared_charging_limit(self, **payload: Any) -> call_result.ClearedChargingLimit:
        self.emit("ClearedChargingLimit", payload)
        return call_result.ClearedChargingLimit()

    @on(Action.report_charging_profiles)
    def on_report_charging_profiles(self, **payload: Any) -> call_result.ReportChargingProfiles:
        self.emit("ReportChargingProfiles", payload)
        return call_result.ReportChargingProfiles()

    @on(Action.notify_ev_charging_needs)
    def on_notify_ev_charging_needs(self, **payload: Any) -> call_result.NotifyEVChargingNeeds:
        """No schedule is computed for the EV here: the profiles in force govern (Rejected: the
        station goes on with them, ISO 15118-2 without a CSMS schedule)."""
        self.emit("NotifyEVChargingNeeds", payload)
        return call_result.NotifyEVChargingNeeds(status="Rejected")

    @on(Action.notify_ev_charging_schedule)
    def on_notify_ev_charging_schedule(self, **payload: Any) -> call_result.NotifyEVChargingSchedule:
        self.emit("NotifyEVChargingSchedule", payload)
        return call_result.NotifyEVChargingSchedule(status="Accepted")

    # -- diagnostics, firmware, monitoring, display ---------------------------------------

    @on(Action.notify_event)
    def on_notify_event(self, **payload: Any) -> call_result.NotifyEvent:
        self.emit("NotifyEvent", payload)
        return call_result.NotifyEvent()

    @on(Action.notify_monitoring_report)
    def on_notify_monitoring_report(self, **payload: Any) -> call_result.NotifyMonitoringReport:
        self.emit("NotifyMonitoringReport", payload)
        return call_result.NotifyMonitoringReport()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **payload: Any) -> call_result.FirmwareStatusNotification:
        self.emit("FirmwareStatusNotification", payload)
        return call_result.FirmwareStatusNotification()

    @on(Action.publish_firmware_status_notification)
    def on_publish_firmware_status_notification(self, **payload: Any) -> call_result.PublishFirmwareStatusNotification:
        self.emit("PublishFirmwareStatusNotification", payload)
        return call_result.PublishFirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **payload: Any) -> call_result.LogStatusNotification:
        self.emit("LogStatusNotification", payload)
        return call_result.LogStatusNotification()

    @on(Action.notify_customer_information)
    def on_notify_customer_information(self, **payload: Any) -> call_result.NotifyCustomerInformation:
        self.emit("NotifyCustomerInformation", payload)
        return call_result.NotifyCustomerInformation()

    @on(Action.notify_display_messages)
    def on_notify_display_messages(self, **payload: Any) -> call_result.NotifyDisplayMessages:
        self.emit("NotifyDisplayMessages", payload)
        return call_result.NotifyDisplayMessages()

    @on(Action.data_transfer)
    def on_data_transfer(self, **payload: Any) -> call_result.DataTransfer:
        self.emit("DataTransfer", payload)
        return call_result.DataTransfer(status="Accepted")

    # -- security -------------------------------------------------------------------------

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **payload: Any) -> call_result.SecurityEventNotification:
        log_security_event(self.id, payload)
        self.emit("SecurityEventNotification", payload)
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, **payload: Any) -> call_result.SignCertificate:
        log.warning(
            "%s asked for its certificate to be signed (SignCertificate): rejected, this connector signs no"
            " certificates; issue one from your CA and install it with CertificateSigned",
            self.id,
        )
        self.emit("SignCertificate", payload)
        return call_result.SignCertificate(status="Rejected")

    @on(Action.get_15118_ev_certificate)
    def on_get_15118_ev_certificate(self, **payload: Any) -> call_result.Get15118EVCertificate:
        """ISO 15118 Plug & Charge certificates come from a V2G PKI this connector is not part of."""
        self.emit("Get15118EVCertificate", payload)
        return call_result.Get15118EVCertificate(status="Failed", exi_response="")

    @on(Action.get_certificate_status)
    def on_get_certificate_status(self, **payload: Any) -> call_result.GetCertificateStatus:
        self.emit("GetCertificateStatus", payload)
        return call_result.GetCertificateStatus(status="Failed")
