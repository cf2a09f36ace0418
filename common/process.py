"""What every process's ``main()`` does the same way: settings, logging, signals, exit code."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import uvloop
import zmq.asyncio

from common import __version__
from common.binding import BindError
from common.health import clear_problem, record_problem
from common.logs import CallbackHandler, setup
from common.settings import EXIT_BAD_SETTINGS, SettingsError, environment

S = TypeVar("S")


def load_settings(process: str, load: Callable[[Mapping[str, str]], S]) -> S:
    """Settings of this process, or exit with EXIT_BAD_SETTINGS and one line per problem (also
    noted in ``var/<process>.problem`` for the health check)."""
    try:
        settings = load(environment())
    except SettingsError as error:
        record_problem(process, "bad settings: " + "; ".join(error.problems))
        for problem in error.problems:
            print(f"{process}: bad setting: {problem}", file=sys.stderr, flush=True)
        print(
            f"{process}: not started (exit code {EXIT_BAD_SETTINGS}); fix the settings above",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(EXIT_BAD_SETTINGS) from None
    clear_problem(process)
    return settings


def refuse_early(process: str, debug: bool, check: Callable[[], None]) -> None:
    """Run ``check`` (e.g. :func:`common.binding.refuse_taken_port`) before the process's heavy
    imports: a BindError stops it with its one line (exit code 78), as :func:`run_process` would,
    but within supervisord's ``startsecs`` even on a busy machine."""
    try:
        check()
    except BindError as error:
        setup(process, debug)
        logging.getLogger(__name__).error("%s; %s not started (exit code %d)", error, process, EXIT_BAD_SETTINGS)
        record_problem(process, str(error))
        raise SystemExit(EXIT_BAD_SETTINGS) from None


async def run_until_stopped(stop: asyncio.Event, tasks: list[asyncio.Task[Any]]) -> None:
    """Wait until ``stop`` is set, then cancel ``tasks``. A task that ends before (a bug, or a
    failure it could not handle) ends the process with an error, so that supervisord restarts it
    instead of leaving it RUNNING without, say, its bus consumer."""
    stopping = asyncio.create_task(stop.wait(), name="stop")
    done, _ = await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    ended = [task for task in tasks if task in done]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if ended:
        task = ended[0]
        error = None if task.cancelled() else task.exception()
        raise RuntimeError(f"task {task.get_name()} ended unexpectedly: {error!r}") from error


async def stop_when_orphaned(stop: asyncio.Event, interval: float = 1.0) -> None:
    """Stop when the parent (supervisord) is gone: a supervisor killed with SIGKILL must not
    leave its programs running, holding their ports, with nobody to restart or stop them."""
    parent = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(interval)
        if os.getppid() != parent:
            logging.getLogger(__name__).warning("Parent process %d is gone; stopping", parent)
            stop.set()


#: Python's cyclic garbage collector with a process holding thousands of connections: at its
#: default thresholds (700, 10, 10) the gateway paused 50-140 ms in young collections and up to
#: 0.5-0.9 s in full ones while 10,000 charge points were connected (measured with gc.callbacks;
#: those pauses were the p99 of the 10,000 charge point benchmark). Young objects are almost all
#: freed by reference counting, so collecting less often costs little memory.
GC_THRESHOLDS = (50_000, 100, 100)


def tune_gc() -> None:
    """Collect rarely, and never again look at what exists at start (modules, schemas)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


#: How much lower the CPU scheduling priority of the bridge and the raw logger is than the
#: gateway's (``nice``). Charge points wait for the gateway's answers; the bridge works from the
#: journal, so when the CPU is short it may fall behind for a moment and catch up. Measured with
#: bench.throughput at N = 100 on 2 cores, alternating runs: answers/s 4.29x the baseline with
#: it against 3.64x without (means of 4 and 6 runs), every value still delivered as fast as
#: it was answered (fewer preemptions: each process wakes up to larger batches).
BACKGROUND_NICENESS = 5


def lower_priority(niceness: int) -> int:
    """Lower this process's CPU priority (always allowed, unlike raising it); its new niceness."""
    try:
        return os.nice(niceness)
    except OSError as error:  # a sandbox that forbids even that: run as is
        logging.getLogger(__name__).warning("Could not lower the CPU priority: %s", error)
        return os.nice(0)


#: Seconds a process may take to stop once asked (SIGTERM, SIGINT, its parent gone): the
#: gateway (closing charge point connections within 1 s), and each consumer. supervisord stops
#: them one after the other (bridge, rawlogger, gateway) and notices each exit within its 1 s
#: poll: 2-3 s in all, and under 5 s with one of them stuck. What was answered is durable
#: already (committed before any answer), so an exit at the deadline loses nothing, like kill -9.
STOP_DEADLINE = {"gateway": 1.5}
CONSUMER_STOP_DEADLINE = 1.0


class StopDeadline:
    """Once armed, ends the process after ``seconds`` even if its main thread is stuck (a
    thread, not the event loop, keeps the time)."""

    def __init__(self, process: str, seconds: float) -> None:
        self.process = process
        self.seconds = seconds
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self) -> None:
        print(f"{self.process}: still stopping after {self.seconds:g} s: exiting now", file=sys.stderr, flush=True)
        os._exit(1)


async def arm_when_stopped(stop: asyncio.Event, deadline: StopDeadline) -> None:
    """Whoever sets ``stop`` (a signal, the orphan watch), the deadline starts then."""
    await stop.wait()
    deadline.arm()


def run_process(
    process: str,
    debug: bool,
    body: Callable[[asyncio.Event], Awaitable[None]],
    *,
    fast_loop: bool = False,
    background: bool = False,
) -> int:
    """Run ``body(stop)`` until it returns; SIGTERM and SIGINT only set ``stop`` (and arm the
    :class:`StopDeadline`). ``fast_loop``: on uvloop (sockets and timers cost a third less CPU
    there). ``background``: at a lower CPU priority than the gateway (BACKGROUND_NICENESS)."""
    setup(process, debug)
    logging.getLogger(__name__).info("%s %s starting", process, __version__)
    tune_gc()
    if background:
        lower_priority(BACKGROUND_NICENESS)
    deadline = StopDeadline(process, STOP_DEADLINE.get(process, CONSUMER_STOP_DEADLINE))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def request_stop() -> None:
            stop.set()
            deadline.arm()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, request_stop)
        orphan_watch = asyncio.create_task(stop_when_orphaned(stop), name="orphan-watch")
        armer = asyncio.create_task(arm_when_stopped(stop, deadline), name="stop-deadline")
        try:
            await body(stop)
        finally:
            orphan_watch.cancel()
            armer.cancel()
            deadline.arm()  # also when the body failed: closing must not hang either

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop if fast_loop else None) as runner:
            runner.run(main())
    except BindError as error:  # one line, no traceback: the setting and the address say it all
        logging.getLogger(__name__).error("%s; %s not started (exit code %d)", error, process, EXIT_BAD_SETTINGS)
        record_problem(process, str(error))
        return EXIT_BAD_SETTINGS
    except Exception:
        logging.getLogger(__name__).exception("%s stopped by an unexpected error", process)
        return 1
    finally:
        deadline.cancel()
    logging.getLogger(__name__).info("%s stopped", process)
    return 0


class Program(Protocol):
    """What each process's application object offers to :func:`run_program`."""

    def publish_log(self, ts: int, level: int, msg: str, emitter: str) -> None: ...

    async def serve(self, stop: asyncio.Event) -> None: ...


def run_program(
    process: str,
    settings: S,
    debug: bool,
    build: Callable[[S, zmq.asyncio.Context], Program],
    *,
    fast_loop: bool = False,
    background: bool = False,
) -> int:
    """The common ``main()`` body: a ZeroMQ context, the application built from the settings,
    its log records forwarded to BEMCom, served until SIGTERM; then everything closed. A
    :class:`BindError` (from ``build`` or ``serve``) ends the process at once with one line."""

    async def body(stop: asyncio.Event) -> None:
        context = zmq.asyncio.Context()
        try:
            program = build(settings, context)
        except BaseException:
            context.destroy(linger=0)
            raise
        handler = CallbackHandler(program.publish_log)
        logging.getLogger().addHandler(handler)
        try:
            await program.serve(stop)
        finally:
            logging.getLogger().removeHandler(handler)
            close = getattr(program, "close", None)
            if close is not None:
                close()
            # Sockets still open (a bind that failed half-way) would make term() wait forever.
            context.destroy(linger=0)

    return run_process(process, debug, body, fast_loop=fast_loop, background=background)
