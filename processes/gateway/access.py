"""Who may connect and who may charge, from files that are read again when they change (no restart):

- ``OCPP_ALLOWED_CHARGE_POINTS`` naming a file: the ids that may connect (``admission.py``); a
  charge point removed from it is disconnected;
- ``OCPP_AUTH_FILE``: the charge points' passwords; a charge point removed from it is disconnected
  (a changed password is asked for at its next connection);
- ``OCPP_ID_TAGS_FILE``: the id tags, for ``OCPP_AUTHORIZE=listed`` (``authorization.py``) and the
  charge points' local authorization lists (``local_list.py``, with ``OCPP_LOCAL_LIST``).

Each file is looked at every few seconds (``common/watched_file.py``): a bad version is refused,
logged once with its line, and the last good one stays in force.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from common.security import parse_charge_point_ids, parse_htpasswd
from common.settings import AUTHORIZE_LISTED, GatewaySettings
from common.watched_file import WatchedFile
from processes.gateway import v16, v201
from processes.gateway.admission import Admission, CredentialCheck
from processes.gateway.authorization import Authorizer
from processes.gateway.id_tags import SETTING as ID_TAGS_SETTING
from processes.gateway.id_tags import IdTags, parse_id_tags_file
from processes.gateway.local_list import LocalLists
from processes.gateway.onboarding import Onboarding
from processes.gateway.registry import ConnectionRegistry
from processes.gateway.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")


def _watched(path: str | None, parse: Callable[[bytes, Path], T], name: str) -> WatchedFile[T] | None:
    if path is None:
        return None
    file = Path(path)
    return WatchedFile(file, lambda data: parse(data, file), name)


def _htpasswd(data: bytes, path: Path) -> dict[str, str]:
    return parse_htpasswd(data.decode("utf-8"))


def _allowed(data: bytes, path: Path) -> frozenset[str]:
    return parse_charge_point_ids(data)


class Access:
    """The files in force, and what each change of them does."""

    def __init__(
        self, settings: GatewaySettings, registry: ConnectionRegistry, onboarding: Onboarding, store: Store
    ) -> None:
        self._registry = registry
        authorization = settings.authorization
        self.id_tags_file = _watched(authorization.id_tags_file, parse_id_tags_file, ID_TAGS_SETTING)
        tags = self.id_tags_file.current if self.id_tags_file is not None else None
        #: OCPP_AUTHORIZE=listed: the handlers' answers; None: every id tag accepted.
        self.authorizer = Authorizer(tags) if tags is not None and authorization.mode == AUTHORIZE_LISTED else None
        self.local_lists = None
        if tags is not None and authorization.local_list:
            syncs = {v16.SUBPROTOCOL: v16.keep_local_list, v201.SUBPROTOCOL: v201.keep_local_list}
            self.local_lists = LocalLists(tags, store, onboarding.caller, syncs)
            onboarding.follow_ups.append(self.local_lists.after_onboarding)
        self.allowed_file = _watched(settings.allowed_charge_points_file, _allowed, "OCPP_ALLOWED_CHARGE_POINTS")
        #: The ids that may connect (None: any).
        self.allowed = self.allowed_file.current if self.allowed_file is not None else settings.allowed_charge_points
        self.auth_file = _watched(settings.auth_file, _htpasswd, "OCPP_AUTH_FILE")
        credentials = self.auth_file.current if self.auth_file is not None else settings.credentials
        self.credentials = CredentialCheck(credentials) if credentials is not None else None
        #: The OCPP server's admission, once it is made (``Gateway.admission``).
        self.admission: Admission | None = None
        if tags is not None:
            self._log_authorization(settings, tags)

    def _log_authorization(self, settings: GatewaySettings, tags: IdTags) -> None:
        lists = "kept on the charge points that support them" if self.local_lists else "off (OCPP_LOCAL_LIST=FALSE)"
        if self.authorizer is None:
            log.warning(
                "OCPP_ID_TAGS_FILE holds %d id tags, but OCPP_AUTHORIZE=all accepts every id tag; the file fills only"
                " the charge points' local authorization lists (%s)",
                len(tags),
                lists,
            )
        else:
            log.info(
                "Id tags: %d from %s answer the charge points; local lists %s",
                len(tags),
                settings.authorization.id_tags_file,
                lists,
            )

    def watches(self, interval: float) -> list[Coroutine[Any, Any, None]]:
        """The watch loops of the files set, each to run as a task until cancelled."""
        watches: list[Coroutine[Any, Any, None]] = []
        if self.id_tags_file is not None:
            watches.append(self.id_tags_file.watch(interval, self._id_tags_changed))
        if self.allowed_file is not None:
            watches.append(self.allowed_file.watch(interval, self._allowed_changed))
        if self.auth_file is not None:
            watches.append(self.auth_file.watch(interval, self._credentials_changed))
        return watches

    async def close(self) -> None:
        if self.local_lists is not None:
            await self.local_lists.close()

    def _id_tags_changed(self, tags: IdTags) -> None:
        if self.authorizer is not None:
            self.authorizer.tags = tags
        if self.local_lists is not None:
            self.local_lists.changed(tags, list(self._registry.sessions.values()))
        log.info("OCPP_ID_TAGS_FILE changed: %d id tags in force", len(tags))

    def _allowed_changed(self, ids: frozenset[str]) -> None:
        self.allowed = ids
        if self.admission is not None:
            self.admission.allowed = ids
        log.info("OCPP_ALLOWED_CHARGE_POINTS changed: %d charge points may connect", len(ids))
        self._disconnect(lambda cp_id: cp_id not in ids, "removed from OCPP_ALLOWED_CHARGE_POINTS")

    def _credentials_changed(self, credentials: dict[str, str]) -> None:
        if self.credentials is not None:
            self.credentials.replace(credentials)
        log.info("OCPP_AUTH_FILE changed: %d charge points have a password", len(credentials))
        self._disconnect(lambda cp_id: cp_id not in credentials, "removed from OCPP_AUTH_FILE")

    def _disconnect(self, gone: Callable[[str], bool], why: str) -> None:
        for cp_id in [cp_id for cp_id in self._registry.sessions if gone(cp_id)]:
            log.warning("Disconnecting charge point %r: %s", cp_id, why)
            self._registry.disconnect(cp_id, why)
