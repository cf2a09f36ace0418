"""The container's health check and stop behaviour are wired as documented (docs/operating.md)."""

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
