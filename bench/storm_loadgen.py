"""Charge points for the onboarding storm (bench/onboarding_storm.py), in processes of their own.

Each charge point connects at its own moment within the storm (``offsets``: seconds after the
start the orchestrator sends), sends a BootNotification, answers the central system's calls
like a charger fresh from the factory (:data:`FACTORY_CONFIGURATION` for GetConfiguration,
ChangeConfiguration kept and ``Accepted``, anything else a schema-valid answer, see
:data:`ANSWERS`), and once booted sends a light load: one call every ``period`` seconds,
Heartbeat and MeterValues in turn, from a random phase, one outstanding call at a time. Each
answer's latency is noted with the moment its call was sent.

No ``websockets`` client and no coroutine per charge point: one asyncio protocol per connection
writes the HTTP upgrade itself, then websocket frames masked with the zero key (RFC 6455 allows
it; as bench/loadgen.py's closed loop), and parses the server's frames. A thousand upgrades a
second through the library's client would cost the load generator more CPU than the system it
measures has to spare on a 2-core machine.

A connection that fails (refused, an upgrade answered other than 101, lost) is tried again after
0.5-1.5 s, as a charge point would, and booted again; every attempt and loss is counted.

Protocol with the orchestrator over a multiprocessing pipe: ``("ready",)`` once the worker's
loop runs; ``("go", start)`` (``time.perf_counter``, CLOCK_MONOTONIC, comparable across
processes); ``"stop"``: the light load ends and the worker answers ``("results", dict)``;
``"close"``: connections closed, the worker exits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import hashlib
import json
import os
import random
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, cast

from bench.loadgen import CLOSE_FRAME, client_frame, meter_values_suffix, raise_fd_limit

#: A realistic factory configuration (OCPP 1.6 Core, Smart Charging, Local Auth List): meter
#: sampling of energy only, once a minute. (key, value, read-only)
FACTORY_CONFIGURATION: tuple[tuple[str, str, bool], ...] = (
    ("AllowOfflineTxForUnknownId", "false", False),
    ("AuthorizationCacheEnabled", "true", False),
    ("AuthorizeRemoteTxRequests", "false", False),
    ("ChargeProfileMaxStackLevel", "8", True),
    ("ChargingScheduleAllowedChargingRateUnit", "Current,Power", True),
    ("ChargingScheduleMaxPeriods", "24", True),
    ("ClockAlignedDataInterval", "0", False),
    ("ConnectionTimeOut", "60", False),
    ("ConnectorPhaseRotation", "1.RST", False),
    ("GetConfigurationMaxKeys", "50", True),
    ("HeartbeatInterval", "300", False),
    ("LocalAuthListEnabled", "true", False),
    ("LocalAuthListMaxLength", "100", True),
    ("LocalAuthorizeOffline", "true", False),
    ("LocalPreAuthorize", "false", False),
    ("MaxChargingProfilesInstalled", "8", True),
    ("MeterValuesAlignedData", "Energy.Active.Import.Register", False),
    ("MeterValuesSampledData", "Energy.Active.Import.Register", False),
    ("MeterValuesSampledDataMaxLength", "10", True),
    ("MeterValueSampleInterval", "60", False),
    ("NumberOfConnectors", "1", True),
    ("ResetRetries", "3", False),
    ("SendLocalListMaxLength", "100", True),
    (
        "SupportedFeatureProfiles",
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
        True,
    ),
    ("TransactionMessageAttempts", "3", False),
)

#: The answer to every other call a central system may send an OCPP 1.6 charge point (security
#: extension included), each valid against the library's ``<Action>Response`` schema.
ANSWERS: dict[str, dict[str, Any]] = {
    "CancelReservation": {"status": "Accepted"},
    "CertificateSigned": {"status": "Accepted"},
    "ChangeAvailability": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "DataTransfer": {"status": "Accepted"},
    "DeleteCertificate": {"status": "Accepted"},
    "ExtendedTriggerMessage": {"status": "Accepted"},
    "GetCompositeSchedule": {"status": "Rejected"},
    "GetDiagnostics": {},
    "GetInstalledCertificateIds": {"status": "NotFound"},
    "GetLocalListVersion": {"listVersion": 0},
    "GetLog": {"status": "Rejected"},
    "InstallCertificate": {"status": "Accepted"},
    "RemoteStartTransaction": {"status": "Accepted"},
    "RemoteStopTransaction": {"status": "Accepted"},
    "ReserveNow": {"status": "Accepted"},
    "Reset": {"status": "Accepted"},
    "SendLocalList": {"status": "Accepted"},
    "SetChargingProfile": {"status": "Accepted"},
    "SignedUpdateFirmware": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "UpdateFirmware": {},
}

GET_CONFIGURATION, CHANGE_CONFIGURATION, OTHER_CALL = 0, 1, 2
#: Codes of the central system's calls in the results' ``cs_actions``.
CALL_CODES = {"GetConfiguration": GET_CONFIGURATION, "ChangeConfiguration": CHANGE_CONFIGURATION}

BOOT_PAYLOAD = '{"chargePointVendor":"bench","chargePointModel":"storm","firmwareVersion":"1.0.0"}'
HEARTBEAT_SUFFIX = b'","Heartbeat",{}]'
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def get_configuration_answer(configuration: dict[str, tuple[str, bool]], keys: list[str] | None) -> dict[str, Any]:
    """GetConfiguration.conf: every key (``keys`` empty or absent) or the ones asked for."""
    wanted = keys if keys else list(configuration)
    known = [
        {"key": key, "readonly": configuration[key][1], "value": configuration[key][0]}
        for key in wanted
        if key in configuration
    ]
    unknown = [key for key in wanted if key not in configuration]
    return {"configurationKey": known, **({"unknownKey": unknown} if unknown else {})}


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + WEBSOCKET_GUID).digest())  # noqa: S324 - RFC 6455


@dataclass
class StormConfig:
    host: str
    port: int
    path: str  # the URL's path before the charge point id, e.g. "/ocpp"
    ids: list[str]
    offsets: list[float]  # seconds after the start when each charge point connects
    period: float  # seconds between two calls of the light load of a charge point
    seed: int = 0


@dataclass(slots=True)
class Record:
    """What one charge point saw (sent to the orchestrator)."""

    scheduled: float = 0.0
    #: perf_counter when its (last) BootNotification was answered, and that answer's latency.
    booted: float = 0.0
    boot_latency: float = 0.0
    attempts: int = 0
    lost: int = 0
    get_configuration: int = 0
    changes: list[tuple[str, str]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    configuration: dict[str, tuple[str, bool]] = field(default_factory=dict)


class Fleet:
    """One worker's charge points and what they measured."""

    def __init__(self, config: StormConfig) -> None:
        self.config = config
        self.loop = asyncio.get_running_loop()
        self.random = random.Random(config.seed)
        self.records = {cp: Record(configuration={k: (v, r) for k, v, r in FACTORY_CONFIGURATION}) for cp in config.ids}
        self.points: dict[str, StormChargePoint] = {}
        self.stopping = False
        self.light_sent = array("d")
        self.light_latency = array("d")
        self.cs_received = array("d")
        self.cs_actions = array("b")
        self.errors: dict[str, int] = {}
        self.failures: list[str] = []
        self.meter = meter_values_suffix(1000).encode()
        self.all_closed: asyncio.Future[None] | None = None

    def error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if detail and len(self.failures) < 20:
            self.failures.append(detail)

    def start(self, start: float) -> None:
        now = time.perf_counter()
        for cp, offset in zip(self.config.ids, self.config.offsets, strict=True):
            self.records[cp].scheduled = start + offset
            self.loop.call_later(max(0.0, start + offset - now), self.connect, cp)

    def connect(self, cp: str) -> None:
        if self.stopping:
            return
        self.records[cp].attempts += 1
        self.loop.create_task(self._connect(cp))

    async def _connect(self, cp: str) -> None:
        config = self.config
        try:
            await self.loop.create_connection(lambda: StormChargePoint(self, cp), config.host, config.port)
        except OSError as error:
            self.error("connect failed", f"{cp}: {error}")
            self.retry(cp)
        except Exception as error:  # a bug of this module: reported, not retried
            self.error("connect crashed", f"{cp}: {error!r}")

    def retry(self, cp: str) -> None:
        if not self.stopping:
            self.loop.call_later(0.5 + self.random.random(), self.connect, cp)

    def stop(self) -> list[float]:
        """End the light load; the ages of the calls still unanswered."""
        self.stopping = True
        now = time.perf_counter()
        unanswered = []
        for point in self.points.values():
            if point.timer is not None:
                point.timer.cancel()
            if point.pending is not None and point.pending_kind == "light":
                unanswered.append(now - point.pending_sent)
        return unanswered

    def results(self, unanswered: list[float]) -> dict[str, Any]:
        return {
            "light_sent": self.light_sent.tobytes(),
            "light_latency": self.light_latency.tobytes(),
            "unanswered": unanswered,
            "cs_received": self.cs_received.tobytes(),
            "cs_actions": self.cs_actions.tobytes(),
            "errors": self.errors,
            "failures": self.failures,
            "charge_points": {
                cp: {
                    "scheduled": r.scheduled,
                    "booted": r.booted,
                    "boot_latency": r.boot_latency,
                    "attempts": r.attempts,
                    "lost": r.lost,
                    "get_configuration": r.get_configuration,
                    "changes": r.changes,
                    "other": r.other,
                }
                for cp, r in self.records.items()
            },
        }

    def close(self) -> asyncio.Future[None] | None:
        """Close every connection; a future done once they are all closed (None: none open)."""
        if not self.points:
            return None
        self.all_closed = self.loop.create_future()
        for point in list(self.points.values()):
            point.close()
        return self.all_closed


class StormChargePoint(asyncio.Protocol):
    """One connection of one charge point: upgrade, boot, answers, light load."""

    def __init__(self, fleet: Fleet, cp: str) -> None:
        self.fleet = fleet
        self.cp = cp
        self.record = fleet.records[cp]
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.buffer = bytearray()
        self.key = base64.b64encode(os.urandom(16))
        self.counter = 0
        self.pending: str | None = None  # the id of our call awaiting its answer
        self.pending_kind = ""
        self.pending_sent = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.meter_next = False
        self.ended = False

    # -- connection -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass of it
        config = self.fleet.config
        request = (
            f"GET {config.path}/{self.cp} HTTP/1.1\r\nHost: {config.host}:{config.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self.key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        )
        self.transport.write(request.encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        fleet = self.fleet
        if fleet.points.get(self.cp) is self:
            del fleet.points[self.cp]
            if not fleet.points and fleet.all_closed is not None and not fleet.all_closed.done():
                fleet.all_closed.set_result(None)
        if self.ended or self.fleet.stopping:
            return
        self.ended = True
        if self.upgraded:
            self.record.lost += 1
            self.fleet.error("connection lost", f"{self.cp}: connection lost ({exc})")
        else:
            self.fleet.error("upgrade failed", f"{self.cp}: connection lost during the upgrade ({exc})")
        self.fleet.retry(self.cp)

    def fail(self, kind: str, detail: str) -> None:
        """Give this connection up and try again later."""
        self.fleet.error(kind, f"{self.cp}: {detail}")
        if self.upgraded:
            self.record.lost += 1
        self.ended = True
        if self.transport is not None:
            self.transport.close()
        self.fleet.retry(self.cp)

    def close(self) -> None:
        self.ended = True
        if self.transport is not None and not self.transport.is_closing():
            if self.upgraded:
                self.transport.write(CLOSE_FRAME)
            self.transport.close()

    def _upgrade(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in head[1:])}
        if head[0].split(" ")[1:2] != ["101"]:
            self.fail("upgrade refused", head[0])
            return
        if headers.get("sec-websocket-accept", "").encode() != accept_key(self.key):
            self.fail("upgrade refused", "wrong Sec-WebSocket-Accept")
            return
        if headers.get("sec-websocket-protocol") != "ocpp1.6":
            self.fail("upgrade refused", f"subprotocol {headers.get('sec-websocket-protocol')!r}")
            return
        self.upgraded = True
        old = self.fleet.points.get(self.cp)
        if old is not None and old is not self:
            old.close()
        self.fleet.points[self.cp] = self
        self._send_call("boot", "BootNotification", BOOT_PAYLOAD.encode())

    # -- frames -----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            self._upgrade()
            if not self.upgraded:
                return
        while len(buffer) >= 2:
            size, start = buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, start = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + size:
                return
            first = buffer[0]
            payload = bytes(buffer[start : start + size])
            del buffer[: start + size]
            opcode = first & 0x0F
            if opcode == 0x1 and first & 0x80:
                self._message(payload)
            elif opcode == 0x9:  # ping
                self._write(client_frame(payload, 0xA))
            elif opcode == 0x8:
                self.fail("closed by the server", f"close frame {payload!r}")
                return
            elif opcode != 0xA:
                self.fail("unexpected frame", f"opcode {opcode:#x}, fin {first >> 7}")
                return

    def _write(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    def _message(self, payload: bytes) -> None:
        try:
            message = json.loads(payload)
            kind, unique = message[0], message[1]
        except (ValueError, IndexError, TypeError, KeyError):
            self.fleet.error("unreadable frame", f"{self.cp}: {payload[:200]!r}")
            return
        if kind == 2:
            self._answer(unique, message[2], message[3])
        elif kind in (3, 4) and unique == self.pending:
            self._answered(kind == 3, message)
        else:
            self.fleet.error("unexpected answer", f"{self.cp}: {payload[:200]!r}")

    # -- our calls --------------------------------------------------------------------

    def _send_call(self, kind: str, action: str, body: bytes) -> None:
        self.counter += 1
        unique = f"{kind[0]}{self.counter}"
        self.pending, self.pending_kind, self.pending_sent = unique, kind, time.perf_counter()
        self._write(client_frame(b'[2,"' + unique.encode() + b'","' + action.encode() + b'",' + body + b"]"))

    def _send_light(self) -> None:
        self.counter += 1
        unique = f"l{self.counter}"
        suffix = self.fleet.meter if self.meter_next else HEARTBEAT_SUFFIX
        self.meter_next = not self.meter_next
        self.pending, self.pending_kind, self.pending_sent = unique, "light", time.perf_counter()
        self._write(client_frame(b'[2,"' + unique.encode() + suffix))

    def _answered(self, result: bool, message: list[Any]) -> None:
        now = time.perf_counter()
        latency = now - self.pending_sent
        kind = self.pending_kind
        self.pending = None
        fleet = self.fleet
        if not result:
            fleet.error(f"CallError to {kind}", f"{self.cp}: {message}")
        if kind == "light":
            fleet.light_sent.append(self.pending_sent)
            fleet.light_latency.append(latency)
        elif kind == "boot":
            self.record.booted, self.record.boot_latency = now, latency
            if not result or message[2].get("status") != "Accepted":
                fleet.error("boot not accepted", f"{self.cp}: {message}")
            if self.timer is None and not fleet.stopping:
                self.timer = fleet.loop.call_later(fleet.random.random() * fleet.config.period, self._tick)

    def _tick(self) -> None:
        fleet = self.fleet
        if fleet.stopping or self.ended:
            return
        if self.pending is None:
            self._send_light()
        else:
            fleet.error("light call skipped (previous one unanswered)")
        self.timer = fleet.loop.call_later(fleet.config.period, self._tick)

    # -- the central system's calls ---------------------------------------------------

    def _answer(self, unique: str, action: str, payload: dict[str, Any]) -> None:
        fleet, record = self.fleet, self.record
        fleet.cs_received.append(time.perf_counter())
        fleet.cs_actions.append(CALL_CODES.get(action, OTHER_CALL))
        answer: dict[str, Any] | None
        if action == "GetConfiguration":
            record.get_configuration += 1
            answer = get_configuration_answer(record.configuration, payload.get("key"))
        elif action == "ChangeConfiguration":
            key, value = str(payload.get("key")), str(payload.get("value"))
            record.changes.append((key, value))
            current = record.configuration.get(key)
            if current is None:
                answer = {"status": "NotSupported"}
            elif current[1]:
                answer = {"status": "Rejected"}
            else:
                record.configuration[key] = (value, False)
                answer = {"status": "Accepted"}
        else:
            record.other.append(action)
            answer = ANSWERS.get(action)
        if answer is None:
            frame = [4, unique, "NotImplemented", f"{action} is not implemented by this charge point", {}]
        else:
            frame = [3, unique, answer]
        self._write(client_frame(json.dumps(frame, separators=(",", ":")).encode()))


async def run(pipe: Connection, config: StormConfig) -> None:
    fleet = Fleet(config)
    loop = asyncio.get_running_loop()
    pipe.send(("ready",))
    order = await loop.run_in_executor(None, pipe.recv)
    if isinstance(order, tuple) and order[0] == "go":
        fleet.start(order[1])
        order = await loop.run_in_executor(None, pipe.recv)
    if order == "stop":
        unanswered = fleet.stop()
        pipe.send(("results", fleet.results(unanswered)))
        order = await loop.run_in_executor(None, pipe.recv)  # "close"
    fleet.stop()
    closed = fleet.close()
    if closed is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closed, 5)  # the close frames leave before the loop ends


def worker(pipe: Connection, config: StormConfig) -> None:
    """Entry point of a load generator process."""
    raise_fd_limit()
    # Its garbage collector would show up as answer latency of the system under test; the
    # charge points make no reference cycles worth collecting over a run.
    gc.disable()
    try:
        import uvloop

        uvloop.run(run(pipe, config))
    except ImportError:
        asyncio.run(run(pipe, config))
