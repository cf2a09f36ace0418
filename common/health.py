"""The bridge's health file: when it last had a working connection to the MQTT broker.

The bridge writes it on every BEMCom heartbeat it publishes while connected; the container's
health check (``python -m tools.healthcheck``) reads it. Written atomically (``os.replace``).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from common.settings import PROJECT_ROOT

HEALTH_FILE = PROJECT_ROOT / "var" / "bridge.health"


def record_mqtt_alive(ts_ms: int, path: Path = HEALTH_FILE) -> None:
    """Note that the broker was connected at ``ts_ms`` (milliseconds since the epoch)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps({"mqtt_connected_at": ts_ms}), encoding="utf-8")
    os.replace(temporary, path)


def last_mqtt_alive(path: Path = HEALTH_FILE) -> int | None:
    """When the bridge last noted a connected broker, None when it never did (or unreadable)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("mqtt_connected_at")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def problem_file(process: str, directory: Path = HEALTH_FILE.parent) -> Path:
    """Where ``process`` notes why it could not start (read by the health check)."""
    return directory / f"{process}.problem"


def record_problem(process: str, line: str, directory: Path = HEALTH_FILE.parent) -> None:
    """Note why ``process`` stopped at start (a bad setting, a port it cannot bind)."""
    path = problem_file(process, directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(line.strip() + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError:  # a read-only var/: the log line says it all the same
        pass


def clear_problem(process: str, directory: Path = HEALTH_FILE.parent) -> None:
    """``process`` started: what it noted before no longer holds."""
    with contextlib.suppress(OSError):
        problem_file(process, directory).unlink(missing_ok=True)


def read_problem(process: str, directory: Path = HEALTH_FILE.parent) -> str | None:
    try:
        return problem_file(process, directory).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
