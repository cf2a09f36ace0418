"""``python -m processes.gateway``: settings -> logging -> sockets -> run loop -> exit code."""

from __future__ import annotations

import asyncio
import logging

import ocpp.messages
import zmq.asyncio

from common.logs import CallbackHandler
from common.process import load_settings, run_process
from common.settings import load_gateway
from processes.gateway.app import Gateway

PROCESS = "gateway"


def main() -> int:
    settings = load_settings(PROCESS, load_gateway)
    # Validate inline: the library's default thread hop costs more than the validation.
    ocpp.messages.ASYNC_VALIDATION = False

    async def body(stop: asyncio.Event) -> None:
        context = zmq.asyncio.Context()
        gateway = Gateway(settings, context)
        handler = CallbackHandler(gateway.publish_log)
        logging.getLogger().addHandler(handler)
        try:
            await gateway.serve(stop)
        finally:
            logging.getLogger().removeHandler(handler)
            gateway.close()
            context.term()

    return run_process(PROCESS, settings.debug, body, fast_loop=True)


if __name__ == "__main__":
    raise SystemExit(main())
