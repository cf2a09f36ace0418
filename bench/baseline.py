"""The baseline: a bare central system on the ``ocpp`` library with its defaults.

A ``ChargePoint`` subclass per OCPP version answering the bench's calls with ``@on`` handlers and
nothing else, served by ``websockets`` with its defaults (the library's ``ASYNC_VALIDATION =
True`` too). It neither journals nor publishes anything: the floor a central system built on the
library stands on, in its own process.

- OCPP 1.6 (``ocpp.v16``): BootNotification, StatusNotification, Heartbeat, MeterValues;
- OCPP 2.0.1 (``ocpp.v201``): BootNotification, StatusNotification, Heartbeat, MeterValues,
  TransactionEvent.

One process serves the subprotocols it is given (``main(port, protocols)``, default both, as the
connector does on its one port); each connection gets the central system of the subprotocol it
negotiated.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v16.enums import RegistrationStatus
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from ocpp.v201.enums import RegistrationStatusEnumType
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bench.loadgen import V16, V201, raise_fd_limit

PROTOCOLS = (V16, V201)


def now() -> str:
    return datetime.now(UTC).isoformat()


class BaselineChargePoint(ChargePoint16):
    """OCPP 1.6."""

    @on(Action16.boot_notification)
    def on_boot_notification(self, **_: Any) -> result16.BootNotification:
        return result16.BootNotification(current_time=now(), interval=300, status=RegistrationStatus.accepted)

    @on(Action16.status_notification)
    def on_status_notification(self, **_: Any) -> result16.StatusNotification:
        return result16.StatusNotification()

    @on(Action16.heartbeat)
    def on_heartbeat(self, **_: Any) -> result16.Heartbeat:
        return result16.Heartbeat(current_time=now())

    @on(Action16.meter_values)
    def on_meter_values(self, **_: Any) -> result16.MeterValues:
        return result16.MeterValues()


class BaselineChargingStation(ChargePoint201):
    """OCPP 2.0.1."""

    @on(Action201.boot_notification)
    def on_boot_notification(self, **_: Any) -> result201.BootNotification:
        return result201.BootNotification(current_time=now(), interval=300, status=RegistrationStatusEnumType.accepted)

    @on(Action201.status_notification)
    def on_status_notification(self, **_: Any) -> result201.StatusNotification:
        return result201.StatusNotification()

    @on(Action201.heartbeat)
    def on_heartbeat(self, **_: Any) -> result201.Heartbeat:
        return result201.Heartbeat(current_time=now())

    @on(Action201.meter_values)
    def on_meter_values(self, **_: Any) -> result201.MeterValues:
        return result201.MeterValues()

    @on(Action201.transaction_event)
    def on_transaction_event(self, **_: Any) -> result201.TransactionEvent:
        return result201.TransactionEvent()


CENTRAL_SYSTEMS: dict[str, type[ChargePoint16] | type[ChargePoint201]] = {
    V16: BaselineChargePoint,
    V201: BaselineChargingStation,
}


async def handle(websocket: ServerConnection) -> None:
    path = websocket.request.path if websocket.request else "/unknown"
    central_system = CENTRAL_SYSTEMS[websocket.subprotocol or V16]
    charge_point = central_system(path.rstrip("/").rsplit("/", 1)[-1], websocket)
    with contextlib.suppress(ConnectionClosed):
        await charge_point.start()


async def serve_forever(port: int, protocols: Sequence[str] = PROTOCOLS) -> None:
    async with serve(handle, "127.0.0.1", port, subprotocols=list(protocols)):  # type: ignore[arg-type]
        await asyncio.Future()


def main(port: int, protocols: Sequence[str] = PROTOCOLS) -> None:
    """Entry point of the baseline process: serves ``protocols`` (``ocpp1.6``, ``ocpp2.0.1``)."""
    unknown = set(protocols) - set(CENTRAL_SYSTEMS)
    if unknown or not protocols:
        raise ValueError(f"the baseline serves {', '.join(CENTRAL_SYSTEMS)}, not {sorted(unknown) or 'nothing'}")
    raise_fd_limit()
    asyncio.run(serve_forever(port, protocols))
