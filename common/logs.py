"""Logging set-up, done once in each process's ``main()``."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

FORMAT = "%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s"


def now_ms() -> int:
    """BEMCom timestamps: integer milliseconds since the Unix epoch, UTC."""
    return time.time_ns() // 1_000_000


def setup(process: str, debug: bool) -> None:
    """Log to stderr (supervisord forwards it to the container's output)."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format=FORMAT, stream=sys.stderr, force=True)
    logging.getLogger().handlers[0].setFormatter(logging.Formatter(FORMAT.replace("%(processName)s", process)))
    # The ocpp library logs every frame at INFO; raw frames are the raw logger's job.
    logging.getLogger("ocpp").setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.INFO if debug else logging.WARNING)


def record_message(record: logging.LogRecord) -> str:
    """The formatted message of a record, never raising (a stray `%` must not break logging)."""
    try:
        return record.getMessage()
    except (TypeError, ValueError):
        return f"{record.msg} {record.args!r}"


class CallbackHandler(logging.Handler):
    """Hands (timestamp ms, level, message, emitter) of each record to a callback.

    Used to forward log records to BEMCom's log topic. Errors inside the callback are
    swallowed: logging must never take a process down."""

    def __init__(self, emit: Callable[[int, int, str, str], None], level: int = logging.INFO) -> None:
        super().__init__(level)
        self._emit = emit
        self._busy = False

    def emit(self, record: logging.LogRecord) -> None:
        if self._busy:  # a log line written while forwarding one: don't recurse
            return
        self._busy = True
        try:
            message = record_message(record)
            if record.exc_info and record.exc_info[1] is not None:
                message = f"{message}: {record.exc_info[1]!r}"
            self._emit(int(record.created * 1000), record.levelno, message, str(record.funcName))
        except Exception:  # noqa: S110 - a log handler must neither raise nor log
            pass
        finally:
            self._busy = False
