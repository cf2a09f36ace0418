"""The OCPP 1.6 local authorization list made equal to the id tags file (``local_list.py`` says
when; OCPP 1.6 sections 3.5.2, 5.10 and 5.15).

1. GetLocalListVersion; -1: the charge point keeps no list, nothing more is done.
2. If its version is the one it last accepted from us (``ListMemory``, in the gateway's database,
   so across restarts), it holds what we sent then: nothing is sent when that equals the file, and
   the difference (additions, updates, deletions) as one Differential update, version + 1, when it
   fits one SendLocalList (``SendLocalListMaxLength``).
3. Else (a version we did not give, a difference too long for one message, or a Differential
   answered ``VersionMismatch`` or ``Failed``, which is logged): a Full update, in chunks of at
   most ``SendLocalListMaxLength`` entries: the first chunk as Full, the others as Differential
   additions, each with the next version, each remembered once accepted.

A list longer than the charge point's ``LocalAuthListMaxLength`` is cut to it (the ``Accepted``
tags first, ``authorization.local_list``), with a warning.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from common.bus import ErrorCode
from processes.gateway.command_server import CommandError
from processes.gateway.local_list import Entries, ListMemory
from processes.gateway.onboarding import Caller

log = logging.getLogger(__name__)

FULL: Final = "Full"
DIFFERENTIAL: Final = "Differential"
ACCEPTED: Final = "Accepted"
#: SendLocalList answers after which a Differential update is replaced by a Full one (section 5.15).
RETRY_FULL: Final = ("VersionMismatch", "Failed")


@dataclass(frozen=True, slots=True)
class Dialect:
    """How a version says it: the list version's field, and an entry (and a deletion) of the
    list as it goes on the wire, from the entries of ``authorization.local_list`` (1.6's form,
    which is also what ``ListMemory`` holds)."""

    version_field: str
    entry: Callable[[dict[str, Any]], dict[str, Any]]
    deletion: Callable[[dict[str, Any]], dict[str, Any]]


V16_DIALECT = Dialect("listVersion", lambda data: data, lambda data: {"idTag": data["idTag"]})


async def keep_local_list(caller: Caller, wanted: Entries, capabilities: Mapping[str, Any], memory: ListMemory) -> str:
    """Make the charge point's list ``wanted``; what was done, for the log line. Raises
    CommandError only for NotConnected and Expired (the caller's to report)."""
    return await keep_list(caller, wanted, capabilities, memory, V16_DIALECT)


async def keep_list(
    caller: Caller, wanted: Entries, capabilities: Mapping[str, Any], memory: ListMemory, dialect: Dialect
) -> str:
    """:func:`keep_local_list` in the words of any version (``dialect``)."""
    cp = caller.cp
    wanted = _fitted(cp, wanted, capabilities.get("local_list_max_length"))
    chunk = capabilities.get("send_local_list_max_length")
    size = chunk if isinstance(chunk, int) and not isinstance(chunk, bool) and chunk > 0 else None
    try:
        reply = await caller.call("GetLocalListVersion", {})
    except CommandError as error:
        if error.code in (ErrorCode.NOT_CONNECTED, ErrorCode.EXPIRED):
            raise
        return f"not updated: GetLocalListVersion {_code(error)}"
    version = reply.get(dialect.version_field)
    if not isinstance(version, int) or version < 0:
        return "none: the charge point keeps no local list (GetLocalListVersion -1)"
    known = _known(memory.local_list(cp))
    base = max(version, known[0] if known is not None else 0)  # the Full update's is the next one
    if version == 0 and not wanted:
        memory.remember_local_list(cp, 0, _text({}))
        return "up to date (empty, as the file)"
    if known is not None and known[0] == version:
        held = known[1]
        if held == dict(wanted):
            return f"up to date (version {version})"
        changes = _changes(held, wanted, dialect)
        if size is None or len(changes) <= size:
            status = await _send(caller, version + 1, DIFFERENTIAL, changes, dialect)
            if status == ACCEPTED:
                memory.remember_local_list(cp, version + 1, _text(wanted))
                return f"version {version + 1}: Differential update of {_count(len(changes), 'entry', 'entries')}"
            if status not in RETRY_FULL:
                return f"not updated: SendLocalList (Differential, version {version + 1}) {status}"
            log.warning(
                "%s answered SendLocalList (Differential, version %d) with %s; sending the full list",
                cp,
                version + 1,
                status,
            )
            base = version + 1  # never the same version twice with different entries
    return await _full(caller, wanted, base, size, memory, dialect)


async def _full(
    caller: Caller, wanted: Entries, base: int, size: int | None, memory: ListMemory, dialect: Dialect
) -> str:
    cp = caller.cp
    items = list(wanted.items())
    parts = [items[start : start + size] for start in range(0, len(items), size)] if size else [items]
    held: dict[str, dict[str, Any]] = {}
    version = base
    for index, part in enumerate(parts or [[]]):
        version += 1
        kind = FULL if index == 0 else DIFFERENTIAL
        status = await _send(caller, version, kind, [dialect.entry(data) for _, data in part], dialect)
        if status != ACCEPTED:
            if index == 0:
                memory.forget_local_list(cp)  # what it holds is not known: the next update is Full
            return f"not updated: SendLocalList ({kind}, version {version}) {status}"
        held.update(part)
        memory.remember_local_list(cp, version, _text(held))
    sent = f" in {len(parts)} SendLocalList" if len(parts) > 1 else ""
    return f"version {version}: Full update of {_count(len(items), 'id tag', 'id tags')}{sent}"


async def _send(caller: Caller, version: int, kind: str, entries: list[dict[str, Any]], dialect: Dialect) -> str:
    """SendLocalList's status, or the error code when it was not answered."""
    payload = {dialect.version_field: version, "updateType": kind, "localAuthorizationList": entries}
    try:
        reply = await caller.call("SendLocalList", payload)
    except CommandError as error:
        if error.code in (ErrorCode.NOT_CONNECTED, ErrorCode.EXPIRED):
            raise
        return _code(error)
    return str(reply.get("status"))


def _code(error: CommandError) -> str:
    return error.code.value if error.code != ErrorCode.CALL_ERROR else error.reason.split(":", 1)[0]


def _changes(held: Entries, wanted: Entries, dialect: Dialect) -> list[dict[str, Any]]:
    """A Differential update: added or changed entries in full, deleted ones by their id tag only."""
    changes = [dialect.entry(data) for key, data in wanted.items() if held.get(key) != data]
    changes += [dialect.deletion(data) for key, data in held.items() if key not in wanted]
    return changes


def _fitted(cp: str, wanted: Entries, most: object) -> Entries:
    if not isinstance(most, int) or isinstance(most, bool) or most <= 0 or len(wanted) <= most:
        return wanted
    log.warning(
        "%s holds at most %d id tags in its local list (LocalAuthListMaxLength); %d of the file's are left out",
        cp,
        most,
        len(wanted) - most,
    )
    return dict(list(wanted.items())[:most])


def _known(row: tuple[int, str] | None) -> tuple[int, dict[str, dict[str, Any]]] | None:
    if row is None:
        return None
    try:
        entries = json.loads(row[1])
    except ValueError:
        return None
    return (row[0], entries) if isinstance(entries, dict) else None


def _text(entries: Entries) -> str:
    return json.dumps(dict(entries), separators=(",", ":"), ensure_ascii=False)


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"
