"""The first hour: a port or bus endpoint that cannot be bound stops that process at once with one
line naming the setting and the address, supervisord gives up on it (FATAL) and the health check
says why; a second gateway on the same ipc:// paths refuses to start, one on its own paths runs."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import ROOT, Broker, Connector, free_port, port_open, wait_until
from common.health import HEALTH_FILE, clear_problem
from common.settings import EXIT_BAD_SETTINGS
from tools import healthcheck

pytestmark = pytest.mark.e2e

HINT = "(another program, or another installation of the connector?)"


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port some other program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


def gave_up(connector: Connector, program: str) -> bool:
    return f"gave up: {program} entered FATAL state" in connector.output()


@pytest.mark.parametrize("setting", ["OCPP_PORT", "BUS_EVENTS_ENDPOINT", "BUS_COMMANDS_ENDPOINT"])
def test_a_port_that_cannot_be_bound_stops_the_gateway_with_one_line(
    tmp_path: Path, broker: Broker, taken_port: int, setting: str
) -> None:
    connector = Connector(tmp_path, broker.port)
    if setting == "OCPP_PORT":
        connector.env["OCPP_PORT"] = str(taken_port)
        address = f"127.0.0.1:{taken_port}"
    else:
        address = connector.env[setting] = f"tcp://127.0.0.1:{taken_port}"
    line = f"{setting}: cannot listen on {address}: address already in use {HINT}"
    connector.start(wait=False)
    try:
        wait_until(lambda: gave_up(connector, "gateway"), 30, "supervisord to give up on the gateway", 0.1)
        output = connector.output()
        assert output.count(line) == 4  # the start and supervisord's three retries, one line each
        assert "Traceback" not in output
        assert "exited: gateway (exit status 78; not expected)" in output
        healthy, reason = healthcheck.check(ROOT / "supervisord.conf", HEALTH_FILE, connector.env)
        assert not healthy and f"gateway FATAL ({line})" in reason
    finally:
        connector.stop()
        clear_problem("gateway")


def gateway(env: dict[str, str], **settings: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "processes.gateway"],
        cwd=ROOT,
        env={**env, **settings},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_second_gateway_on_the_same_ipc_paths_refuses_one_on_its_own_runs(tmp_path: Path, broker: Broker) -> None:
    first = Connector(tmp_path, broker.port)
    first.start()
    try:
        second_port = str(free_port())
        same = gateway(first.env, OCPP_PORT=second_port, JOURNAL_PATH=str(tmp_path / "second.sqlite3"))
        out, _ = same.communicate(timeout=20)
        assert same.returncode == EXIT_BAD_SETTINGS, out
        assert f"BUS_EVENTS_ENDPOINT: cannot listen on {first.env['BUS_EVENTS_ENDPOINT']}: a running process" in out
        assert "Traceback" not in out

        own = tmp_path / "own"
        own.mkdir()
        other = gateway(
            first.env,
            OCPP_PORT=second_port,
            BUS_EVENTS_ENDPOINT=f"ipc://{own}/events.ipc",
            BUS_COMMANDS_ENDPOINT=f"ipc://{own}/commands.ipc",
            JOURNAL_PATH=str(own / "gateway.sqlite3"),
        )
        try:
            wait_until(lambda: port_open(int(second_port)), 20, "the other installation's gateway to listen")
        finally:
            other.terminate()
            out, _ = other.communicate(timeout=10)
        assert other.returncode == 0 and f"ws://127.0.0.1:{second_port}/<charge point id>" in out
        assert port_open(first.ocpp_port)  # the first installation never noticed
        assert "exited: gateway" not in first.output()
    finally:
        first.stop()
        clear_problem("gateway")
