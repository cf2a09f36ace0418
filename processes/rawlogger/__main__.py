"""``python -m processes.rawlogger``: settings -> logging -> sockets -> run loop -> exit code."""

from __future__ import annotations

import asyncio
import logging

import zmq.asyncio

from common.logs import CallbackHandler
from common.process import load_settings, run_process
from common.settings import load_rawlogger
from processes.rawlogger.app import RawLogger

PROCESS = "rawlogger"


def main() -> int:
    settings = load_settings(PROCESS, load_rawlogger)

    async def body(stop: asyncio.Event) -> None:
        context = zmq.asyncio.Context()
        logger = RawLogger(settings, context)
        handler = CallbackHandler(logger.publish_log)
        logging.getLogger().addHandler(handler)
        try:
            await logger.serve(stop)
        finally:
            logging.getLogger().removeHandler(handler)
            context.term()

    return run_process(PROCESS, settings.debug, body)


if __name__ == "__main__":
    raise SystemExit(main())
