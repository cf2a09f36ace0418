"""``python -m processes.bridge``: settings -> logging -> sockets -> run loop -> exit code."""

from __future__ import annotations

import asyncio
import logging

import zmq.asyncio

from common.logs import CallbackHandler
from common.process import load_settings, run_process
from common.settings import load_bridge
from processes.bridge.app import Bridge

PROCESS = "bridge"


def main() -> int:
    settings = load_settings(PROCESS, load_bridge)

    async def body(stop: asyncio.Event) -> None:
        context = zmq.asyncio.Context()
        bridge = Bridge(settings, context)
        handler = CallbackHandler(bridge.publish_log)
        logging.getLogger().addHandler(handler)
        try:
            await bridge.serve(stop)
        finally:
            logging.getLogger().removeHandler(handler)
            context.term()

    return run_process(PROCESS, settings.debug, body)


if __name__ == "__main__":
    raise SystemExit(main())
