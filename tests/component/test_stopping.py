"""A process asked to stop ends within its stop deadline even when its main thread is stuck
(common/process.py); supervisord's stopwaitsecs is only the backstop."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from bench.harness import ROOT

STUCK = """
import asyncio, time
from common.process import run_process

async def body(stop):
    print("ready", flush=True)
    await stop.wait()
    time.sleep(60)  # stuck in closing, the event loop blocked

raise SystemExit(run_process("bridge", False, body))
"""


def test_a_stuck_process_ends_at_its_stop_deadline() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", STUCK], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with process:
        try:
            assert process.stdout is not None and process.stdout.readline() == "ready\n"
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(10)
            took = time.monotonic() - started
        finally:
            process.kill()
        _, errors = process.communicate()
    assert code == 1
    assert 0.9 < took < 1.8, took  # the consumers' deadline: 1 s
    assert "bridge: still stopping after 1 s: exiting now" in errors
