"""``python -m processes.rawlogger``: settings -> logging -> sockets -> run loop -> exit code."""

from __future__ import annotations

from common.process import load_settings, run_program
from common.settings import load_rawlogger
from processes.rawlogger.rawlogger import RawLogger

PROCESS = "rawlogger"


def main() -> int:
    settings = load_settings(PROCESS, load_rawlogger)
    return run_program(PROCESS, settings, settings.debug, RawLogger, fast_loop=True, background=True)


if __name__ == "__main__":
    raise SystemExit(main())
