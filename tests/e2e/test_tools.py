"""End to end, operator tools: busctl, the simulator and the health check against the real
connector under supervisord, run as an operator runs them (subprocesses)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.harness import ROOT, Broker, Connector, Observer, running, wait_until
from common.health import clear_problem
from tests.support.chargepoint import SimulatedChargePoint

pytestmark = pytest.mark.e2e


async def run_tool(connector: Connector, *args: str, timeout: float = 30) -> tuple[int, str, str]:  # noqa: ASYNC109
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        cwd=ROOT,
        env=connector.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def test_busctl_status_lists_connected_charge_points(connector: Connector) -> None:
    async def scenario() -> None:
        async with SimulatedChargePoint(connector.url, "site.CP 1") as cp:
            await cp.boot(chargePointModel="Wallbox")
            await cp.status(1, "Charging")
            await cp.status(2, "Available")
            code, out, err = await run_tool(connector, "tools.busctl", "status")
            assert code == 0, err
            status = json.loads(out)  # not a terminal: JSON
            [point] = status["charge_points"]
            assert point["id"] == "site.CP 1"
            assert point["connectors"] == {"1": "Charging", "2": "Available"}
            assert point["last_message"] >= point["connected_since"] > 0
            assert point["boot"]["charge_point_model"] == "Wallbox"

    asyncio.run(scenario())


def test_busctl_call_reaches_the_charge_point(connector: Connector) -> None:
    async def scenario() -> None:
        async with SimulatedChargePoint(connector.url, "CP_call") as cp:
            await cp.boot()
            code, out, err = await run_tool(connector, "tools.busctl", "call", "CP_call", "Reset", '{"type": "Soft"}')
            assert code == 0, err
            assert json.loads(out)["status"] == "Accepted"
            [reset] = await cp.wait_for_call("Reset")
            assert reset == {"type": "Soft"}

            code, out, err = await run_tool(connector, "tools.busctl", "call", "CP_none", "Reset", '{"type": "Hard"}')
            assert code == 1 and out == ""
            assert "NotConnected" in err and "CP_none" in err

            code, out, err = await run_tool(connector, "tools.busctl", "call", "CP_call", "Reset", "{not json")
            assert code == 2 and "PAYLOAD_JSON" in err

    asyncio.run(scenario())


async def read_json_line(stream: asyncio.StreamReader, wait: float) -> dict[str, Any] | None:
    try:
        line = await asyncio.wait_for(stream.readline(), wait)
    except TimeoutError:
        return None
    assert line, "busctl tail ended"
    body: dict[str, Any] = json.loads(line)
    return body


def test_busctl_tail_filters_by_charge_point_id(connector: Connector) -> None:
    """Ids with dots: "site.A" must not match "site.A.2" (a topic prefix would)."""

    async def scenario() -> None:
        tail = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "tools.busctl", "tail", "--cp", "site.A", "--json"],
            cwd=ROOT,
            env=connector.env,
            stdout=asyncio.subprocess.PIPE,
        )
        assert tail.stdout is not None
        lines: list[dict[str, Any]] = []
        try:
            async with (
                SimulatedChargePoint(connector.url, "site.A") as mine,
                SimulatedChargePoint(connector.url, "site.A.2") as other,
            ):
                await other.boot()
                await mine.boot()
                # Until the subscription has reached the gateway, messages are not seen (slow joiner).
                async with asyncio.timeout(30):
                    while not lines:
                        await other.status(1, "Available")
                        await mine.status(1, "Preparing")
                        line = await read_json_line(tail.stdout, 0.5)
                        lines += [line] if line else []
                await other.heartbeat()
                await mine.meter_values(1, [{"value": "12", "measurand": "Energy.Active.Import.Register"}])
                async with asyncio.timeout(30):
                    while not any(line.get("kind") == "MeterValues" for line in lines):
                        line = await read_json_line(tail.stdout, 1)
                        lines += [line] if line else []
        finally:
            tail.terminate()
            assert await asyncio.wait_for(tail.wait(), 10) == 0
        assert {line["cp"] for line in lines} == {"site.A"}
        kinds = {(line["t"], line.get("kind")) for line in lines}
        assert ("event", "MeterValues") in kinds and ("event", "Heartbeat") not in kinds
        assert all(line["topic"].startswith(("event.", "raw.")) for line in lines)

    asyncio.run(scenario())


def test_simulator_session_reaches_bemcom(connector: Connector, observer: Observer) -> None:
    energy = "SIM_1__1__Energy.Active.Import.Register__Wh"
    status = "SIM_1__1__StatusNotification__status"
    stopped = "SIM_1__1__transaction__reason"
    topics = {key: f"{connector.name}/messages/{number}/value" for number, key in enumerate((energy, status, stopped))}
    observer.publish("datapoint_map", {"sensor": topics, "actuator": {}}, qos=2, retain=True)
    wait_until(lambda: "Datapoint map: 3 sensors" in connector.output(), 20, "the bridge to take the map")

    code, out, err = asyncio.run(
        run_tool(
            connector,
            *["tools.simulate", connector.url + "/ocpp", "--id-prefix", "SIM_", "--sessions", "1"],
            *["--interval", "0.1", "--samples", "4", "--pause", "0", "--report", "0.2"],
            timeout=60,
        )
    )
    assert code == 0, err
    assert "1 charge points x 1 connectors" in err
    last = out.splitlines()[-1]  # not a terminal: summary lines
    assert " 1 sessions done" in last and " 0 errors" in last

    def suffix(key: str) -> str:
        return topics[key].removeprefix(connector.name + "/")

    observer.wait_for(suffix(stopped), lambda p: p["value"] == "Local", timeout=20)
    observer.wait_for(suffix(status), lambda p: p["value"] == "Available", timeout=20)
    # meterStart, 4 samples and the transaction data, each with the meter's time: rising in time.
    readings = [(m.payload["timestamp"], m.payload["value"]) for m in observer.on(suffix(energy))]
    assert len(readings) >= 5
    in_time = [value for _, value in sorted(readings)]
    assert in_time == sorted(in_time) and in_time[-1] > in_time[0]
    statuses = [message.payload["value"] for message in observer.on(suffix(status))]
    for expected in ("Preparing", "Charging", "Finishing", "Available"):
        assert expected in statuses


def healthcheck(connector: Connector) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.healthcheck"],
        cwd=ROOT,
        env=connector.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_healthcheck_sees_processes_and_broker(connector: Connector, broker: Broker) -> None:
    healthy = wait_until(lambda: (r := healthcheck(connector)).returncode == 0 and r, 30, "a healthy connector", 0.2)
    assert healthy.stdout.startswith("healthy: gateway, bridge, rawlogger RUNNING; MQTT broker")
    assert len(healthy.stdout.splitlines()) == 1

    broker.stop()  # BEMCOM_HEARTBEAT_INTERVAL=1: unhealthy after 3 s without a connected heartbeat
    sick = wait_until(lambda: (r := healthcheck(connector)).returncode == 1 and r, 30, "an unhealthy connector", 0.2)
    assert sick.stderr.startswith("unhealthy: the bridge has not been connected to the MQTT broker for")
    assert len(sick.stderr.splitlines()) == 1

    broker.start()  # the bridge reconnects by itself (MQTT_RECONNECT_MAX_DELAY=1)
    wait_until(lambda: healthcheck(connector).returncode == 0, 30, "healthy again", 0.2)


def test_healthcheck_reports_processes_that_do_not_run(tmp_path: Path, broker: Broker) -> None:
    # A bad setting stops bridge and raw logger at start: BACKOFF, then FATAL; the gateway runs.
    connector = Connector(tmp_path, broker.port, MQTT_KEEPALIVE="1")
    with running(connector):
        sick = wait_until(
            lambda: "rawlogger FATAL" in (r := healthcheck(connector)).stderr and "bridge FATAL" in r.stderr and r,
            60,
            "bridge and rawlogger FATAL (each after its start retries)",
            0.2,
        )
        assert sick.returncode == 1
        # Each with the reason it noted when it stopped (var/<program>.problem), said once.
        reason = "bad settings: MQTT_KEEPALIVE='1' is invalid: expected an integer from 5 to 3600"
        assert sick.stderr.strip() == f"unhealthy: bridge FATAL ({reason}); rawlogger FATAL ({reason})"
    for program in ("bridge", "rawlogger"):
        clear_problem(program)


def test_demo_runs_and_cleans_up() -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, "-m", "tools.demo", "--duration", "8", "--charge-points", "1", "--interval", "0.5"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any("CP_1__1__Power.Active.Import__W" in line for line in lines), result.stdout
    assert any("CP_1__1__StatusNotification__status" in line for line in lines)
    assert lines[-1] == "demo: done"
    workdir = next(line.split("logs in ")[1] for line in lines if "logs in " in line)
    assert not Path(workdir).exists()
    assert not list((ROOT / "var").glob("mosquitto-*.pid")) and not (ROOT / "var" / "supervisord.pid").exists()


def test_demo_refuses_to_run_beside_a_running_connector() -> None:
    pidfile = ROOT / "var" / "supervisord.pid"
    assert not pidfile.exists(), "a connector runs from this checkout"
    pidfile.write_text(f"{os.getpid()}\n")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tools.demo"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        pidfile.unlink()
    assert result.returncode == 1 and result.stdout == ""
    assert f"a connector already runs from this checkout (supervisord pid {os.getpid()}" in result.stderr
