"""``python -m processes.bridge``: settings -> logging -> sockets -> run loop -> exit code."""

from __future__ import annotations

from common.process import load_settings, run_program
from processes.bridge.bridge import Bridge
from processes.bridge.settings import load_bridge_settings

PROCESS = "bridge"


def main() -> int:
    settings = load_settings(PROCESS, load_bridge_settings)
    return run_program(PROCESS, settings, settings.debug, Bridge, fast_loop=True, background=True)


if __name__ == "__main__":
    raise SystemExit(main())
