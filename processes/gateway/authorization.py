"""Who may charge: the answer (IdTagInfo) to an id tag, from the id tags file (``id_tags.py``).

``OCPP_AUTHORIZE=all`` never comes here: the handlers answer ``Accepted`` as they always did.
With ``listed``, :func:`decide` answers Authorize, StartTransaction and StopTransaction:

1. a tag the file does not list: ``Invalid``;
2. a listed tag: its ``status``; a tag whose ``parent`` is listed as a tag itself shares the
   parent's refusal (a whole fleet is blocked by blocking its parent's entry) and its expiry (the
   earlier of the two applies);
3. an ``Accepted`` tag past that expiry: ``Expired``;
4. an ``Accepted`` tag already charging on another connector, here or on another charge point of
   the site (StartTransaction only, as OCPP 1.6 section 7.2 says): ``ConcurrentTx``.

The answer carries the tag's ``parentIdTag`` and ``expiryDate`` where the file has them.
:func:`local_list` is what the charge points' local authorization lists hold: the same statuses
without the time (each charge point checks the expiry itself, OCPP 1.6 section 3.5.4).

Pure: no I/O, no clock (``now`` is passed in).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from processes.gateway.id_tags import IdTag, IdTags, tag_key

ACCEPTED: Final = "Accepted"
BLOCKED: Final = "Blocked"
EXPIRED: Final = "Expired"
INVALID: Final = "Invalid"
CONCURRENT_TX: Final = "ConcurrentTx"


@dataclass(frozen=True, slots=True)
class IdTagInfo:
    """OCPP 1.6 IdTagInfo (section 7.27)."""

    status: str
    expiry_date: dt.datetime | None = None
    parent_id_tag: str | None = None

    def payload(self) -> dict[str, Any]:
        """As the ``ocpp`` library's result classes take it (snake_case, absent fields left out)."""
        info: dict[str, Any] = {"status": self.status}
        if self.expiry_date is not None:
            info["expiry_date"] = ocpp_time(self.expiry_date)
        if self.parent_id_tag is not None:
            info["parent_id_tag"] = self.parent_id_tag
        return info

    def wire(self) -> dict[str, Any]:
        """As it goes on the wire (camelCase), e.g. in a SendLocalList."""
        info: dict[str, Any] = {"status": self.status}
        if self.expiry_date is not None:
            info["expiryDate"] = ocpp_time(self.expiry_date)
        if self.parent_id_tag is not None:
            info["parentIdTag"] = self.parent_id_tag
        return info


def ocpp_time(moment: dt.datetime) -> str:
    """``2027-06-30T00:00:00Z`` (milliseconds only where the file gives a fraction)."""
    utc = moment.astimezone(dt.UTC)
    text = utc.isoformat(timespec="milliseconds" if utc.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def standing(tags: IdTags, tag: IdTag) -> IdTagInfo:
    """What the file says of a listed tag, whatever the time: its status (or its listed parent's
    refusal) and the earlier expiry of the two."""
    status, expiry = tag.status, tag.expiry
    parent = tags.get(tag.parent) if tag.parent is not None else None
    if parent is not None and tag_key(parent.id_tag) != tag_key(tag.id_tag):
        if status == ACCEPTED and parent.status != ACCEPTED:
            status = parent.status
        if parent.expiry is not None and (expiry is None or parent.expiry < expiry):
            expiry = parent.expiry
    return IdTagInfo(status, expiry, tag.parent)


def decide(tags: IdTags, id_tag: str, now: dt.datetime, *, charging_elsewhere: bool = False) -> IdTagInfo:
    """The IdTagInfo for ``id_tag`` at ``now`` (aware). ``charging_elsewhere``: the tag has a
    transaction running on another connector (StartTransaction only)."""
    tag = tags.get(id_tag)
    if tag is None:
        return IdTagInfo(INVALID)
    info = standing(tags, tag)
    if info.status != ACCEPTED:
        return info
    if info.expiry_date is not None and info.expiry_date <= now:
        return IdTagInfo(EXPIRED, info.expiry_date, info.parent_id_tag)
    if charging_elsewhere:
        return IdTagInfo(CONCURRENT_TX, info.expiry_date, info.parent_id_tag)
    return info


def local_list(tags: IdTags) -> dict[str, dict[str, Any]]:
    """The local authorization list the file makes: AuthorizationData (camelCase) by tag key,
    the ``Accepted`` tags first (a charge point that holds fewer keeps those that let the fleet
    charge offline), then the others, each group by tag."""
    entries = [(standing(tags, tag), key, tag) for key, tag in tags.tags.items()]
    entries.sort(key=lambda entry: (entry[0].status != ACCEPTED, entry[1]))
    return {key: {"idTag": tag.id_tag, "idTagInfo": info.wire()} for info, key, tag in entries}


class Authorizer:
    """``OCPP_AUTHORIZE=listed``: :func:`decide` on the id tags in force (``tags`` is replaced
    when the file changes) at the time of the ``clock``."""

    def __init__(self, tags: IdTags, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.tags = tags
        self._clock = clock

    def authorize(self, id_tag: str) -> IdTagInfo:
        return decide(self.tags, id_tag, self._clock())

    def start(self, id_tag: str, charging_elsewhere: Callable[[], bool]) -> IdTagInfo:
        """For a StartTransaction: ``charging_elsewhere`` is asked only of a tag that would be accepted."""
        now = self._clock()
        info = decide(self.tags, id_tag, now)
        if info.status == ACCEPTED and charging_elsewhere():
            return decide(self.tags, id_tag, now, charging_elsewhere=True)
        return info
