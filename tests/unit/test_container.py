"""The container: health check and stop behaviour wired as documented (docs/operating.md); the
runtime image holds the connector and nothing else, and runs as a non-root user."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_image_ships_the_tools_and_checks_its_health_with_them() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY tools/ ./tools/" in dockerfile
    healthcheck = re.search(r"^HEALTHCHECK (.*?)\n(?!\s)", dockerfile, re.M | re.S)
    assert healthcheck is not None
    assert '["python", "-m", "tools.healthcheck"]' in healthcheck.group(1)
    assert re.search(r"^STOPSIGNAL SIGTERM$", dockerfile, re.M)
    assert 'ENTRYPOINT ["supervisord", "-n", "-c", "/app/supervisord.conf"]' in dockerfile


def test_supervisord_stops_within_the_documented_grace_period() -> None:
    conf = (ROOT / "supervisord.conf").read_text(encoding="utf-8")
    waits = [int(value) for value in re.findall(r"^stopwaitsecs=(\d+)$", conf, re.M)]
    assert len(waits) == 3 and all(wait <= 15 for wait in waits)
    assert conf.count("stopsignal=TERM") == 3
    # bridge and rawlogger stop together, then the gateway: at most 2 x 15 s < 35 s.
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "stop_grace_period: 35s" in compose
    assert "- connector-var:/app/var" in compose and "image: eclipse-mosquitto:2" in compose
    assert '"9000:9000"' in compose
    mosquitto = (ROOT / "docker" / "mosquitto.conf").read_text(encoding="utf-8")
    assert "allow_anonymous true" in mosquitto and "listener 1883" in mosquitto


def runtime_stage() -> list[str]:
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    starts = [index for index, line in enumerate(lines) if line.upper().startswith("FROM ")]
    return [line.strip() for line in lines[starts[-1] :] if line.strip() and not line.startswith("#")]


def test_the_runtime_stage_copies_only_the_connector() -> None:
    copies = [line for line in runtime_stage() if line.upper().startswith("COPY ")]
    sources = [word for line in copies for word in line.split()[1:-1] if not word.startswith("--")]
    assert not any(source in {".", "./"} or source.startswith(("tests", "bench", "docs")) for source in sources), copies
    assert {"common/", "processes/", "supervisord.conf", ".env"} <= set(sources)
    assert "pyproject.toml" not in sources  # tool configuration, not needed at run time


def test_the_runtime_stage_runs_as_a_numeric_non_root_user() -> None:
    users = [line.split()[1] for line in runtime_stage() if line.upper().startswith("USER ")]
    assert users, "no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    assert re.fullmatch(r"[0-9]+", uid) and int(uid) != 0
