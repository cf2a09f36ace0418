"""A scripted OCPP 1.6 charger on a real session with onboarding wired as the gateway wires it,
without sockets (tests/unit): ``Site`` and ``ScriptedCharger``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from common.bus import ONBOARDED
from common.settings import OnboardingSettings
from processes.gateway import v16
from processes.gateway.charger_profiles import ChargerProfile
from processes.gateway.onboarding import Onboarding
from processes.gateway.store import Store
from processes.gateway.v16.session import ChargePointSession
from tests.support.buses import RecordingBus

FACTORY = {
    "NumberOfConnectors": "2",
    "SupportedFeatureProfiles": "Core,SmartCharging,LocalAuthListManagement,RemoteTrigger",
    "ChargeProfileMaxStackLevel": "8",
    "ChargingScheduleAllowedChargingRateUnit": "Current",
    "ChargingScheduleMaxPeriods": "24",
    "MeterValuesSampledData": "Energy.Active.Import.Register",
    "MeterValuesSampledDataMaxLength": "8",
    "MeterValueSampleInterval": "60",
    "ClockAlignedDataInterval": "0",
    "ConnectorPhaseRotation": "0.RST,1.RST,2.RST",
    "LocalAuthListEnabled": "true",
}
WANTED = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC")


class ScriptedCharger:
    """A charge point's websocket end: answers our calls from its configuration (refusing the
    measurands it does not have, the keys it is told to refuse); sends what a test queues."""

    def __init__(self, configuration: dict[str, str], supported: set[str] | None = None) -> None:
        self.configuration = dict(configuration)
        self.supported = set(WANTED) if supported is None else supported
        self.refuse: set[str] = set()
        self.reboot_required: set[str] = set()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.changing = asyncio.Event()  # set at the first ChangeConfiguration
        self.silent: set[str] = set()  # actions it never answers
        self.boot_on_trigger = False
        self.incoming: asyncio.Queue[str] = asyncio.Queue()
        self.answers: list[Any] = []

    async def recv(self, decode: bool | None = None) -> str:
        return await self.incoming.get()

    async def send(self, message: str) -> None:
        frame = json.loads(message)
        if frame[0] != 2:
            self.answers.append(frame)
            return
        _, unique_id, action, payload = frame
        self.calls.append((action, payload))
        if action == "ChangeConfiguration":
            self.changing.set()
        if action in self.silent:
            return
        self.incoming.put_nowait(json.dumps([3, unique_id, self.answer(action, payload)]))
        if action == "TriggerMessage" and self.boot_on_trigger:
            self.incoming.put_nowait(json.dumps([2, "boot-2", "BootNotification", BOOT]))

    def answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "GetConfiguration":
            keys = [{"key": k, "readonly": False, "value": v} for k, v in self.configuration.items()]
            return {"configurationKey": keys}
        if action == "ChangeConfiguration":
            key, value = payload["key"], payload["value"]
            if key not in self.configuration:
                return {"status": "NotSupported"}
            if key in self.refuse:
                return {"status": "Rejected"}
            if key == "MeterValuesSampledData" and not set(value.split(",")) <= self.supported:
                return {"status": "Rejected"}
            self.configuration[key] = value
            return {"status": "RebootRequired" if key in self.reboot_required else "Accepted"}
        if action == "TriggerMessage":
            return {"status": "Accepted" if self.boot_on_trigger else "Rejected"}
        return {"status": "Accepted"}

    def changes(self) -> list[tuple[str, str]]:
        return [(p["key"], p["value"]) for action, p in self.calls if action == "ChangeConfiguration"]


BOOT = {"chargePointVendor": "Vendor", "chargePointModel": "Model"}


class SignallingBus(RecordingBus):
    """Records events and wakes whoever waits for the next one."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Condition()

    def emit_event(self, cp: str, kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> None:
        super().emit_event(cp, kind, payload, ctx)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()


class Profiles:
    def __init__(self, profile: ChargerProfile) -> None:
        self.profile = profile

    def resolve(self, cp_id: str, vendor: str | None, model: str | None, firmware: str | None) -> ChargerProfile:
        return self.profile


SETTINGS = OnboardingSettings(measurands=WANTED, meter_interval=15, boot_wait=0.2, calls_per_second=1000)
BASE = ChargerProfile(onboarding=True, measurands=WANTED, meter_interval=15)


class Site:
    """One session of a scripted charger, with onboarding wired as the gateway wires it."""

    def __init__(self, store: Store, charger: ScriptedCharger, settings: OnboardingSettings = SETTINGS) -> None:
        self.bus = SignallingBus()
        self.charger = charger
        self.profiles = Profiles(BASE)
        self.onboarding = Onboarding(settings, 1.0, self.profiles, store, {v16.SUBPROTOCOL: v16.onboard})
        self.session = ChargePointSession(
            "CP_1",
            charger,
            bus=self.bus,
            store=store,
            heartbeat_interval=300,
            response_timeout=1,
            lifecycle=self.onboarding,
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Site:
        self.task = asyncio.create_task(self.session.start())
        self.onboarding.connected(self.session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.onboarding.ended(self.session)
        self.session.closed.set()
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.onboarding.close()

    def boot(self) -> None:
        self.charger.incoming.put_nowait(json.dumps([2, f"boot-{len(self.charger.calls)}", "BootNotification", BOOT]))

    async def outcome(self, count: int = 1, timeout: float = 5) -> list[dict[str, Any]]:  # noqa: ASYNC109
        async with asyncio.timeout(timeout), self.bus.changed:
            await self.bus.changed.wait_for(lambda: len(self.outcomes()) >= count)
        return self.outcomes()

    def outcomes(self) -> list[dict[str, Any]]:
        return [payload for kind, payload, _ in self.bus.events if kind == ONBOARDED]


def run(scenario: Callable[[Store], Coroutine[Any, Any, None]]) -> None:
    store = Store(":memory:")
    try:
        asyncio.run(scenario(store))
    finally:
        store.close()
