"""A simulated OCPP 2.0.1 charging station with EVSEs that run charging sessions
(``python -m tools.simulate --protocol ocpp2.0.1``): :class:`Station201`, the 2.0.1 twin of
:class:`tools.station.Station`.

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
import base64
import logging
import math
import random
import time
from dataclasses import dataclass, field

from common import __version__
from tools.chargepoint import AnswerCallError
from tools.chargepoint201 import SimulatedChargingStation, id_token_of
from tools.charging import Meter, Vehicle, sample
from tools.configuration import FACTORY_MAX_MEASURANDS, SIMULATED_MEASURANDS
from tools.device_model201 import DeviceModel, factory_device_model
from tools.ocppj import AnswerSpec, JSONDict
from tools.smart_charging201 import SmartCharging201, SmartChargingError
from tools.station import CONNECTION_ERRORS, MAX_BACKOFF, ChargerBehaviour, SessionPlan, wait_any

__all__ = ["EvseState", "Station201", "device_model_for", "sampled_values_201"]

log = logging.getLogger(__name__)

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
class EvseState:
    """An EVSE (with one connector) and its session; the attributes of :class:`tools.station.ConnectorState`."""

    number: int
    meter: Meter
    initial_wh: float
    status: str = "Available"
    transaction: str | None = None
    id_tag: str = ""
    vehicle: Vehicle | None = None
    session_start_wh: float = 0.0
    sessions_done: int = 0
    requested_token: JSONDict | None = None
    remote_start_id: int | None = None
    start_wake: asyncio.Event = field(default_factory=asyncio.Event)
    stop_wake: asyncio.Event = field(default_factory=asyncio.Event)
    following_w: float | None = None
    lowered_at: float | None = None

    @property
    def session_wh(self) -> float:
        return self.meter.register_wh - self.session_start_wh if self.transaction is not None else 0.0


class Station201:
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
        self.cp_id = cp_id
        self.plan = plan
        self.behaviour = behaviour or ChargerBehaviour()
        self.stop = stop
        self.rng = random.Random(cp_id)  # noqa: S311 - simulation, not cryptography
        self.connectors = [self._new_evse(number) for number in range(1, evses + 1)]
        self.state = "starting"
        self.errors = 0
        headers = None
        if password is not None:
            token = base64.b64encode(f"{cp_id}:{password}".encode()).decode()
            headers = {"Authorization": f"Basic {token}"}
        #: The station's device model (what GetVariables, SetVariables and the reports answer from).
        self.device_model = device_model or device_model_for(self.behaviour, evses, plan.interval)
        self.cs = SimulatedChargingStation(
            url,
            cp_id,
            answers=self._answers(),
            extra_headers=headers,
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
    def smart_charging(self) -> SmartCharging201:
        return self.cs.smart_charging

    def _new_evse(self, number: int) -> EvseState:
        register = round(self.rng.uniform(100_000, 2_000_000), 1)
        return EvseState(number, Meter(register_wh=register), initial_wh=register)

    def connector_done(self, evse: EvseState) -> bool:
        return self.plan.sessions > 0 and evse.sessions_done >= self.plan.sessions

    @property
    def done(self) -> bool:
        return all(self.connector_done(evse) for evse in self.connectors)

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set() and not self.done:
            try:
                await self._connected_run()
                backoff = 1.0
            except (*CONNECTION_ERRORS, ConnectionError) as error:
                self.errors += 1
                self.state = f"disconnected ({type(error).__name__}: {error}); retrying in {backoff:g} s"
                log.info("%s: %s", self.cp_id, self.state)
                await wait_any([self.stop], backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
            finally:
                await self.cs.close()
        self.state = "done" if self.done else "stopped"

    async def _connected_run(self) -> None:
        self.state = "connecting"
        await self.cs.connect()
        if not self.behaviour.never_boot:
            boot = await self.cs.boot()
            if boot.get("status") != "Accepted":
                raise ValueError(f"BootNotification answered {boot.get('status')}")
        self.state = "connected"
        for evse in self.connectors:
            await self._recover(evse)
        loops = [asyncio.create_task(self._evse_loop(e), name=f"{self.cp_id}-{e.number}") for e in self.connectors]
        keep_alive = asyncio.create_task(self._keep_alive(loops))
        try:
            done, _ = await asyncio.wait([*loops, keep_alive], return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in [*loops, keep_alive]:
                task.cancel()
            await asyncio.gather(*loops, keep_alive, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    def heartbeat_interval(self) -> float:
        """``OCPPCommCtrlr.HeartbeatInterval`` (the BootNotification's interval sets it), else 300 s."""
        return float(self.device_model.effective_int("OCPPCommCtrlr.HeartbeatInterval") or 300)

    async def _keep_alive(self, loops: list[asyncio.Task[None]]) -> None:
        last_beat = time.monotonic()
        while not all(loop.done() for loop in loops):
            if not self.cs.connected:
                raise ConnectionError(f"connection closed (code {self.cs.close_code})")
            if time.monotonic() >= last_beat + self.heartbeat_interval():
                await self.cs.heartbeat()
                last_beat = time.monotonic()
            await asyncio.sleep(0.2)

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

    async def _evse_loop(self, evse: EvseState) -> None:
        pause = self.plan.pause * self.rng.uniform(0.1, 1.0)  # stagger the first sessions
        while not self.stop.is_set() and not self.connector_done(evse):
            if evse.requested_token is None:
                await wait_any([self.stop, evse.start_wake], pause)
            if self.stop.is_set():
                return
            evse.start_wake.clear()
            remote, evse.requested_token = evse.requested_token, None
            token = remote or id_token_of(f"TAG-{self.rng.randrange(1000, 9999)}")
            assert token is not None  # noqa: S101
            await self._session(evse, token, remote is not None)
            pause = self.plan.pause

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

    def offered_w(self, evse: EvseState) -> float:
        """The charger's maximum within the EVSE's limit and its share of the station's maximum."""
        model = self.smart_charging
        offered = model.max_power_w
        own = model.limit_now(evse.number)
        if own is not None:
            offered = min(offered, own)
        cap = model.station_limit_now()
        if cap is not None:
            sharing = sum(1 for other in self.connectors if other.transaction is not None or other is evse)
            offered = min(offered, cap / max(1, sharing))
        return max(0.0, offered)

    def vehicle_limit_w(self, evse: EvseState, now: float) -> float:
        offered = self.offered_w(evse)
        delay = self.behaviour.ramp_down_delay
        if evse.following_w is None or offered >= evse.following_w or delay <= 0:
            evse.following_w, evse.lowered_at = offered, None
        elif evse.lowered_at is None:
            evse.lowered_at = now
        elif now - evse.lowered_at >= delay:
            evse.following_w, evse.lowered_at = offered, None
        return evse.following_w

    async def _charge(self, evse: EvseState) -> str:
        """``samples`` steps of ``interval`` seconds charging the vehicle; TransactionEvent Updated
        every :meth:`report_interval` seconds; the stoppedReason."""
        last = last_report = time.monotonic()
        evse.following_w = evse.lowered_at = None
        next_step = last + self.plan.interval
        steps = 0
        while steps < self.plan.samples:
            every = self.report_interval()
            wake = next_step if not every else min(next_step, last_report + every)
            await wait_any([self.stop, evse.stop_wake], max(0.0, wake - time.monotonic()))
            if evse.stop_wake.is_set():
                return "Remote"
            if self.stop.is_set():
                return "Local"
            now = time.monotonic()
            assert evse.vehicle is not None and evse.transaction is not None  # noqa: S101
            evse.meter.charge(evse.vehicle, now - last, self.vehicle_limit_w(evse, now), self.rng)
            self.cs.meters[evse.number] = evse.meter.register_wh
            self.cs.power_w[evse.number] = evse.meter.power_w
            last = now
            if now >= next_step:
                steps += 1
                next_step += self.plan.interval
            if every > 0 and now >= last_report + every:
                last_report = now
                values = self.sampled_values(evse)
                if values and evse.transaction in self.cs.transactions:
                    await self.cs.update_transaction(evse.transaction, sampled=values)
            if evse.vehicle.soc >= 100:
                return "EVDisconnected"
        return "Local"

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
            idle = evse.status == "Available" and evse.transaction is None and evse.requested_token is None
            if idle and wanted in (None, evse.number) and not self.connector_done(evse):
                body = payload.get("chargingProfile")
                if body is not None:
                    try:
                        if self.smart_charging.remote_start(evse.number, body) != "Accepted":
                            return {"status": "Rejected"}
                    except SmartChargingError as error:
                        raise AnswerCallError(error.code, error.description) from None
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
        for evse in self.connectors:
            if evse.transaction is not None and evse.transaction == payload.get("transactionId"):
                evse.stop_wake.set()
                return {"status": "Accepted"}
        return {"status": "Rejected"}

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
