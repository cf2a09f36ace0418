"""The baseline: a bare central system on the ``ocpp`` library with its defaults.

A ``ChargePoint`` subclass answering the bench's calls with ``@on`` handlers and nothing else,
served by ``websockets`` with its defaults (the library's ``ASYNC_VALIDATION = True`` too). It
neither journals nor publishes anything: the floor a central system built on the library stands
on, in its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, RegistrationStatus
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bench.loadgen import raise_fd_limit


def now() -> str:
    return datetime.now(UTC).isoformat()


class BaselineChargePoint(ChargePoint):
    @on(Action.boot_notification)
    def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(current_time=now(), interval=300, status=RegistrationStatus.accepted)

    @on(Action.status_notification)
    def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=now())

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()


async def handle(websocket: ServerConnection) -> None:
    path = websocket.request.path if websocket.request else "/unknown"
    charge_point = BaselineChargePoint(path.rstrip("/").rsplit("/", 1)[-1], websocket)
    with contextlib.suppress(ConnectionClosed):
        await charge_point.start()


async def serve_forever(port: int) -> None:
    async with serve(handle, "127.0.0.1", port, subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
        await asyncio.Future()


def main(port: int) -> None:
    """Entry point of the baseline process."""
    raise_fd_limit()
    asyncio.run(serve_forever(port))
