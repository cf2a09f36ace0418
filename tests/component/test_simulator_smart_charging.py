"""The simulated charge point's smart charging over a real websocket: the transactions it starts and
stops reach its model, and a central system gets the model's answers."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.component.test_simulator import Recorder, central_system
from tools.chargepoint import SimulatedChargePoint
from tools.configuration import factory_configuration
from tools.smart_charging import SmartCharging


def limit(profile_id: int, purpose: str, amperes: float, **fields: Any) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": profile_id,
            "stackLevel": 0,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amperes}],
                "startSchedule": "2020-01-01T00:00:00Z",
            },
            **fields,
        },
    }


def test_a_single_phase_amperes_only_one_level_charger_that_applies_tx_default_from_the_next_session() -> None:
    recorder = Recorder()
    store = factory_configuration(1, max_stack_level=0, rate_units="Current", phases=1)
    model = SmartCharging.from_configuration(store, max_current=32, tx_default_applies_from_next_session=True)
    watts = {"connectorId": 1, "duration": 300, "chargingRateUnit": "W"}

    async def main() -> None:
        async with (
            central_system(recorder.handler) as (_, url),
            SimulatedChargePoint(url, "CP_SC", configuration=store, smart_charging=model) as cp,
        ):
            await cp.boot()
            assert await recorder.status_of("SetChargingProfile", limit(1, "TxProfile", 32)) == "Rejected"
            transaction = await cp.start_transaction(1, "TAG", meter_start=0)  # 42, the recorder's
            assert model.transactions[1].id == transaction == 42
            assert await recorder.status_of("SetChargingProfile", limit(2, "TxDefaultProfile", 20)) == "Accepted"
            in_force = await recorder.call("GetCompositeSchedule", watts)
            assert in_force[2]["status"] == "Accepted" and "chargingSchedule" not in in_force[2]  # next session
            tx = limit(3, "TxProfile", 32, transactionId=transaction)
            assert await recorder.status_of("SetChargingProfile", tx) == "Accepted"
            in_force = await recorder.call("GetCompositeSchedule", watts)
            assert in_force[2]["chargingSchedule"]["chargingSchedulePeriod"] == [
                {"startPeriod": 0, "limit": 7360.0, "numberPhases": 1}
            ]
            await cp.stop_transaction(transaction, 1000)
            assert sorted(model.profiles) == [2]
            in_force = await recorder.call("GetCompositeSchedule", {"connectorId": 1, "duration": 300})
            assert in_force[2]["chargingSchedule"]["chargingSchedulePeriod"] == [
                {"startPeriod": 0, "limit": 20.0, "numberPhases": 1}
            ]
            assert await recorder.status_of("GetCompositeSchedule", {"connectorId": 2, "duration": 60}) == "Rejected"
            error = await recorder.call("GetCompositeSchedule", {**watts, "chargingRateUnit": "kW"})
            assert error[:3] == [4, error[1], "PropertyConstraintViolation"]
            assert await recorder.status_of("ClearChargingProfile", {}) == "Accepted"
            assert await recorder.status_of("ClearChargingProfile", {}) == "Unknown"

    asyncio.run(main())
