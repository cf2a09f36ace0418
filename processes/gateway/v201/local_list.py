"""The OCPP 2.0.1 local authorization list made equal to the id tags file: the 1.6 procedure
(``v16/local_list.py``: GetLocalListVersion, Differential where it fits, else Full in chunks of
``LocalAuthListCtrlr.ItemsPerMessage``) in 2.0.1's words (part 2, D01 and D02): ``versionNumber``,
entries as ``idToken`` + ``idTokenInfo``.

The id tags file names tokens without their type; they are sent as ``ISO14443`` (the RFID cards
of nearly every site), so a station matches them against cards of that type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processes.gateway.local_list import Entries, ListMemory
from processes.gateway.onboarding import Caller
from processes.gateway.v16.local_list import Dialect, keep_list

TOKEN_TYPE = "ISO14443"  # noqa: S105 - an IdTokenEnumType, no secret


def _token(id_tag: str) -> dict[str, Any]:
    return {"idToken": id_tag, "type": TOKEN_TYPE}


def entry(data: dict[str, Any]) -> dict[str, Any]:
    """A 1.6 AuthorizationData (``authorization.local_list``) as 2.0.1's."""
    tag_info = data.get("idTagInfo") or {}
    info: dict[str, Any] = {"status": tag_info.get("status", "Accepted")}
    if "expiryDate" in tag_info:
        info["cacheExpiryDateTime"] = tag_info["expiryDate"]
    if "parentIdTag" in tag_info:
        info["groupIdToken"] = {"idToken": tag_info["parentIdTag"], "type": "Central"}
    return {"idToken": _token(data["idTag"]), "idTokenInfo": info}


V201_DIALECT = Dialect("versionNumber", entry, lambda data: {"idToken": _token(data["idTag"])})


async def keep_local_list(caller: Caller, wanted: Entries, capabilities: Mapping[str, Any], memory: ListMemory) -> str:
    return await keep_list(caller, wanted, capabilities, memory, V201_DIALECT)
