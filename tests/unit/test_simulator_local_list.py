"""The simulated charge point's local authorization list (tools/local_list.py, tools/chargepoint.py),
without sockets: SendLocalList and GetLocalListVersion answered as OCPP 1.6 says, and offline the
charge point authorizes from its list (LocalAuthorizeOffline, AllowOfflineTxForUnknownId)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from tools.chargepoint import SimulatedChargePoint
from tools.configuration import factory_configuration
from tools.local_list import LocalAuthorizationList

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def entry(tag: str, status: str | None = "Accepted", **info: Any) -> dict[str, Any]:
    return {"idTag": tag} if status is None else {"idTag": tag, "idTagInfo": {"status": status, **info}}


def send(version: int, kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"listVersion": version, "updateType": kind, "localAuthorizationList": list(entries)}


def test_updates_full_differential_and_their_refusals() -> None:
    local = LocalAuthorizationList()
    assert local.update(send(5, "Full", entry("A"), entry("B", "Blocked"))) == "Accepted"
    assert (local.version, sorted(local.entries)) == (5, ["a", "b"])
    assert local.update(send(5, "Differential", entry("C"))) == "VersionMismatch"
    assert local.update(send(6, "Differential", entry("c"), entry("A", None))) == "Accepted"
    assert (local.version, sorted(local.entries)) == (6, ["b", "c"])
    assert local.update(send(7, "Full", entry("A", None))) == "Failed"  # Full needs idTagInfo
    assert local.update(send(7, "Full", entry("A"), entry("a"))) == "Failed"  # twice
    assert local.update(send(7, "Full", entry("A"), entry("B")), send_max_length=1) == "Failed"
    assert local.update(send(7, "Full", entry("A"), entry("B")), max_length=1) == "Failed"
    assert local.update(send(7, "Differential")) == "Accepted"  # empty: no change but the version
    assert (local.version, sorted(local.entries)) == (7, ["b", "c"])
    assert local.update(send(1, "Full")) == "Accepted"  # empty Full: the list is emptied
    assert (local.version, local.entries) == (1, {})
    assert [status for *_, status in local.updates].count("Failed") == 4


def test_offline_authorization_from_the_list() -> None:
    local = LocalAuthorizationList()
    local.update(
        send(1, "Full", entry("OK", expiryDate="2027-01-01T00:00:00Z"), entry("OLD", expiryDate="2026-01-01T00:00:00Z"))
    )
    assert local.authorize("ok", NOW) == {"status": "Accepted", "expiryDate": "2027-01-01T00:00:00Z"}
    assert local.authorize("OLD", NOW) == {"status": "Expired", "expiryDate": "2026-01-01T00:00:00Z"}
    assert local.authorize("NONE", NOW) is None


def charge_point(**configuration: Any) -> SimulatedChargePoint:
    store = factory_configuration(1)
    for key, value in configuration.items():
        store.set(key, value)
    return SimulatedChargePoint("ws://127.0.0.1:1/ocpp", "CP_1", configuration=store)


def test_the_charge_point_answers_local_list_calls_within_its_limits() -> None:
    cp = charge_point(SendLocalListMaxLength="2", LocalAuthListMaxLength="3")
    assert cp.answer_call("GetLocalListVersion", {}) == {"listVersion": 0}
    assert cp.answer_call("SendLocalList", send(3, "Full", entry("A"), entry("B"))) == {"status": "Accepted"}
    assert cp.answer_call("SendLocalList", send(4, "Full", entry("A"), entry("B"), entry("C"))) == {"status": "Failed"}
    assert cp.answer_call("SendLocalList", send(4, "Differential", entry("C"), entry("D"))) == {"status": "Failed"}
    assert cp.answer_call("GetLocalListVersion", {}) == {"listVersion": 3}
    none = charge_point(SupportedFeatureProfiles="Core,SmartCharging")
    assert none.answer_call("GetLocalListVersion", {}) == {"listVersion": -1}
    assert none.answer_call("SendLocalList", send(1, "Full")) == {"status": "NotSupported"}


@pytest.mark.parametrize(
    ("configuration", "expected"),
    [
        ({}, {"CARD": "Accepted", "LOST": "Blocked", "STRANGER": "Invalid"}),
        ({"AllowOfflineTxForUnknownId": "true"}, {"CARD": "Accepted", "LOST": "Blocked", "STRANGER": "Accepted"}),
        ({"LocalAuthorizeOffline": "false"}, {"CARD": "Invalid", "LOST": "Invalid", "STRANGER": "Invalid"}),
        ({"LocalAuthListEnabled": "FALSE"}, {"CARD": "Invalid", "LOST": "Invalid", "STRANGER": "Invalid"}),
    ],
)
def test_offline_the_charge_point_authorizes_from_its_list(
    configuration: dict[str, str], expected: dict[str, str]
) -> None:
    cp = charge_point(**configuration)
    cp.answer_call("SendLocalList", send(1, "Full", entry("CARD"), entry("LOST", "Blocked")))
    assert not cp.connected

    async def offline() -> dict[str, str]:
        return {tag: (await cp.authorize(tag))["idTagInfo"]["status"] for tag in expected}

    assert asyncio.run(offline()) == expected  # nothing sent: it is not connected
