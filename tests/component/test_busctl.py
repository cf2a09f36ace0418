"""busctl against a bus endpoint nobody serves (a real ZeroMQ socket): an error, not a hang."""

from __future__ import annotations

import io

import pytest

from tools import busctl


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return busctl.main(argv, out), out.getvalue()


def test_unreachable_gateway_is_an_error_not_a_hang(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("BUS_REQUEST_TIMEOUT", "0.3")
    code, out = run(["--commands", f"ipc://{tmp_path}/nobody.ipc", "status"])
    assert (code, out) == (1, "")
