"""``python -m tools.healthcheck``: is the connector healthy? For Docker's HEALTHCHECK.

Healthy when (a) supervisord reports gateway, bridge and rawlogger RUNNING (asked over its
XML-RPC unix socket, the ``[supervisorctl] serverurl`` of supervisord.conf) and (b) the bridge
was connected to the MQTT broker within the last 3 x BEMCOM_HEARTBEAT_INTERVAL (it notes
that in ``var/bridge.health`` on every heartbeat it publishes while connected). A program that
is not RUNNING is reported with the reason it noted when it stopped at start
(``var/<program>.problem``: a bad setting, a port or bus endpoint it cannot bind).

Prints one line saying why, exits 0 when healthy and 1 when not.
"""

from __future__ import annotations

import argparse
import configparser
import socket
import sys
import xmlrpc.client
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from common.health import HEALTH_FILE, last_mqtt_alive, read_problem
from common.logs import now_ms
from common.settings import PROJECT_ROOT, SettingsError, environment
from processes.bridge.settings import load_bridge_settings

PROGRAMS = ("gateway", "bridge", "rawlogger")
#: The broker counts as connected when the bridge said so within this many heartbeat intervals.
STALE_AFTER_HEARTBEATS = 3
RPC_TIMEOUT = 5.0


def server_url(config: Path) -> str:
    """supervisorctl's ``serverurl`` from supervisord.conf, ``%(here)s`` resolved."""
    parser = configparser.RawConfigParser()
    if not parser.read(config, encoding="utf-8"):
        raise OSError(f"cannot read {config}")
    url = parser.get("supervisorctl", "serverurl", fallback=f"unix://{config.parent}/var/supervisor.sock")
    return url.replace("%(here)s", str(config.resolve().parent))


def program_states(url: str) -> dict[str, str]:
    """Program name -> state name (RUNNING, STARTING, BACKOFF, FATAL, ...) from supervisord."""
    transport = SupervisorTransport(None, None, url)
    proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(RPC_TIMEOUT)
    try:
        infos: list[dict[str, Any]] = proxy.supervisor.getAllProcessInfo()  # type: ignore[assignment]
    finally:
        socket.setdefaulttimeout(previous)
        transport.close()
    return {str(info["name"]): str(info["statename"]) for info in infos}


def process_problems(states: Mapping[str, str], health_dir: Path) -> list[str]:
    """Each program that is not RUNNING, with why it stopped when it noted that at start
    (``var/<program>.problem``: a bad setting, a port it cannot bind)."""
    problems = []
    for name in PROGRAMS:
        if states.get(name) == "RUNNING":
            continue
        why = read_problem(name, health_dir)
        problems.append(f"{name} {states.get(name, 'missing')}" + (f" ({why})" if why else ""))
    return problems


def broker_problem(last_alive: int | None, now: int, heartbeat_interval: float) -> str | None:
    """Why the broker does not count as connected, None when it does."""
    if last_alive is None:
        return "the bridge has not been connected to the MQTT broker yet"
    limit_ms = STALE_AFTER_HEARTBEATS * heartbeat_interval * 1000
    if now - last_alive > limit_ms:
        return f"the bridge has not been connected to the MQTT broker for {(now - last_alive) / 1000:.0f} s"
    return None


def check(config: Path, health_file: Path, env: Mapping[str, str]) -> tuple[bool, str]:
    """(healthy, one line saying why)."""
    try:
        problems = process_problems(program_states(server_url(config)), health_file.parent)
    except (OSError, xmlrpc.client.Error) as error:
        problems = [f"supervisord does not answer on {server_url_or(config)}: {error}"]
    try:
        settings = load_bridge_settings(env)
    except SettingsError as error:
        if not any("bad settings" in problem for problem in problems):  # not said by a program yet
            problems.append("bad settings: " + "; ".join(error.problems))
        return False, "unhealthy: " + "; ".join(problems)
    now = now_ms()
    last_alive = last_mqtt_alive(health_file)
    broker = broker_problem(last_alive, now, settings.bemcom_heartbeat_interval)
    if broker is not None:
        problems.append(broker)
    if problems or last_alive is None:
        return False, "unhealthy: " + "; ".join(problems)
    return True, (
        f"healthy: {', '.join(PROGRAMS)} RUNNING; MQTT broker {settings.mqtt.host}:{settings.mqtt.port} "
        f"connected {(now - last_alive) / 1000:.0f} s ago"
    )


def server_url_or(config: Path) -> str:
    try:
        return server_url(config)
    except (OSError, configparser.Error):
        return str(config)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="healthcheck", description=__doc__)
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "supervisord.conf", help="supervisord.conf")
    parser.add_argument("--health-file", type=Path, default=HEALTH_FILE, help="the bridge's health file")
    args = parser.parse_args(argv)
    healthy, reason = check(args.config, args.health_file, environment())
    print(reason, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
