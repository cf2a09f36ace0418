"""What BEMCom learns of the limits in force: ``{cp}__{c}__effective_limit__W`` (read back from
the charge point after every accepted limit and every boot) and ``{cp}__{c}__limit_obeyed``
(measured ``Power.Active.Import`` <= limit * 1.05 + 100 W, judged on each meter value once
``OCPP_LIMIT_GRACE`` seconds have passed since the limit was accepted). No sockets.

OCPP 2.0.1 charge points (``ctx["ocpp"] == "2.0.1"``) are judged on the meter values of
MeterValues and of TransactionEvent (where 2.0.1 sends a transaction's periodic samples), on the
EVSE the event belongs to (``{c}`` = evseId)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.bus import Event
from processes.bridge.meter_values import SensorValue, join_key, meter_values, meter_values_201
from processes.bridge.sensors201 import V201, evse_of

#: DATAPOINTS.md: a limit is obeyed while measured power stays within 5 % + 100 W of it.
TOLERANCE = 1.05
MARGIN_W = 100.0
POWER = "Power.Active.Import"
#: The event kinds whose meter values are judged (TransactionEvent: OCPP 2.0.1 only).
METER_KINDS = frozenset({"MeterValues", "TransactionEvent"})


@dataclass(slots=True)
class LimitInForce:
    watts: float | None  # None: no limit
    since_ms: int  # when it was accepted (or read back different)


class LimitWatch:
    def __init__(self, grace_seconds: float) -> None:
        self._grace_ms = int(grace_seconds * 1000)
        #: (cp, connector) -> the limit in force: the one read back, else the one accepted.
        self._limits: dict[tuple[str, int], LimitInForce] = {}
        self._charge_points: set[str] = set()

    def accepted(self, cp: str, connector: int, watts: float | None, at_ms: int) -> None:
        self._set(cp, connector, watts, at_ms)

    def read_back(self, cp: str, connector: int, watts: float | None, at_ms: int) -> None:
        known = self._limits.get((cp, connector))
        if known is None or known.watts != watts:
            self._set(cp, connector, watts, at_ms if known is None or known.watts is None else known.since_ms)

    def _set(self, cp: str, connector: int, watts: float | None, at_ms: int) -> None:
        self._limits[(cp, connector)] = LimitInForce(watts, at_ms)
        self._charge_points = {key[0] for key, limit in self._limits.items() if limit.watts is not None}

    def watching(self, cp: str) -> bool:
        """Whether a limit is in force anywhere on the charge point (the meter path asks first)."""
        return cp in self._charge_points

    def limit_of(self, cp: str, connector: int) -> LimitInForce | None:
        """The connector's own limit, else the charge point's (connector 0), when one is in force."""
        for key in ((cp, connector), (cp, 0)):
            limit = self._limits.get(key)
            if limit is not None and limit.watts is not None:
                return limit
        return None

    def judge(self, event: Event, connector: int | None) -> list[SensorValue]:
        """``limit_obeyed`` for each total active power this MeterValues event reports (of a 2.0.1
        charge point also TransactionEvent; its EVSE is taken from the event, not ``connector``)."""
        if event.cp not in self._charge_points:
            return []
        payload: dict[str, Any] = event.payload if isinstance(event.payload, dict) else {}
        ctx: dict[str, Any] = event.ctx if isinstance(event.ctx, dict) else {}
        if ctx.get("ocpp") == V201:
            if event.kind not in METER_KINDS:
                return []
            connector = evse_of(event.kind, payload, ctx)
            read = meter_values_201
        elif event.kind == "MeterValues":
            read = meter_values
        else:
            return []
        if connector is None:
            return []
        limit = self.limit_of(event.cp, connector)
        if limit is None or limit.watts is None:
            return []
        power_key = join_key(event.cp, connector, POWER, "W")
        judged = []
        for value in read(event.cp, connector, payload.get("meter_value"), int(event.ts)):
            due = value.timestamp >= limit.since_ms + self._grace_ms
            if value.key == power_key and isinstance(value.value, int | float) and due:
                obeyed = value.value <= limit.watts * TOLERANCE + MARGIN_W
                judged.append(SensorValue(join_key(event.cp, connector, "limit_obeyed"), obeyed, value.timestamp))
        return judged
