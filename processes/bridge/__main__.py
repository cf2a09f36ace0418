"""``python -m processes.bridge``: settings -> logging -> sockets -> run loop -> exit code."""

from __future__ import annotations

from common.process import load_settings, run_program
from common.settings import load_bridge
from processes.bridge.bridge import Bridge

PROCESS = "bridge"


def main() -> int:
    settings = load_settings(PROCESS, load_bridge)
    return run_program(PROCESS, settings, settings.debug, Bridge, fast_loop=True, background=True)


if __name__ == "__main__":
    raise SystemExit(main())
