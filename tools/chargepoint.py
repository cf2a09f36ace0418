"""A simulated OCPP 1.6J charge point, for tests and for ``python -m tools.simulate``.

It is an independent peer: it speaks OCPP-J over a real websocket and writes the RPC frames
(``[2, id, action, payload]``, ``[3, id, payload]``, ``[4, id, code, description, details]``) itself,
without the ``ocpp`` library, so that a bug shared by the central system and that library cannot hide.

Usage::

    async with SimulatedChargePoint("ws://127.0.0.1:9000/ocpp", "CP 1") as cp:   # connects to .../ocpp/CP%201
        await cp.boot()
        tx = await cp.start_transaction(1, "TAG1", meter_start=0)
        [profile] = await cp.wait_for_call("SetChargingProfile")

CALLs from the central system are recorded in ``received_calls`` and answered automatically
(:meth:`SimulatedChargePoint.answer_call`); per-action answers can be given with ``answers=``;
``NO_ANSWER`` records a CALL without ever answering it.

GetConfiguration and ChangeConfiguration are answered from ``configuration``, a
:class:`~tools.configuration.ConfigurationStore`: by default the two keys of ``DEFAULT_CONFIGURATION``;
``factory_configuration()`` gives a real charger's keys (energy-only meter values), with per-key
refusals and ``RebootRequired`` keys::

    store = factory_configuration(2, refuse={"MeterValueSampleInterval"}, reboot_required={"HeartbeatInterval"})
    async with SimulatedChargePoint(url, "CP_1", configuration=store) as cp:
        await cp.boot()
        ...
        assert store.change_requests["MeterValuesSampledData"] == 1

A Reset answered by default, and every :meth:`~SimulatedChargePoint.boot` (the charge point booting
by itself), brings the values a ``RebootRequired`` change left pending into force; a BootNotification
sent because TriggerMessage asked for it does not. A charge point that never boots is one whose test
never calls ``boot()``; ``boot_trigger`` says what it does when the central system asks for a
BootNotification (:class:`BootTrigger`: send one, the common case; refuse; accept and send none).

SetChargingProfile, ClearChargingProfile and GetCompositeSchedule are answered from ``smart_charging``,
a :class:`~tools.smart_charging.SmartCharging` (OCPP 1.6 smart charging: purposes, stack levels,
validity, TxProfiles only with the running transaction, which ``start_transaction()`` and
``stop_transaction()`` tell it about); by default built from the configuration's keys, so
``factory_configuration(max_stack_level=0, rate_units="Current")`` is a charger with one stack level
that takes amperes only. Quirks come with a model of one's own::

    store = factory_configuration(1, max_stack_level=0, rate_units="Current", phases=1)
    model = SmartCharging.from_configuration(store, max_current=32, tx_default_applies_from_next_session=True)
    async with SimulatedChargePoint(url, "CP_1", configuration=store, smart_charging=model) as cp:
        ...
        assert model.limit_now(1) == 7360
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import contextvars
import enum
import inspect
import json
import logging
import ssl as ssl_module
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.datastructures import HeadersLike
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tools.configuration import ConfigurationStore, factory_configuration
from tools.local_list import LocalAuthorizationList
from tools.messages import ChargePointMessages
from tools.ocppj import (
    CALL,
    CALLERROR,
    CALLRESULT,
    DEFAULT_CONFIGURATION,
    NO_ANSWER,
    AnswerResult,
    AnswerSpec,
    CallErrorReceived,
    JSONDict,
    default_answer,
    utc_now,
)
from tools.smart_charging import SmartCharging, SmartChargingError

__all__ = [
    "DEFAULT_CONFIGURATION",
    "NO_ANSWER",
    "AnswerCallError",
    "AnswerSpec",
    "BootTrigger",
    "CallErrorReceived",
    "ConfigurationStore",
    "JSONDict",
    "SimulatedChargePoint",
    "SmartCharging",
    "default_answer",
    "factory_configuration",
    "utc_now",
]

logger = logging.getLogger(__name__)

#: Keys that, ``false``, stop an offline charge point from using its local list.
_OFFLINE_KEYS: Final = ("LocalAuthListEnabled", "LocalAuthorizeOffline")


class _Closed(enum.Enum):
    CLOSED = "CLOSED"


_CLOSED: Final = _Closed.CLOSED
_MISSING: Final = object()

Frame = list[Any] | str
FollowUp = Callable[[], Awaitable[Any]]

#: What the answer being built wants done once it has been sent (None: not building an answer).
_FOLLOW_UPS: contextvars.ContextVar[list[FollowUp] | None] = contextvars.ContextVar("follow_ups", default=None)


class BootTrigger(enum.StrEnum):
    """How a charge point answers TriggerMessage(BootNotification)."""

    #: ``Accepted``, then a BootNotification; ``Rejected`` once one was accepted on this connection
    #: (the errata sheet's recommendation): the common case.
    BOOT = "boot"
    #: ``Rejected``: it never boots when asked.
    REJECT = "reject"
    #: ``Accepted``, and no BootNotification follows.
    IGNORE = "ignore"
    #: ``NotImplemented`` (a charge point without the RemoteTrigger profile).
    NOT_IMPLEMENTED = "not-implemented"


class AnswerCallError(Exception):
    """Raised by an answer (``answers=`` callables too): the CALL is answered with this CALLERROR."""

    def __init__(self, code: str, description: str = "", details: JSONDict | None = None) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.details = dict(details or {})


class Connecting(abc.ABC):
    """``async with``: :meth:`connect` on entering, :meth:`close` on leaving (the 1.6 charge point and
    the 2.0.1 station alike)."""

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the websocket."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the websocket."""

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class SimulatedChargePoint(ChargePointMessages, Connecting):
    """An OCPP 1.6J charge point speaking raw OCPP-J frames over a real websocket."""

    def __init__(
        self,
        url_base: str,
        cp_id: str,
        *,
        answers: dict[str, AnswerSpec] | None = None,
        subprotocols: Iterable[str] = ("ocpp1.6",),
        extra_headers: HeadersLike | None = None,
        open_timeout: float = 10,
        ssl: ssl_module.SSLContext | None = None,
        configuration: ConfigurationStore | None = None,
        boot_trigger: BootTrigger | str = BootTrigger.BOOT,
        boot_fields: Mapping[str, Any] | None = None,
        smart_charging: SmartCharging | None = None,
    ) -> None:
        self.cp_id = cp_id
        self.url = url_base.rstrip("/") + "/" + urllib.parse.quote(cp_id, safe="")
        self.answers: dict[str, AnswerSpec] = dict(answers or {})
        self.subprotocols = [Subprotocol(p) for p in subprotocols]
        self.extra_headers = extra_headers
        self.open_timeout = open_timeout
        #: TLS context for wss:// URLs (server verification, client certificate); None: the default.
        self.ssl = ssl
        #: The configuration keys GetConfiguration and ChangeConfiguration are answered from.
        self.configuration = configuration if configuration is not None else ConfigurationStore(DEFAULT_CONFIGURATION)
        #: The charging profiles SetChargingProfile, ClearChargingProfile and GetCompositeSchedule are
        #: answered from; by default a model of ``configuration``'s smart-charging keys.
        self.smart_charging = (
            smart_charging if smart_charging is not None else SmartCharging.from_configuration(self.configuration)
        )
        #: What TriggerMessage(BootNotification) does (``answers=`` for TriggerMessage overrides it).
        self.boot_trigger = BootTrigger(boot_trigger)
        if boot_fields is not None:
            #: What every BootNotification sends (``boot()``'s keyword arguments add to it).
            self.boot_fields = dict(boot_fields)
        #: Whether a BootNotification was answered Accepted on this connection.
        self.booted = False
        #: Answer to the last BootNotification, whoever asked for it.
        self.last_boot_result: JSONDict | None = None
        #: (action, payload) of every CALL the central system sent us, in arrival order, across reconnects.
        self.received_calls: list[tuple[str, JSONDict]] = []
        #: Replies to our own CALLs that arrived after call() had given up (timeout or cancellation).
        self.late_replies: list[list[Any]] = []
        #: Full result of the last StartTransaction (idTagInfo etc.); start_transaction() returns only the id.
        self.last_start_transaction_result: JSONDict | None = None
        self.connected = False
        #: Close code / reason of the last connection once it has closed.
        self.close_code: int | None = None
        self.close_reason: str | None = None
        #: The local authorization list (SendLocalList, GetLocalListVersion); what ``authorize()``
        #: answers from while the charge point is offline (:meth:`authorize_offline`).
        self.local_list = LocalAuthorizationList()

        self._ws: ClientConnection | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._answer_tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Future[JSONDict]] = {}
        self._sent_ids: set[str] = set()
        self._frames: asyncio.Queue[Frame | _Closed] = asyncio.Queue()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ connection

    @property
    def subprotocol(self) -> str | None:
        """Subprotocol the central system selected, None if none (or not connected yet)."""
        return self._ws.subprotocol if self._ws is not None else None

    async def connect(self) -> None:
        """Open the websocket and start the reader task. Handshake failures (e.g. HTTP 404) propagate."""
        if self.connected:
            raise RuntimeError(f"{self.cp_id}: already connected")
        await self._finish_reader()
        ws = await connect(
            self.url,
            subprotocols=self.subprotocols or None,
            additional_headers=self.extra_headers,
            open_timeout=self.open_timeout,
            proxy=None,
            ssl=self.ssl,
        )
        self._ws = ws
        self._frames = asyncio.Queue()
        self.close_code = self.close_reason = None
        self.booted = False
        self.connected = True
        self._reader_task = asyncio.create_task(self._reader(ws), name=f"ocpp-sim-reader-{self.cp_id}")

    async def close(self) -> None:
        """Close the websocket (normal closure) and stop the background tasks. Idempotent."""
        ws = self._ws
        if ws is not None:
            await ws.close()
        await self._finish_reader()
        current = asyncio.current_task()
        tasks = [task for task in self._answer_tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _finish_reader(self) -> None:
        task = self._reader_task
        if task is not None and task is not asyncio.current_task():
            await task
            self._reader_task = None

    def _require_ws(self) -> ClientConnection:
        if not self.connected or self._ws is None:
            raise ConnectionError(f"{self.cp_id}: not connected")
        return self._ws

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ sending

    async def call(self, action: str, payload: JSONDict, timeout: float = 10) -> JSONDict:  # noqa: ASYNC109
        """Send a CALL and return the CALLRESULT payload.

        One CALL is outstanding at a time (later calls wait); ``timeout`` covers that wait too.
        Raises CallErrorReceived on CALLERROR, TimeoutError on timeout, ConnectionError when the
        connection is (or gets) closed, ValueError on a malformed reply.
        """
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline, self._lock:
                ws = self._require_ws()
                uid = str(uuid.uuid4())
                future: asyncio.Future[JSONDict] = asyncio.get_running_loop().create_future()
                self._pending[uid] = future
                self._sent_ids.add(uid)
                try:
                    try:
                        await ws.send(json.dumps([CALL, uid, action, payload]))
                    except ConnectionClosed as exc:
                        raise ConnectionError(f"{self.cp_id}: connection closed while sending {action}") from exc
                    return await future
                finally:
                    self._pending.pop(uid, None)
        except TimeoutError:
            if deadline.expired():
                raise TimeoutError(f"{self.cp_id}: no reply to {action} within {timeout} s") from None
            raise

    async def boot(self, **overrides: Any) -> JSONDict:
        """BootNotification of a charge point that (re)booted: pending RebootRequired values come
        into force first. Keyword overrides are merged into ``boot_fields`` (None removes a field)."""
        self.configuration.reboot()
        return await self._boot(**overrides)

    async def _boot(self, **overrides: Any) -> JSONDict:
        result = await super().boot(**overrides)
        self.last_boot_result = result
        if result.get("status") == "Accepted":
            self.booted = True
            self._notify()
        return result

    async def wait_until_booted(self, timeout: float = 5) -> JSONDict:  # noqa: ASYNC109
        """Until a BootNotification was answered Accepted on this connection (one that TriggerMessage
        asked for, too); its answer. Raises TimeoutError, or ConnectionError once disconnected."""
        try:
            async with asyncio.timeout(timeout):
                while not self.booted:
                    if not self.connected:
                        raise ConnectionError(f"{self.cp_id}: connection closed before a BootNotification was accepted")
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"{self.cp_id}: not booted within {timeout} s") from None
        assert self.last_boot_result is not None  # noqa: S101 - set together with booted
        return self.last_boot_result

    async def authorize(self, id_tag: str) -> JSONDict:
        """Authorize: the central system's answer while connected; offline, the charge point's own
        (:meth:`authorize_offline`), as a real one decides when the central system is away."""
        if not self.connected:
            return {"idTagInfo": self.authorize_offline(id_tag)}
        return await super().authorize(id_tag)

    def authorize_offline(self, id_tag: str) -> JSONDict:
        """The IdTagInfo an offline charge point gives itself (OCPP 1.6 section 3.5): from its local
        list when ``LocalAuthListEnabled`` and ``LocalAuthorizeOffline`` are not ``false`` (expired
        entries ``Expired``); an id tag not on it ``Accepted`` only with ``AllowOfflineTxForUnknownId``
        ``true``, else ``Invalid``."""
        enabled = all((self.configuration.effective(key) or "").lower() != "false" for key in _OFFLINE_KEYS)
        info = self.local_list.authorize(id_tag, datetime.now(UTC)) if enabled else None
        if info is not None:
            return info
        unknown_allowed = (self.configuration.effective("AllowOfflineTxForUnknownId") or "").lower() == "true"
        return {"status": "Accepted" if unknown_allowed else "Invalid"}

    def answer_local_list(self, action: str, payload: JSONDict) -> JSONDict:
        """GetLocalListVersion and SendLocalList from ``local_list``, within the configuration's
        ``LocalAuthListMaxLength`` and ``SendLocalListMaxLength``; a charge point whose
        SupportedFeatureProfiles lack LocalAuthListManagement has none (-1, ``NotSupported``)."""
        profiles = self.configuration.effective_list("SupportedFeatureProfiles")
        supported = profiles is None or "LocalAuthListManagement" in profiles
        if action == "GetLocalListVersion":
            return {"listVersion": self.local_list.version if supported else -1}
        if not supported:
            return {"status": "NotSupported"}
        limits = self.configuration.effective_int("LocalAuthListMaxLength")
        chunk = self.configuration.effective_int("SendLocalListMaxLength")
        return {"status": self.local_list.update(payload, max_length=limits, send_max_length=chunk)}

    async def send_raw(self, text: str) -> None:
        """Send any text frame as is (for hostile-input tests)."""
        ws = self._require_ws()
        try:
            await ws.send(text)
        except ConnectionClosed as exc:
            raise ConnectionError(f"{self.cp_id}: connection closed") from exc

    # ------------------------------------------------------------------ receiving

    async def next_frame(self, timeout: float = 5) -> Frame:  # noqa: ASYNC109
        """Next frame that is neither a reply to our own CALL nor a well-formed CALL answered automatically.

        Returns the parsed JSON list, or the raw text if the frame is not JSON or not a JSON array.
        Raises TimeoutError, or ConnectionError once the connection has closed and no frame is left.
        """
        try:
            async with asyncio.timeout(timeout):
                item = await self._frames.get()
        except TimeoutError:
            raise TimeoutError(f"{self.cp_id}: no frame within {timeout} s") from None
        if isinstance(item, _Closed):
            self._frames.put_nowait(item)  # keep reporting the closure to later calls
            raise ConnectionError(f"{self.cp_id}: connection closed (code {self.close_code})")
        return item

    async def wait_for_call(self, action: str, timeout: float = 5, count: int = 1) -> list[JSONDict]:  # noqa: ASYNC109
        """Wait until ``count`` CALLs of ``action`` have arrived in total; return the first ``count`` payloads.

        Raises TimeoutError, or ConnectionError if the connection closes before enough have arrived.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    payloads = [payload for name, payload in self.received_calls if name == action]
                    if len(payloads) >= count:
                        return payloads[:count]
                    if not self.connected:
                        raise ConnectionError(
                            f"{self.cp_id}: connection closed after {len(payloads)}/{count} {action} calls"
                        )
                    await self._changed.wait()
        except TimeoutError:
            got = [name for name, _ in self.received_calls]
            raise TimeoutError(
                f"{self.cp_id}: {count} x {action} not received within {timeout} s (received: {got})"
            ) from None

    async def _reader(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                try:
                    await self._dispatch(message)
                except Exception:  # never let an odd frame kill the reader
                    logger.exception("%s: error handling frame %r", self.cp_id, message)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("%s: reader failed", self.cp_id)
        finally:
            self._on_disconnect(ws)

    def _on_disconnect(self, ws: ClientConnection) -> None:
        self.connected = False
        self.close_code = ws.close_code
        self.close_reason = ws.close_reason
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"{self.cp_id}: connection closed (code {ws.close_code})"))
        self._frames.put_nowait(_CLOSED)
        self._notify()

    async def _dispatch(self, message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode("utf-8", errors="replace")
        try:
            frame = json.loads(text)
        except ValueError:
            self._frames.put_nowait(text)
            return
        if not isinstance(frame, list) or not frame:
            self._frames.put_nowait(text)
            return
        kind = frame[0] if type(frame[0]) is int else None
        uid = frame[1] if len(frame) > 1 and isinstance(frame[1], str) else None

        if kind in (CALLRESULT, CALLERROR) and uid is not None and uid in self._sent_ids:
            future = self._pending.pop(uid, None)
            if future is None or future.done():
                logger.warning("%s: late reply %r", self.cp_id, frame)
                self.late_replies.append(frame)
            else:
                self._resolve(future, frame)
            return

        if (
            kind == CALL
            and uid is not None
            and len(frame) == 4
            and isinstance(frame[2], str)
            and isinstance(frame[3], dict)
        ):
            await self._handle_call(uid, frame[2], frame[3])
            return

        self._frames.put_nowait(frame)

    @staticmethod
    def _resolve(future: asyncio.Future[JSONDict], frame: list[Any]) -> None:
        if frame[0] == CALLRESULT:
            if len(frame) == 3 and isinstance(frame[2], dict):
                future.set_result(frame[2])
            else:
                future.set_exception(ValueError(f"malformed CALLRESULT: {frame!r}"))
            return
        if len(frame) == 5 and isinstance(frame[2], str) and isinstance(frame[3], str) and isinstance(frame[4], dict):
            future.set_exception(CallErrorReceived(frame[2], frame[3], frame[4]))
        else:
            future.set_exception(ValueError(f"malformed CALLERROR: {frame!r}"))

    # ------------------------------------------------------------------ answering CS -> CP calls

    def answer_call(self, action: str, payload: JSONDict) -> JSONDict | None:
        """This charge point's own answer to a CALL (what ``answers=`` overrides), None for an
        action it does not know (answered CALLERROR ``NotImplemented``).

        GetConfiguration and ChangeConfiguration from ``configuration``; Reset ``Accepted``, bringing
        pending RebootRequired values into force; TriggerMessage(BootNotification) as ``boot_trigger``
        says; SetChargingProfile, ClearChargingProfile, GetCompositeSchedule and the ``chargingProfile``
        of RemoteStartTransaction from ``smart_charging``; everything else
        :func:`~tools.ocppj.default_answer`. Raises :class:`AnswerCallError` for a payload it cannot read.
        """
        if action == "GetConfiguration":
            keys = payload.get("key")
            if keys is not None and (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)):
                raise AnswerCallError("TypeConstraintViolation", "key must be a list of strings")
            return self.configuration.get_configuration(keys)
        if action in ("GetLocalListVersion", "SendLocalList"):
            return self.answer_local_list(action, payload)
        if action == "ChangeConfiguration":
            key, value = payload.get("key"), payload.get("value")
            if not isinstance(key, str) or not isinstance(value, str):
                raise AnswerCallError("TypeConstraintViolation", "key and value must be strings")
            return {"status": self.configuration.change_configuration(key, value)}
        if action == "Reset":
            self.configuration.reboot()
            return {"status": "Accepted"}
        if action == "TriggerMessage" and payload.get("requestedMessage") == "BootNotification":
            return self.answer_boot_trigger()
        try:
            if action == "RemoteStartTransaction" and "chargingProfile" in payload:
                status = self.smart_charging.remote_start(payload.get("connectorId"), payload["chargingProfile"])
                return {"status": status}
            answer = self.smart_charging.answer(action, payload)
        except SmartChargingError as error:
            raise AnswerCallError(error.code, error.description) from None
        if answer is not None:
            return answer
        return default_answer(action, payload, self.configuration.entries())

    def transaction_started(self, connector_id: int, transaction_id: int) -> None:
        self.smart_charging.transaction_started(connector_id, transaction_id)

    def transaction_stopped(self, transaction_id: int) -> None:
        self.smart_charging.transaction_stopped(transaction_id)

    def answer_boot_trigger(self) -> JSONDict:
        """The answer to TriggerMessage(BootNotification) by ``boot_trigger``; with ``BOOT`` the
        BootNotification follows once the answer has been sent."""
        if self.boot_trigger is BootTrigger.NOT_IMPLEMENTED:
            return {"status": "NotImplemented"}
        if self.boot_trigger is BootTrigger.REJECT or (self.boot_trigger is BootTrigger.BOOT and self.booted):
            return {"status": "Rejected"}
        if self.boot_trigger is BootTrigger.BOOT:
            self.after_answer(self._boot)
        return {"status": "Accepted"}

    def after_answer(self, follow_up: FollowUp) -> None:
        """Run ``follow_up`` (e.g. the message a TriggerMessage asked for) once the answer being built
        has been sent; at once when called outside an answer. Connection errors end it quietly."""
        follow_ups = _FOLLOW_UPS.get()
        if follow_ups is not None:
            follow_ups.append(follow_up)
        else:
            self._start_follow_ups([follow_up])

    def _start_follow_ups(self, follow_ups: list[FollowUp]) -> None:
        for follow_up in follow_ups:
            task = asyncio.create_task(self._follow_up(follow_up), name=f"ocpp-sim-follow-up-{self.cp_id}")
            self._answer_tasks.add(task)
            task.add_done_callback(self._answer_tasks.discard)

    async def _follow_up(self, follow_up: FollowUp) -> None:
        _FOLLOW_UPS.set(None)  # not part of an answer any more: its own follow-ups start at once
        try:
            await follow_up()
        except (ConnectionError, TimeoutError, CallErrorReceived) as exc:
            logger.info("%s: follow-up %r ended: %r", self.cp_id, follow_up, exc)
        except Exception:
            logger.exception("%s: follow-up %r failed", self.cp_id, follow_up)

    async def _handle_call(self, uid: str, action: str, payload: JSONDict) -> None:
        self.received_calls.append((action, payload))
        self._notify()
        spec = self.answers.get(action, _MISSING)
        if spec is NO_ANSWER:
            return
        if spec is _MISSING:
            follow_ups: list[FollowUp] = []
            token = _FOLLOW_UPS.set(follow_ups)
            try:
                result = self.answer_call(action, payload)
            except AnswerCallError as error:
                await self._send_frame([CALLERROR, uid, error.code, error.description, error.details])
                return
            finally:
                _FOLLOW_UPS.reset(token)
            if result is None:
                await self._send_frame([CALLERROR, uid, "NotImplemented", f"Unknown action {action}", {}])
            else:
                await self._send_frame([CALLRESULT, uid, result])
            self._start_follow_ups(follow_ups)
            return
        if callable(spec):
            task = asyncio.create_task(self._answer_with(uid, action, payload, spec))
            self._answer_tasks.add(task)
            task.add_done_callback(self._answer_tasks.discard)
            return
        await self._send_frame([CALLRESULT, uid, spec])

    async def _answer_with(
        self,
        uid: str,
        action: str,
        payload: JSONDict,
        answer: Callable[[JSONDict], AnswerResult | Awaitable[AnswerResult]],
    ) -> None:
        follow_ups: list[FollowUp] = []
        _FOLLOW_UPS.set(follow_ups)  # this task's own context
        try:
            result = answer(payload)
            if inspect.isawaitable(result):
                result = await result
        except AnswerCallError as error:
            await self._send_frame([CALLERROR, uid, error.code, error.description, error.details])
            return
        except Exception as exc:
            logger.info("%s: answer for %s raised %r", self.cp_id, action, exc)
            await self._send_frame([CALLERROR, uid, "InternalError", str(exc) or type(exc).__name__, {}])
            return
        if result is NO_ANSWER:
            return
        await self._send_frame([CALLRESULT, uid, result])
        self._start_follow_ups(follow_ups)

    async def _send_frame(self, frame: list[Any]) -> None:
        ws = self._ws
        if ws is None or not self.connected:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(frame))
