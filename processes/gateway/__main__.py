"""``python -m processes.gateway``: settings -> logging -> sockets -> run loop -> exit code."""

from __future__ import annotations

import ocpp.messages

from common.process import load_settings, run_program
from common.settings import load_gateway
from processes.gateway.gateway import Gateway

PROCESS = "gateway"


def main() -> int:
    settings = load_settings(PROCESS, load_gateway)
    # Validate inline: the library's default thread hop costs more than the validation.
    ocpp.messages.ASYNC_VALIDATION = False
    return run_program(PROCESS, settings, settings.debug, Gateway, fast_loop=True)


if __name__ == "__main__":
    raise SystemExit(main())
