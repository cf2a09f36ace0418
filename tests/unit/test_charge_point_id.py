"""The charge point id the gateway takes from the websocket URL's path: the last segment,
percent-decoded; none when it is missing or holds control characters."""

from __future__ import annotations

import pytest

from processes.gateway.admission import charge_point_id


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/CP_1", "CP_1"),
        ("/ocpp/CP_1", "CP_1"),
        ("/ocpp/v16/site.a/CP.1", "CP.1"),
        ("/CP_1/", "CP_1"),
        ("/ocpp/CP_1//", "CP_1"),
        ("/CP_1?token=abc", "CP_1"),
        ("/ocpp/CP_1/?a=1&b=2", "CP_1"),
        ("/CP%201", "CP 1"),
        ("/Lades%C3%A4ule%2F7", "Ladesäule/7"),
        ("/CP%3F1", "CP?1"),
        ("CP_1", "CP_1"),
    ],
)
def test_charge_point_id(path: str, expected: str) -> None:
    assert charge_point_id(path) == expected


@pytest.mark.parametrize("path", ["", "/", "//", "/?id=CP_1", "/%00", "/CP%0A1", "/CP%091", "/%1F"])
def test_charge_point_id_missing_or_with_control_characters(path: str) -> None:
    assert charge_point_id(path) is None
