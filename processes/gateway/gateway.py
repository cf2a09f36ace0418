"""The gateway, wired: the store and journal (SQLite), the bus publisher, the connection
registry, the command handlers on the command socket, and the OCPP websocket server with one
session class per OCPP version.

Where things are (docs/architecture.md has the whole map):
- ``websocket_server.py`` + ``admission.py``: the OCPP port, who may connect, which version;
- ``registry.py``: which charge point is on which connection;
- ``session.py``: what every OCPP session does (frames checked, journaled before answered,
  calls to the charge point); ``v16/``: the OCPP 1.6 handlers and calls;
- ``publisher.py`` + ``journal.py``: the bus, behind the commit barrier;
- ``command_server.py`` + ``commands.py``: requests from the bridge and the tools.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import zmq.asyncio
from websockets.asyncio.server import Server, ServerConnection

from common.addresses import connect_line, connect_urls
from common.binding import refuse_live_owner
from common.logs import now_ms
from common.process import run_until_stopped
from common.settings import GatewaySettings
from common.watched_file import WatchedFile
from processes.gateway import v16, v201
from processes.gateway.access import Access
from processes.gateway.admission import Admission
from processes.gateway.charger_profiles import ChargerProfiles, load_profiles, parse_charge_points_file
from processes.gateway.command_server import CommandServer
from processes.gateway.commands import GatewayCommands
from processes.gateway.failsafe import Failsafe
from processes.gateway.journal import Journal
from processes.gateway.onboarding import Onboarding, ProfileBook
from processes.gateway.publisher import BusPublisher
from processes.gateway.registry import ConnectionRegistry
from processes.gateway.session import OcppSession
from processes.gateway.store import Store
from processes.gateway.websocket_server import SessionFactory, WebsocketServer

log = logging.getLogger(__name__)

#: Seconds the gateway waits for charge points to answer its close frames when it stops (within
#: its stop deadline, common/process.py).
CLOSE_CONNECTIONS_WITHIN = 1.0
#: Seconds between looks at the charge points file (OCPP_CHARGE_POINTS_FILE) for changes.
FILE_CHECK_INTERVAL = 2.0


class Gateway:
    def __init__(self, settings: GatewaySettings, context: zmq.asyncio.Context) -> None:
        self.settings = settings
        self.run = uuid.uuid4().hex[:12]
        # Another gateway on the same ipc:// paths shares this directory, and its journal: stop
        # before opening it.
        refuse_live_owner(settings.bus.events_endpoint, "BUS_EVENTS_ENDPOINT")
        refuse_live_owner(settings.bus.commands_endpoint, "BUS_COMMANDS_ENDPOINT")
        self.store = Store(settings.journal_path)
        self.journal = Journal(self.store.db, self.run, settings.journal_max_events)
        self.publisher = BusPublisher(
            context,
            settings.bus.events_endpoint,
            self.journal,
            journal_raw_frames=settings.journal_raw_frames,
            session_count=lambda: len(self.registry.sessions),
        )
        self.registry = ConnectionRegistry(self.publisher, self.store)
        onboarding = settings.onboarding
        path = Path(onboarding.charge_points_file) if onboarding.charge_points_file else None
        self.charge_points_file = (
            WatchedFile(path, lambda data: parse_charge_points_file(data, path), "OCPP_CHARGE_POINTS_FILE")
            if path is not None
            else None
        )
        self.profiles = ProfileBook(
            onboarding, self.charge_points_file.current if self.charge_points_file else load_profiles(None)
        )
        self.onboarding = Onboarding(
            onboarding,
            settings.call_timeout,
            self.profiles,
            self.store,
            {v16.SUBPROTOCOL: v16.onboard, v201.SUBPROTOCOL: v201.onboard},
        )
        # Who may connect and who may charge (their files re-read when they change).
        self.access = Access(settings, self.registry, self.onboarding, self.store)
        # What every charge point may draw while BEMCom is out of reach (OCPP_FAILSAFE_POWER).
        self.failsafe = Failsafe(settings.failsafe, self.registry, self.store, self.onboarding)
        self.onboarding.follow_ups.append(self.failsafe.after_onboarding)
        try:
            self.commands = CommandServer(
                context,
                settings.bus.commands_endpoint,
                GatewayCommands(
                    self.registry, self.journal, self.store, now_ms(), bemcom_alive=self.failsafe.alive
                ).handlers(),
            )
        except BaseException:  # e.g. a BindError: the XPUB socket would keep the context open
            self.publisher.socket.close(linger=0)
            self.store.close()
            raise

    def session_factories(self) -> Mapping[str, SessionFactory]:
        """The OCPP versions served (OCPP_PROTOCOLS), by subprotocol, in order of preference."""
        settings, publisher, store = self.settings, self.publisher, self.store
        classes: dict[str, type[v16.ChargePointSession] | type[v201.ChargingStationSession]] = {
            v16.SUBPROTOCOL: v16.ChargePointSession,
            v201.SUBPROTOCOL: v201.ChargingStationSession,
        }

        def factory(session_class: type[v16.ChargePointSession] | type[v201.ChargingStationSession]) -> SessionFactory:
            def session(cp_id: str, websocket: ServerConnection) -> OcppSession:
                return session_class(
                    cp_id,
                    websocket,
                    bus=publisher,
                    store=store,
                    heartbeat_interval=settings.heartbeat_interval,
                    response_timeout=settings.call_timeout,
                    max_calls_per_second=settings.max_calls_per_second,
                    lifecycle=onboarding,
                    authorizer=authorizer,
                )

            return session

        onboarding, authorizer = self.onboarding, self.access.authorizer
        return {protocol: factory(classes[protocol]) for protocol in settings.protocols}

    def admission(self, subprotocols: Sequence[str]) -> Admission:
        admission = self.access.admission = Admission(
            allowed=self.access.allowed,
            credentials=self.access.credentials,
            max_connections=self.settings.max_connections,
            open_connections=lambda: self.registry.open_connections,
            is_connected=self.registry.is_connected,
            subprotocols=subprotocols,
            client_certificates=self.settings.security_profile == 3,
        )
        return admission

    def publish_log(self, ts: int, level: int, msg: str, emitter: str) -> None:
        self.publisher.publish_log(ts, level, msg, emitter)

    async def serve(self, stop: asyncio.Event) -> None:
        settings = self.settings
        sessions = self.session_factories()
        server = WebsocketServer(settings, self.registry, self.admission(list(sessions)), sessions, self.onboarding)
        # Listen first (a taken port stops the process before it touches anything), then
        # report the charge points of the last run disconnected, before any handshake runs.
        serving = await server.start()
        self.registry.disconnected_by_last_run()
        try:
            urls = connect_urls(settings.ocpp_host, settings.ocpp_port, settings.tls is not None)
            log.info(
                "%s; gateway run %s (security profile %d), events on %s, commands on %s, store %s",
                connect_line(urls),
                self.run,
                settings.security_profile,
                settings.bus.events_endpoint,
                settings.bus.commands_endpoint,
                settings.journal_path,
            )
            warn_about_security(settings)
            tasks = [
                asyncio.create_task(self.commands.serve(), name="commands"),
                asyncio.create_task(self.publisher.heartbeat(settings.bus.heartbeat_interval), name="alive"),
            ]
            if self.charge_points_file is not None:
                watching = self.charge_points_file.watch(FILE_CHECK_INTERVAL, self._profiles_changed)
                tasks.append(asyncio.create_task(watching, name="charge-points-file"))
            tasks += [asyncio.create_task(watch) for watch in self.access.watches(FILE_CHECK_INTERVAL)]
            tasks.append(asyncio.create_task(self.failsafe.watch(), name="failsafe"))
            await run_until_stopped(stop, tasks)
        finally:
            await self.onboarding.close()
            await self.failsafe.close()
            await self.access.close()
            await close_connections(serving, len(self.registry.sessions))

    def _profiles_changed(self, profiles: ChargerProfiles) -> None:
        log.info("OCPP_CHARGE_POINTS_FILE changed: the new charger profiles are in force")
        self.profiles.profiles = profiles
        self.onboarding.profiles_changed()

    def close(self) -> None:
        self.registry.closed = True
        self.commands.close()
        self.publisher.close()
        self.store.close()


async def close_connections(serving: Server, count: int) -> None:
    """Stop listening and close every connection (1001, going away), waiting a bounded time:
    a charge point that does not answer the close frame must not hold up the stop."""
    log.info("Stopping: closing %d charge point connections", count)
    serving.close()
    try:
        await asyncio.wait_for(serving.wait_closed(), CLOSE_CONNECTIONS_WITHIN)
    except TimeoutError:
        log.warning("Stopping: connections still closing after %g s", CLOSE_CONNECTIONS_WITHIN)


def warn_about_security(settings: GatewaySettings) -> None:
    """OCPP-J 6: a central system SHOULD NOT accept unencrypted connections from the internet."""
    if settings.tls is None and settings.credentials is None:
        log.warning(
            "Any charge point may connect over plain ws:// without authentication:"
            " use this only on a closed site network (see docs/security.md)"
        )
    elif settings.tls is None:
        log.warning("Charge point passwords travel in clear text over ws:// (profile 1): use a closed network only")
    elif settings.credentials is None and settings.tls.client_ca_file is None:
        log.warning("TLS without charge point authentication: set OCPP_AUTH_FILE for security profile 2")
