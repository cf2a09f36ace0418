"""What a simulated charge point charges: a vehicle, its meter, and the charging profiles that cap it.

Pure: no sockets, no clocks of its own (callers pass the time), so tests drive it directly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

VOLTAGE = 230.0
PHASES = 3
#: 3 x 16 A at 230 V.
MAX_POWER_W = 11_040.0
#: Above this state of charge, the vehicle takes less and less power.
TAPER_FROM_SOC = 80.0

JSONDict = dict[str, Any]


def parse_time(text: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 timestamp, None when absent or unreadable."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class Profile:
    id: int
    connector: int
    stack_level: int
    purpose: str
    schedule: JSONDict
    received: float

    def limit_w(self, now: float) -> float | None:
        """The limit in watts the profile sets at ``now``, None when it sets none then."""
        start = parse_time(self.schedule.get("startSchedule")) or self.received
        elapsed = now - start
        duration = self.schedule.get("duration")
        if elapsed < 0 or (isinstance(duration, int | float) and elapsed >= duration):
            return None
        periods = [p for p in self.schedule.get("chargingSchedulePeriod", []) if p.get("startPeriod", 0) <= elapsed]
        if not periods:
            return None
        period = max(periods, key=lambda p: p.get("startPeriod", 0))
        limit = float(period.get("limit", 0))
        if self.schedule.get("chargingRateUnit") == "A":
            return limit * VOLTAGE * int(period.get("numberPhases", PHASES))
        return limit


class ChargingProfiles:
    """The profiles a central system set with SetChargingProfile, and the limit they give a connector."""

    def __init__(self) -> None:
        self.profiles: dict[int, Profile] = {}

    def set(self, payload: JSONDict, now: float) -> str:
        """Store a SetChargingProfile request; its answer status."""
        body = payload.get("csChargingProfiles")
        connector = payload.get("connectorId")
        if not isinstance(body, dict) or not isinstance(connector, int) or "chargingSchedule" not in body:
            return "Rejected"
        profile = Profile(
            id=int(body.get("chargingProfileId", 0)),
            connector=connector,
            stack_level=int(body.get("stackLevel", 0)),
            purpose=str(body.get("chargingProfilePurpose", "TxDefaultProfile")),
            schedule=dict(body["chargingSchedule"]),
            received=now,
        )
        # OCPP 1.6: a profile replaces one with the same id, or with the same stack level and purpose.
        for old in list(self.profiles.values()):
            if (old.connector, old.stack_level, old.purpose) == (connector, profile.stack_level, profile.purpose):
                del self.profiles[old.id]
        self.profiles[profile.id] = profile
        return "Accepted"

    def clear(self, payload: JSONDict) -> str:
        """Remove the profiles a ClearChargingProfile request names (all without criteria)."""
        criteria = {
            "id": payload.get("id"),
            "connector": payload.get("connectorId"),
            "purpose": payload.get("chargingProfilePurpose"),
            "stack_level": payload.get("stackLevel"),
        }
        removed = [
            profile.id
            for profile in self.profiles.values()
            if all(wanted is None or getattr(profile, name) == wanted for name, wanted in criteria.items())
        ]
        for profile_id in removed:
            del self.profiles[profile_id]
        return "Accepted" if removed else "Unknown"

    def limit_w(self, connector: int, now: float) -> float | None:
        """The cap on a connector: the active transaction profile of the highest stack level
        (a connector's own before connector 0's), within any ChargePointMaxProfile."""
        tx_limits: list[tuple[int, int, float]] = []
        caps: list[float] = []
        for profile in self.profiles.values():
            if profile.connector not in (0, connector):
                continue
            limit = profile.limit_w(now)
            if limit is None:
                continue
            if profile.purpose == "ChargePointMaxProfile":
                caps.append(limit)
            else:
                tx_limits.append((profile.stack_level, int(profile.connector == connector), limit))
        limits = caps + ([max(tx_limits)[2]] if tx_limits else [])
        return min(limits) if limits else None


@dataclass
class Vehicle:
    """An electric vehicle plugged into a connector."""

    soc: float  # percent
    capacity_wh: float = 60_000.0
    max_power_w: float = MAX_POWER_W

    @classmethod
    def arriving(cls, rng: random.Random) -> Vehicle:
        return cls(soc=rng.uniform(15, 60), capacity_wh=rng.choice((40_000.0, 60_000.0, 80_000.0)))

    def wanted_w(self) -> float:
        if self.soc >= 100:
            return 0.0
        if self.soc <= TAPER_FROM_SOC:
            return self.max_power_w
        return self.max_power_w * (100 - self.soc) / (100 - TAPER_FROM_SOC)


@dataclass
class Meter:
    """A connector's energy meter and what it measures now."""

    register_wh: float = 0.0
    power_w: float = 0.0
    voltage: float = VOLTAGE

    @property
    def reading_wh(self) -> int:
        """What the meter shows: whole watt-hours (so every reading of a session rises or stays)."""
        return int(self.register_wh)

    def charge(self, vehicle: Vehicle, seconds: float, limit_w: float | None, rng: random.Random) -> None:
        """``seconds`` of charging ``vehicle`` under ``limit_w``: power, energy and state of charge move."""
        power = min(vehicle.wanted_w(), MAX_POWER_W if limit_w is None else max(0.0, limit_w))
        self.power_w = round(power * rng.uniform(0.985, 1.0), 1) if power > 0 else 0.0
        energy = self.power_w * seconds / 3600
        self.register_wh += energy
        vehicle.soc = min(100.0, vehicle.soc + 100 * energy / vehicle.capacity_wh)
        self.voltage = round(VOLTAGE + rng.uniform(-2, 2), 1)

    def idle(self) -> None:
        self.power_w = 0.0

    def sampled_values(self, vehicle: Vehicle | None, context: str = "Sample.Periodic") -> list[JSONDict]:
        """One MeterValues sampledValue list: energy, power, current and voltage per phase, SoC."""
        current = self.power_w / (self.voltage * PHASES)
        values: list[JSONDict] = [
            sample(str(self.reading_wh), "Energy.Active.Import.Register", "Wh", context),
            sample(f"{self.power_w:.1f}", "Power.Active.Import", "W", context),
        ]
        for phase in ("L1", "L2", "L3"):
            values.append(sample(f"{current:.2f}", "Current.Import", "A", context, phase=phase))
        for phase in ("L1-N", "L2-N", "L3-N"):
            values.append(sample(f"{self.voltage:.1f}", "Voltage", "V", context, phase=phase))
        if vehicle is not None:
            values.append(sample(f"{vehicle.soc:.1f}", "SoC", "Percent", context, location="EV"))
        return values


def sample(value: str, measurand: str, unit: str, context: str, **extra: str) -> JSONDict:
    return {"value": value, "context": context, "measurand": measurand, "unit": unit, **extra}
