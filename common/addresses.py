"""Where charge points connect: ``ws://<each address of this host>:<port>/<charge point id>``.

For the first lines of ``make run`` (``python -m tools.where``) and the gateway's first log line.
The addresses are read from ``/proc`` (Linux; no extra dependency), else from the host name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path

CHARGE_POINT_ID = "<charge point id>"
WILDCARD_V4 = frozenset({"0.0.0.0", "", "*"})  # noqa: S104 - the OCPP_HOST that means "every interface"
WILDCARD_V6 = frozenset({"::", "[::]"})


def ipv4_addresses(fib_trie: str) -> list[str]:
    """The local IPv4 addresses in the text of ``/proc/net/fib_trie`` (each once, in order)."""
    found: list[str] = []
    previous = ""
    for line in fib_trie.splitlines():
        text = line.strip()
        if text.startswith("|--"):
            previous = text.removeprefix("|--").strip()
        elif text.endswith("host LOCAL") and text.startswith("/32") and previous and previous not in found:
            found.append(previous)
    return found


def ipv6_addresses(if_inet6: str) -> list[str]:
    """The IPv6 addresses in the text of ``/proc/net/if_inet6``, link-local ones left out."""
    found: list[str] = []
    for line in if_inet6.splitlines():
        fields = line.split()
        if not fields or len(fields[0]) != 32:
            continue
        address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        if not address.is_link_local and str(address) not in found:
            found.append(str(address))
    return found


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""


def host_addresses(ipv6: bool = False) -> list[str]:
    """This host's addresses (IPv4; IPv6 too with ``ipv6``)."""
    found = ipv4_addresses(_read("/proc/net/fib_trie"))
    if not found:  # not Linux, or no /proc: what the host name resolves to
        try:
            found = sorted(set(socket.gethostbyname_ex(socket.gethostname())[2]) | {"127.0.0.1"})
        except OSError:
            found = ["127.0.0.1"]
    if ipv6:
        found += ipv6_addresses(_read("/proc/net/if_inet6"))
    return found


def ordered(addresses: Iterable[str]) -> list[str]:
    """Addresses others can reach first, loopback last."""

    def loopback(address: str) -> bool:
        try:
            return ipaddress.ip_address(address).is_loopback
        except ValueError:
            return address == "localhost"

    listed = list(dict.fromkeys(addresses))
    return [a for a in listed if not loopback(a)] + [a for a in listed if loopback(a)]


def connect_urls(host: str, port: int, tls: bool, addresses: Sequence[str] | None = None) -> list[str]:
    """The URLs charge points connect to when the server listens on ``host``:``port``."""
    if host in WILDCARD_V4 or host in WILDCARD_V6:
        addresses = host_addresses(ipv6=host in WILDCARD_V6) if addresses is None else addresses
    else:
        addresses = [host]
    scheme = "wss" if tls else "ws"
    urls = []
    for address in ordered(addresses):
        shown = f"[{address}]" if ":" in address and not address.startswith("[") else address
        urls.append(f"{scheme}://{shown}:{port}/{CHARGE_POINT_ID}")
    return urls


def connect_line(urls: Sequence[str]) -> str:
    """One line: ``Charge points connect to ws://192.0.2.2:9000/<charge point id> (or ...)``."""
    first, *others = urls
    return f"Charge points connect to {first}" + (f" (or {', '.join(others)})" if others else "")
