"""What the gateway does on request over the bus (``command_server.py`` carries the requests):
report its state, replay and acknowledge journaled messages, make an OCPP call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from common.bus import STREAMS, ErrorCode, Request
from processes.gateway.command_server import CommandError, CommandHandler
from processes.gateway.journal import Journal
from processes.gateway.registry import ConnectionRegistry
from processes.gateway.session import OcppSession
from processes.gateway.store import Store
from processes.gateway.v201.session import SUBPROTOCOL as V201_SUBPROTOCOL


class GatewayCommands:
    def __init__(
        self,
        registry: ConnectionRegistry,
        journal: Journal,
        store: Store,
        started: int,
        bemcom_alive: Callable[[], None] | None = None,
    ) -> None:
        self._registry = registry
        self._journal = journal
        self._store = store
        self._started = started
        self._bemcom_alive = bemcom_alive

    def handlers(self) -> Mapping[str, CommandHandler]:
        return {
            "status": self.status,
            "replay": self.replay,
            "ack": self.ack,
            "call": self.call,
            "active_transaction": self.active_transaction,
            "charge_point": self.charge_point,
            "bemcom_alive": self.bemcom_alive,
        }

    async def status(self, request: Request) -> dict[str, Any]:
        journal = self._journal
        return {
            "run": journal.run,
            "started": self._started,
            "heads": journal.heads(),
            "dropped": dict(journal.dropped),
            "cursors": journal.cursors(),
            "charge_points": [
                {
                    "id": cp_id,
                    "connected_since": session.connected_since,
                    "last_message": session.last_message,
                    "connectors": {str(c): status for c, status in sorted(session.connectors.items())},
                    "boot": session.boot,
                    "capabilities": session.capabilities,
                }
                for cp_id, session in sorted(self._registry.sessions.items())
            ],
        }

    async def replay(self, request: Request) -> dict[str, Any]:
        """Args ``stream``, ``consumer``, ``run``, ``after``, ``limit``: what follows that position."""
        args = request.args
        stream, consumer, run, after = args.get("stream"), args.get("consumer"), args.get("run"), args.get("after", 0)
        if stream not in STREAMS or not isinstance(consumer, str):
            raise CommandError(ErrorCode.INVALID_VALUE, "replay needs a stream (event or raw) and a consumer name")
        if not (run is None or isinstance(run, str)) or not isinstance(after, int) or after < 0:
            raise CommandError(ErrorCode.INVALID_VALUE, "run must be a string or null, after a non-negative integer")
        limit = args.get("limit", 500)
        limit = limit if isinstance(limit, int) and 0 < limit <= 100_000 else 500
        replay = self._journal.read(stream, consumer, run, after, limit)
        # "packed": the journaled bodies as they are (msgpack bin), decoded by the consumer;
        # unpacking and repacking them here cost more than reading them.
        return {
            "run": self._journal.run,
            "head": self._journal.heads()[stream],
            "packed": replay.bodies,
            "lost": replay.lost,
        }

    async def ack(self, request: Request) -> dict[str, Any]:
        args = request.args
        stream, consumer, run, seq = args.get("stream"), args.get("consumer"), args.get("run"), args.get("seq")
        if (
            stream not in STREAMS
            or not isinstance(consumer, str)
            or not isinstance(run, str)
            or not isinstance(seq, int)
        ):
            raise CommandError(ErrorCode.INVALID_VALUE, "ack needs stream, consumer, run and seq")
        self._journal.ack(consumer, stream, run, seq)
        return {}

    def _session(self, request: Request) -> OcppSession:
        cp = request.args.get("cp")
        if not isinstance(cp, str):
            raise CommandError(ErrorCode.INVALID_VALUE, "the command needs a charge point id 'cp'")
        session = self._registry.get(cp)
        if session is None:
            raise CommandError(ErrorCode.NOT_CONNECTED, f"charge point {cp} is not connected")
        return session

    async def call(self, request: Request) -> dict[str, Any]:
        """Args ``cp``, ``action``, ``payload`` (OCPP-J camelCase) and ``queue_timeout`` (seconds the
        call may wait behind earlier calls to that charge point, default the request's timeout):
        the charge point's answer within the request's timeout from the moment the call is sent."""
        args = request.args
        action, payload, queue_timeout = args.get("action"), args.get("payload", {}), args.get("queue_timeout")
        if not isinstance(action, str) or not isinstance(payload, dict):
            raise CommandError(ErrorCode.INVALID_VALUE, "call needs an action (string) and a payload (object)")
        if queue_timeout is not None and (
            isinstance(queue_timeout, bool) or not isinstance(queue_timeout, int | float) or queue_timeout < 0
        ):
            raise CommandError(ErrorCode.INVALID_VALUE, "queue_timeout must be a non-negative number of seconds")
        session = self._session(request)
        result = await session.send_call(action, payload, request.timeout, queue_timeout)
        return {"status": result.get("status"), "payload": result}

    async def active_transaction(self, request: Request) -> int | str | None:
        """Args ``cp``, ``connector`` and optionally ``transaction``: that transaction when it is
        an active one of the charge point (on any connector), else the connector's active one
        (connector 0: the charge point's only one); None when there is none."""
        cp, connector, named = request.args.get("cp"), request.args.get("connector"), request.args.get("transaction")
        if not isinstance(cp, str) or not isinstance(connector, int):
            raise CommandError(ErrorCode.INVALID_VALUE, "active_transaction needs cp and connector")
        # A unit test may give no registry: 1.6, as before.
        session = self._registry.get(cp) if self._registry is not None else None
        if session is not None and session.subprotocol == V201_SUBPROTOCOL:
            return self._active_transaction_201(cp, connector, named)
        if named is not None and (not isinstance(named, int) or isinstance(named, bool)):
            raise CommandError(ErrorCode.INVALID_VALUE, "active_transaction's transaction must be an integer")
        if named is not None and self._store.is_active(cp, named):
            return int(named)
        transactions = self._store.active_transactions(cp, connector)
        if len(transactions) > 1:  # connector 0 of a charge point charging on several connectors
            ids = ", ".join(f"{t.id} on connector {t.connector}" for t in transactions)
            raise CommandError(
                ErrorCode.INVALID_VALUE, f"several active transactions ({ids}): use a connector's actuator"
            )
        return transactions[0].id if transactions else None

    def _active_transaction_201(self, cp: str, evse: int, named: Any) -> str | None:
        """``active_transaction`` for an OCPP 2.0.1 charging station: transaction ids are strings."""
        if named is not None and (not isinstance(named, int | str) or isinstance(named, bool)):
            raise CommandError(ErrorCode.INVALID_VALUE, "active_transaction's transaction must be a string")
        open_ones = self._store.open_transactions201(cp, 0)
        if named is not None and any(transaction.id == str(named) for transaction in open_ones):
            return str(named)
        newest: dict[int | None, Any] = {}
        for transaction in open_ones:  # newest first: the newest of each EVSE
            newest.setdefault(transaction.evse, transaction)
        transactions = [t for t in newest.values() if evse == 0 or t.evse == evse]
        if len(transactions) > 1:
            ids = ", ".join(f"{t.id} on EVSE {t.evse}" for t in transactions)
            raise CommandError(ErrorCode.INVALID_VALUE, f"several active transactions ({ids}): use an EVSE's actuator")
        return transactions[0].id if transactions else None

    async def charge_point(self, request: Request) -> dict[str, Any]:
        """Args ``cp``: what a power limit is fitted to (docs/datapoints.md): the capabilities
        onboarding learnt, the charger profile in force, and the active transactions (the newest
        per connector) as ``[connector, transaction id]`` pairs."""
        session = self._session(request)
        newest = self._store.running(session.id, v201=session.subprotocol == V201_SUBPROTOCOL)
        return {
            "protocol": session.subprotocol,
            "capabilities": session.capabilities,
            "profile": session.charger_profile,
            "transactions": [[connector, newest[connector]] for connector in sorted(newest)],
        }

    async def bemcom_alive(self, request: Request) -> dict[str, Any]:
        """From the bridge, every second while it is connected to the broker: BEMCom is in reach
        (the failsafe, ``failsafe.py``, goes in force when this stops)."""
        if self._bemcom_alive is not None:
            self._bemcom_alive()
        return {}
