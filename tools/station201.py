"""A simulated OCPP 2.0.1 charging station with EVSEs that run charging sessions
(``python -m tools.simulate --protocol ocpp2.0.1``): :class:`Station201`, the 2.0.1 twin of
:class:`tools.station.Station` (both are :class:`tools.station.StationBase`).

Each EVSE repeats: Available → Occupied, Authorize, TransactionEvent Started (Transaction.Begin
register, the ``SampledDataCtrlr.TxStartedMeasurands``), Updated every
``SampledDataCtrlr.TxUpdatedInterval`` seconds with the ``TxUpdatedMeasurands`` (Sample.Periodic;
0: none), Ended (the ``TxEndedMeasurands`` at Transaction.End, ``stoppedReason``) → Available.
The device model decides what is sampled and how often, so a CSMS changing those variables with
SetVariables changes what arrives. The smart-charging limit in force (ChargingStationMaxProfile shared
by the EVSEs charging, TxDefaultProfile, TxProfile) caps the vehicle's power and is reported as
``Power.Offered``/``Current.Offered``. RequestStartTransaction / RequestStopTransaction start and stop
sessions, TriggerMessage(MeterValues / TransactionEvent) sends the live meter; every other CSMS call is
answered by :class:`tools.chargepoint201.SimulatedChargingStation`. A lost connection is re-established
with back-off; a session it interrupted ends with PowerLoss.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from common import __version__
from tools.chargepoint201 import SimulatedChargingStation, id_token_of
from tools.charging import Meter, Vehicle, sample
from tools.configuration import FACTORY_MAX_MEASURANDS, SIMULATED_MEASURANDS
from tools.device_model201 import DeviceModel, factory_device_model
from tools.ocppj import AnswerSpec, JSONDict
from tools.smart_charging201 import SmartCharging201
from tools.station import ChargerBehaviour, SessionPlan, SessionState, StationBase, basic_auth_headers

__all__ = ["EvseState", "Station201", "device_model_for", "sampled_values_201"]

ENERGY = "Energy.Active.Import.Register"


def device_model_for(behaviour: ChargerBehaviour, evses: int, interval: float) -> DeviceModel:
    """The device model of a station of ``behaviour`` with ``evses`` EVSEs: meter values every
    ``interval`` seconds (whole, at least 1) during a transaction, of every measurand the simulator
    reports, or of energy only with ``factory_settings``."""
    measurands = behaviour.supported_measurands or SIMULATED_MEASURANDS
    return factory_device_model(
        evses,
        tx_updated_interval=max(1, math.ceil(interval)),
        sampled_measurands=ENERGY if behaviour.factory_settings else ",".join(measurands),
        supported_measurands=measurands,
        max_measurands=(
            behaviour.max_measurands
            if behaviour.max_measurands is not None
            else max(FACTORY_MAX_MEASURANDS, len(measurands))
        ),
        refuse=behaviour.refuse,
        reboot_required=behaviour.reboot_required,
    )


def sampled_values_201(values: list[JSONDict]) -> list[JSONDict]:
    """1.6-shaped sampled values (string ``value``, ``unit``) in 2.0.1's shape (a number, ``unitOfMeasure``)."""
    converted = []
    for value in values:
        item = {key: item for key, item in value.items() if key not in ("value", "unit")}
        item["value"] = float(value["value"])
        if "unit" in value:
            item["unitOfMeasure"] = {"unit": value["unit"]}
        converted.append(item)
    return converted


@dataclass
class EvseState(SessionState[str]):
    """An EVSE (with one connector) and its session: string transaction ids; the idToken and the
    remoteStartId a RequestStartTransaction asked for."""

    requested_token: JSONDict | None = None
    remote_start_id: int | None = None


class Station201(StationBase[EvseState]):
    """One simulated 2.0.1 charging station and its EVSEs, until its sessions are done or ``stop`` is set."""

    def __init__(
        self,
        url: str,
        cp_id: str,
        evses: int,
        plan: SessionPlan,
        stop: asyncio.Event,
        password: str | None,
        behaviour: ChargerBehaviour | None = None,
        device_model: DeviceModel | None = None,
        smart_charging: SmartCharging201 | None = None,
    ) -> None:
        super().__init__(cp_id, evses, plan, stop, behaviour)
        #: The station's device model (what GetVariables, SetVariables and the reports answer from).
        self.device_model = device_model or device_model_for(self.behaviour, evses, plan.interval)
        self.cs = SimulatedChargingStation(
            url,
            cp_id,
            answers=self._answers(),
            extra_headers=basic_auth_headers(cp_id, password),
            device_model=self.device_model,
            smart_charging=smart_charging,
            boot_trigger=self.behaviour.boot_trigger,
            boot_fields={
                "chargingStation": {
                    "model": "Simulator",
                    "vendorName": "BEMCom",
                    "serialNumber": cp_id[:25],
                    "firmwareVersion": __version__,
                }
            },
        )

    @property
    def link(self) -> SimulatedChargingStation:
        return self.cs

    @property
    def smart_charging(self) -> SmartCharging201:
        return self.cs.smart_charging

    def _connector_state(self, number: int, meter: Meter, initial_wh: float) -> EvseState:
        return EvseState(number, meter, initial_wh=initial_wh)

    # -- running ------------------------------------------------------------------------

    def heartbeat_interval(self) -> float:
        """``OCPPCommCtrlr.HeartbeatInterval`` (the BootNotification's interval sets it), else 300 s."""
        return float(self.device_model.effective_int("OCPPCommCtrlr.HeartbeatInterval") or 300)

    async def _recover(self, evse: EvseState) -> None:
        """After a (re)connect: end the session a lost connection interrupted; report the status."""
        if evse.transaction is not None:
            if evse.transaction in self.cs.transactions:
                await self.cs.stop_transaction(
                    evse.transaction, meter_stop=evse.meter.reading_wh, stopped_reason="PowerLoss"
                )
            evse.transaction = None
            evse.sessions_done += 1
        evse.vehicle = None
        evse.meter.idle()
        await self._set_status(evse, "Available")

    def _requested(self, evse: EvseState) -> bool:
        return evse.requested_token is not None

    async def _next_session(self, evse: EvseState) -> None:
        remote, evse.requested_token = evse.requested_token, None
        token = remote or id_token_of(self._local_tag())
        assert token is not None  # noqa: S101
        await self._session(evse, token, remote is not None)

    async def _set_status(self, evse: EvseState, status: str) -> None:
        evse.status = status
        await self.cs.status(evse.number, 1, status)

    async def _session(self, evse: EvseState, token: JSONDict, remote: bool) -> None:
        evse.vehicle = Vehicle.arriving(self.rng)
        await self._set_status(evse, "Occupied")
        if not remote:
            answer = await self.cs.authorize(token)
            if answer.get("idTokenInfo", {}).get("status") != "Accepted":
                evse.vehicle = None
                evse.sessions_done += 1
                await self._set_status(evse, "Available")
                return
        evse.id_tag = str(token.get("idToken", ""))
        evse.session_start_wh = evse.meter.register_wh
        remote_start_id, evse.remote_start_id = evse.remote_start_id, None
        evse.transaction = await self.cs.start_transaction(
            evse.number,
            token,
            meter_start=evse.meter.reading_wh,
            trigger_reason="RemoteStart" if remote else "Authorized",
            remote_start_id=remote_start_id,
            sampled=self.sampled_values(evse, "Transaction.Begin", "SampledDataCtrlr.TxStartedMeasurands"),
        )
        reason = await self._charge(evse)
        evse.meter.idle()
        self.cs.power_w[evse.number] = 0.0
        evse.stop_wake.clear()
        transaction, evse.transaction = evse.transaction, None
        evse.sessions_done += 1
        if transaction in self.cs.transactions:
            await self.cs.stop_transaction(
                transaction,
                meter_stop=evse.meter.reading_wh,
                stopped_reason=reason,
                sampled=self.sampled_values(evse, "Transaction.End", "SampledDataCtrlr.TxEndedMeasurands"),
            )
        evse.vehicle = None
        await self._set_status(evse, "Available")

    def report_interval(self) -> int:
        """Seconds between TransactionEvent Updated: ``SampledDataCtrlr.TxUpdatedInterval`` (0: none)."""
        if not self.device_model.effective_bool("SampledDataCtrlr.Enabled", default=True):
            return 0
        return self.device_model.effective_int("SampledDataCtrlr.TxUpdatedInterval") or 0

    def sampled_values(
        self, evse: EvseState, context: str = "Sample.Periodic", key: str = "SampledDataCtrlr.TxUpdatedMeasurands"
    ) -> list[JSONDict]:
        """The measurands ``key`` names (in force), 2.0.1-shaped; the energy register at least for
        the begin and the end of a transaction."""
        values = evse.meter.sampled_values(evse.vehicle, context)
        offered_w = self.offered_w(evse)
        values += [
            sample(f"{offered_w:.1f}", "Power.Offered", "W", context),
            sample(
                f"{offered_w / (evse.meter.voltage * self.smart_charging.phases):.1f}", "Current.Offered", "A", context
            ),
        ]
        if self.smart_charging.phases == 1:
            values = [v for v in values if v.get("phase") not in ("L2", "L3", "L2-N", "L3-N")]
        wanted = self.device_model.effective_list(key)
        if wanted is not None:
            values = [value for value in values if value["measurand"] in wanted]
        if context in ("Transaction.Begin", "Transaction.End") and not any(v["measurand"] == ENERGY for v in values):
            values.insert(0, sample(str(evse.meter.reading_wh), ENERGY, "Wh", context))
        return sampled_values_201(values)

    def _station_limit_now(self) -> float | None:
        return self.smart_charging.station_limit_now()

    def _metered(self, evse: EvseState) -> None:
        self.cs.meters[evse.number] = evse.meter.register_wh
        self.cs.power_w[evse.number] = evse.meter.power_w

    async def _report(self, evse: EvseState, values: list[JSONDict]) -> None:
        if evse.transaction in self.cs.transactions:
            await self.cs.update_transaction(evse.transaction, sampled=values)

    # -- answering the CSMS ---------------------------------------------------------------

    def _answers(self) -> dict[str, AnswerSpec]:
        return {
            "RequestStartTransaction": self.request_start,
            "RequestStopTransaction": self.request_stop,
            "TriggerMessage": self.trigger,
        }

    def request_start(self, payload: JSONDict) -> JSONDict:
        wanted = payload.get("evseId")
        for evse in self.connectors:
            if self._startable(evse, wanted):
                body = payload.get("chargingProfile")
                if body is not None and self._remote_profile(evse, body) != "Accepted":
                    return {"status": "Rejected"}
                token = payload.get("idToken")
                evse.requested_token = (
                    dict(token) if isinstance(token, dict) else {"idToken": "REMOTE", "type": "Central"}
                )
                remote_start_id = payload.get("remoteStartId")
                evse.remote_start_id = remote_start_id if isinstance(remote_start_id, int) else None
                evse.start_wake.set()
                return {"status": "Accepted"}
        return {"status": "Rejected"}

    def request_stop(self, payload: JSONDict) -> JSONDict:
        """RequestStopTransaction: as :meth:`StationBase.remote_stop`."""
        return self.remote_stop(payload)

    def trigger(self, payload: JSONDict) -> JSONDict:
        """MeterValues and TransactionEvent with the live meter; everything else as the station answers."""
        requested = payload.get("requestedMessage")
        wanted = payload.get("evse")
        number = wanted.get("id") if isinstance(wanted, dict) else None
        chosen = [evse for evse in self.connectors if number in (None, evse.number)]
        if requested == "MeterValues" and chosen:

            async def meter() -> None:
                for evse in chosen:
                    await self.cs.meter_values(evse.number, self.sampled_values(evse, "Trigger"))

            self.cs.after_answer(meter)
            return {"status": "Accepted"}
        if requested == "TransactionEvent":
            running = [evse for evse in chosen if evse.transaction in self.cs.transactions]
            if not running:
                return {"status": "Rejected"}

            async def events() -> None:
                for evse in running:
                    if evse.transaction in self.cs.transactions:
                        await self.cs.update_transaction(
                            evse.transaction, sampled=self.sampled_values(evse, "Trigger"), trigger_reason="Trigger"
                        )

            self.cs.after_answer(events)
            return {"status": "Accepted"}
        return self.cs.trigger_message(payload)
