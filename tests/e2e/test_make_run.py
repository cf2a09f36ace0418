"""``make run`` as an operator starts it (scripts/run.sh): its first line says where charge points
connect, it starts a broker when none answers, and Ctrl-C stops the connector and that broker."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from bench.harness import ROOT, free_port, port_open, wait_until


def test_make_run_says_where_to_connect_and_ctrl_c_stops_the_broker_it_started(tmp_path: Path) -> None:
    ocpp_port, broker_port = free_port(), free_port()
    env = {
        **os.environ,
        "OCPP_PORT": str(ocpp_port),
        "MQTT_BROKER_HOST": "127.0.0.1",
        "MQTT_BROKER_PORT": str(broker_port),
        "JOURNAL_PATH": str(tmp_path / "gateway.sqlite3"),
        "BUS_EVENTS_ENDPOINT": f"ipc://{tmp_path}/events.ipc",
        "BUS_COMMANDS_ENDPOINT": f"ipc://{tmp_path}/commands.ipc",
    }
    output = tmp_path / "run.out"
    with output.open("wb") as out:
        run = subprocess.Popen(
            ["bash", "scripts/run.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until(lambda: port_open(ocpp_port), 60, "the gateway to listen")
        assert port_open(broker_port), "run.sh started no broker"
        lines = [line for line in output.read_text().splitlines() if line.strip()]
        where = next(line for line in lines if "connect" in line)
        assert where.startswith("Charge points connect to ws://") and f":{ocpp_port}/<charge point id>" in where
        assert lines.index(where) < 3, lines[:5]  # among the first lines, not the seventeenth
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the whole group
        assert run.wait(30) in (0, 128 + signal.SIGINT)  # ended (supervisord first, or the shell by Ctrl-C)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(10)
    text = output.read_text()
    assert "run: stopped the mosquitto it had started" in text
    assert not port_open(ocpp_port) and not port_open(broker_port)
