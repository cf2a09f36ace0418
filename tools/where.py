"""``python -m tools.where``: where charge points connect to this connector.

    ws://<each address of this host>:<OCPP_PORT>/<charge point id>   (wss:// with TLS)

From OCPP_HOST, OCPP_PORT and OCPP_TLS_CERT_FILE (environment, then ``.env``), as the gateway
reads them. ``make run`` prints it first. Exit code 0; 2 when those settings are bad.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from common.addresses import connect_urls
from common.settings import SettingsError, environment, load_gateway

LOOPBACK_NOTE = "   (this machine only)"


def lines(urls: Sequence[str]) -> list[str]:
    """``Charge points connect to URL``, then ``or URL`` aligned below it, loopback marked."""
    first = "Charge points connect to "
    shown = []
    for index, url in enumerate(urls):
        note = LOOPBACK_NOTE if "//127." in url or "//[::1]" in url or "//localhost" in url else ""
        shown.append((first if index == 0 else " " * (len(first) - 3) + "or ") + url + note)
    return shown


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="where", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.parse_args(argv)
    env = environment()
    try:
        settings = load_gateway(env)
    except SettingsError as error:
        for problem in error.problems:
            print(f"where: bad setting: {problem}", file=sys.stderr)
        return 2
    urls = connect_urls(settings.ocpp_host, settings.ocpp_port, settings.tls is not None)
    print("\n".join(lines(urls)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
