"""The local authorization list of a simulated OCPP 1.6 charge point (OCPP 1.6 sections 3.5.2,
5.10, 5.15, 7.1): what SendLocalList sends is kept, GetLocalListVersion reports its version, and
while the charge point is offline its id tags are authorized from it.

Pure (no sockets, no clock: ``now`` is passed in), so tests drive it directly::

    local = LocalAuthorizationList()
    local.update({"listVersion": 3, "updateType": "Full",
                  "localAuthorizationList": [{"idTag": "CARD1", "idTagInfo": {"status": "Accepted"}}]})   # "Accepted"
    local.update({"listVersion": 3, "updateType": "Differential", "localAuthorizationList": []})  # "VersionMismatch"
    local.authorize("card1", now)    # {"status": "Accepted"}: id tags are case-insensitive
    local.authorize("OTHER", now)    # None: not on the list

A Differential update needs a version above the current one (else ``VersionMismatch``); an update
with more entries than ``send_max_length`` (``SendLocalListMaxLength``), a list that would grow
beyond ``max_length`` (``LocalAuthListMaxLength``), an id tag listed twice, or a Full entry without
``idTagInfo`` is ``Failed`` and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from tools.ocppj import JSONDict

__all__ = ["LocalAuthorizationList", "parse_time"]

FULL: Final = "Full"
DIFFERENTIAL: Final = "Differential"


def parse_time(text: object) -> dt.datetime | None:
    """An OCPP dateTime (``2027-06-30T00:00:00Z``) as an aware datetime; None if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


class LocalAuthorizationList:
    """A charge point's local authorization list: ``version`` and ``entries`` (AuthorizationData
    by case-folded id tag), and every update answered (``updates``: type, version, entries, status)."""

    def __init__(self) -> None:
        self.version = 0
        self.entries: dict[str, JSONDict] = {}
        self.updates: list[tuple[str, int, int, str]] = []

    def update(
        self, payload: Mapping[str, Any], *, max_length: int | None = None, send_max_length: int | None = None
    ) -> str:
        """Apply a SendLocalList.req payload; its UpdateStatus."""
        kind, version = payload.get("updateType"), payload.get("listVersion")
        items = payload.get("localAuthorizationList") or []
        status = self._apply(kind, version, items, max_length, send_max_length)
        self.updates.append((str(kind), version if isinstance(version, int) else -1, len(items), status))
        return status

    def _apply(
        self, kind: object, version: object, items: Any, max_length: int | None, send_max_length: int | None
    ) -> str:
        if kind not in (FULL, DIFFERENTIAL) or not isinstance(version, int) or not isinstance(items, list):
            return "Failed"
        if send_max_length is not None and len(items) > send_max_length:
            return "Failed"
        if kind == DIFFERENTIAL and version <= self.version:
            return "VersionMismatch"
        entries = {} if kind == FULL else dict(self.entries)
        seen: set[str] = set()
        for item in items:
            id_tag = item.get("idTag") if isinstance(item, dict) else None
            if not isinstance(id_tag, str) or id_tag.casefold() in seen:
                return "Failed"
            seen.add(id_tag.casefold())
            info = item.get("idTagInfo")
            if info is None:
                if kind == FULL:
                    return "Failed"  # idTagInfo is required in a Full update (section 7.1)
                entries.pop(id_tag.casefold(), None)
            elif isinstance(info, dict) and isinstance(info.get("status"), str):
                entries[id_tag.casefold()] = {"idTag": id_tag, "idTagInfo": dict(info)}
            else:
                return "Failed"
        if max_length is not None and len(entries) > max_length:
            return "Failed"
        self.entries, self.version = entries, version
        return "Accepted"

    def authorize(self, id_tag: str, now: dt.datetime) -> JSONDict | None:
        """The IdTagInfo the list holds for ``id_tag`` (case-insensitive), ``Expired`` once its
        ``expiryDate`` has passed (section 3.5.4); None when the list does not hold it."""
        entry = self.entries.get(id_tag.casefold())
        if entry is None:
            return None
        info = dict(entry["idTagInfo"])
        expiry = parse_time(info.get("expiryDate"))
        if info.get("status") in ("Accepted", "ConcurrentTx") and expiry is not None and expiry <= now:
            info["status"] = "Expired"
        return info
