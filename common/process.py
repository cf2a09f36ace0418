"""What every process's ``main()`` does the same way: settings, logging, signals, exit code."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import uvloop

from common import __version__
from common.logs import setup
from common.settings import EXIT_BAD_SETTINGS, SettingsError, environment

S = TypeVar("S")


def load_settings(process: str, load: Callable[[Mapping[str, str]], S]) -> S:
    """Settings of this process, or exit with EXIT_BAD_SETTINGS and one line per problem."""
    try:
        return load(environment())
    except SettingsError as error:
        for problem in error.problems:
            print(f"{process}: bad setting: {problem}", file=sys.stderr, flush=True)
        print(
            f"{process}: not started (exit code {EXIT_BAD_SETTINGS}); fix the settings above",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(EXIT_BAD_SETTINGS) from None


def run_process(
    process: str, debug: bool, body: Callable[[asyncio.Event], Awaitable[None]], *, fast_loop: bool = False
) -> int:
    """Run ``body(stop)`` until it returns; SIGTERM and SIGINT only set ``stop``. ``fast_loop``:
    on uvloop (the gateway: its sockets and timers cost a third less CPU there)."""
    setup(process, debug)
    logging.getLogger(__name__).info("%s %s starting", process, __version__)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await body(stop)

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop if fast_loop else None) as runner:
            runner.run(main())
    except Exception:
        logging.getLogger(__name__).exception("%s stopped by an unexpected error", process)
        return 1
    logging.getLogger(__name__).info("%s stopped", process)
    return 0
