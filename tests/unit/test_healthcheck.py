"""The container health check's pieces, without supervisord or a broker."""

from __future__ import annotations

from pathlib import Path

from common.health import clear_problem, last_mqtt_alive, read_problem, record_mqtt_alive, record_problem
from tools import healthcheck

ROOT = Path(__file__).resolve().parents[2]


def test_health_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "bridge.health"
    assert last_mqtt_alive(path) is None
    record_mqtt_alive(1_700_000_000_000, path)
    record_mqtt_alive(1_700_000_001_000, path)
    assert last_mqtt_alive(path) == 1_700_000_001_000
    assert [p.name for p in tmp_path.iterdir()] == ["bridge.health"]  # no temporary files left
    path.write_text("garbage")
    assert last_mqtt_alive(path) is None


def test_broker_counts_as_connected_for_three_heartbeats() -> None:
    now = 1_700_000_100_000
    assert healthcheck.broker_problem(now - 89_000, now, 30) is None
    problem = healthcheck.broker_problem(now - 91_000, now, 30)
    assert problem is not None and "for 91 s" in problem
    assert "not been connected to the MQTT broker yet" in str(healthcheck.broker_problem(None, now, 30))


def test_every_program_must_be_running(tmp_path: Path) -> None:
    running = {"gateway": "RUNNING", "bridge": "RUNNING", "rawlogger": "RUNNING"}
    assert healthcheck.process_problems(running, tmp_path) == []
    assert healthcheck.process_problems({**running, "bridge": "BACKOFF"}, tmp_path) == ["bridge BACKOFF"]
    assert healthcheck.process_problems({"gateway": "RUNNING"}, tmp_path) == ["bridge missing", "rawlogger missing"]


def test_a_program_that_could_not_start_is_reported_with_its_reason(tmp_path: Path) -> None:
    line = "OCPP_PORT: cannot listen on 0.0.0.0:9000: address already in use (another program, or ...?)"
    record_problem("gateway", line, tmp_path)
    states = {"gateway": "FATAL", "bridge": "RUNNING", "rawlogger": "RUNNING"}
    assert healthcheck.process_problems(states, tmp_path) == [f"gateway FATAL ({line})"]
    # Once it runs, the old reason is not shown; and a start with good settings removes it.
    assert healthcheck.process_problems({**states, "gateway": "RUNNING"}, tmp_path) == []
    clear_problem("gateway", tmp_path)
    assert read_problem("gateway", tmp_path) is None


def test_server_url_comes_from_supervisord_conf() -> None:
    assert healthcheck.server_url(ROOT / "supervisord.conf") == f"unix://{ROOT}/var/supervisor.sock"
