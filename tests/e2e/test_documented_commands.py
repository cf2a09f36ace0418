"""Every shell command of README.md and docs/*.md works as written, against a running connector.

The commands come from the fenced ``sh`` blocks (tests/support/doc_commands.py, which also says
for each command whether it is run, run until interrupted, or not run and why). The only changes
are those a reader makes: the host and ports of this connector and broker, its name as the topic
root, charge point ids (``CP_1`` is a simulated charge point ``BG_1`` that runs throughout), and
``python`` is this project's Python. The commands run in document order, from the
project directory (those that write files in a scratch directory), with the connector's settings
in their environment (as a reader's ``.env``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import ROOT, Broker, Connector, wait_until
from tests.support.doc_commands import Command, Kind, documented_commands, rule_for

pytestmark = pytest.mark.e2e

COMMANDS = documented_commands()
#: How long a command that runs until Ctrl-C must keep running before it is interrupted.
KEEPS_RUNNING_FOR = 3.0
TIMEOUT = 60.0


class Site:
    """A broker, the connector, and simulated charge points BG_1..BG_3 running throughout."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.workdir = directory / "reader"
        self.workdir.mkdir()
        self.broker = Broker(directory)
        self.connector = Connector(directory, self.broker.port, OCPP_MAX_CALLS_PER_SECOND="1000")
        self.simulator: subprocess.Popen[bytes] | None = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        self.broker.start()
        self.connector.start()
        simulator = [sys.executable, "-m", "tools.simulate", self.connector.url + "/ocpp", "--id-prefix", "BG_"]
        simulator += ["--charge-points", "3", "--connectors", "2", "--interval", "1", "--report", "1"]
        with (self.directory / "simulator.log").open("ab") as log:
            self.simulator = subprocess.Popen(simulator, cwd=ROOT, env=self.connector.env, stdout=log, stderr=log)
        wait_until(lambda: "BG_1" in self.shell("python -m tools.busctl status").stdout, 30, "BG_1 to connect", 0.3)

    def substitute(self, text: str) -> str:
        port = self.connector.url.rsplit(":", 1)[1]
        text = text.replace("ws://localhost:9000", f"ws://127.0.0.1:{port}")
        text = text.replace("-h localhost", f"-h 127.0.0.1 -p {self.broker.port}")
        text = text.replace("ocpp-connector/", f"{self.connector.name}/").replace("CP_1", "BG_1")
        python = sys.executable
        if text.startswith(".venv/bin/python "):
            return python + text.removeprefix(".venv/bin/python")
        return python + text.removeprefix("python") if text.startswith("python ") else text

    def start(self, text: str, scratch: bool = False) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["bash", "-c", self.substitute(text)],
            cwd=self.workdir if scratch else ROOT,
            env=self.connector.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def shell(self, text: str, scratch: bool = False) -> subprocess.CompletedProcess[str]:
        process = self.start(text, scratch)
        try:
            out, err = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            raise AssertionError(f"{text!r} did not end within {TIMEOUT} s: {err[-2000:]}") from None
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def close(self) -> None:
        if self.simulator is not None:
            self.simulator.send_signal(signal.SIGINT)
            try:
                self.simulator.wait(15)
            except subprocess.TimeoutExpired:
                self.simulator.kill()
                self.simulator.wait()
        self.connector.stop()
        self.broker.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    site = Site(tmp_path_factory.mktemp("documented"))
    yield site
    site.close()


def tools_missing(command: Command) -> list[str]:
    words = command.words.replace("|", " ").split()
    wanted = {"jq", "mosquitto_pub", "mosquitto_sub", "openssl"} & set(words)
    return sorted(tool for tool in wanted if shutil.which(tool) is None)


def _runnable(command: Command) -> bool:
    rule = rule_for(command)
    return rule is None or rule.kind is not Kind.NOT_RUN


#: The commands excluded with their reason are not test cases here (tests/unit/test_documented_commands.py
#: checks that every command has a rule and every exclusion a reason).
RUNNABLE = [command for command in COMMANDS if _runnable(command)]


@pytest.mark.parametrize("command", RUNNABLE, ids=[command.id for command in RUNNABLE])
def test_documented_command_works_as_written(site: Site, command: Command) -> None:
    rule = rule_for(command)
    assert rule is not None, f"{command.id}: no rule for {command.words!r} (tests/support/doc_commands.py)"
    missing = tools_missing(command)
    if missing:
        pytest.skip(f"not installed here: {', '.join(missing)}")
    if rule.kind is Kind.RUN:
        done = site.shell(command.text, rule.scratch)
        assert done.returncode == 0, f"{command.id} exit code {done.returncode}: {done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr, done.stderr
        return
    process = site.start(command.text, rule.scratch)
    deadline = time.monotonic() + KEEPS_RUNNING_FOR
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    ended_by_itself = process.poll() is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the whole foreground pipeline
    try:
        _, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError(f"{command.id} did not stop on Ctrl-C within 20 s") from None
    assert not ended_by_itself, f"{command.id} ended by itself (exit code {process.returncode}): {err[-2000:]}"
    assert "Traceback" not in err, err[-3000:]
