"""The container health check against a supervisord control socket that nobody serves."""

from __future__ import annotations

from pathlib import Path

from tools import healthcheck


def test_no_supervisord_is_unhealthy(tmp_path: Path) -> None:
    config = tmp_path / "supervisord.conf"
    config.write_text("[supervisorctl]\nserverurl=unix://%(here)s/nothing.sock\n")
    healthy, reason = healthcheck.check(config, tmp_path / "bridge.health", {})
    assert not healthy
    assert reason.startswith(f"unhealthy: supervisord does not answer on unix://{tmp_path}/nothing.sock")
    assert "not been connected to the MQTT broker yet" in reason and "\n" not in reason
