"""The bus endpoints: what an operator may set, and where a relative ``ipc://`` path lives.

Pure (no sockets): read by the settings of every process and by the tools. The defaults are
``ipc://`` paths under the installation's ``var/`` (``/app/var`` in the image), so that two
installations on one machine do not collide; ``tcp://`` on a loopback address is allowed too.
"""

from __future__ import annotations

from pathlib import Path

#: The defaults of BUS_EVENTS_ENDPOINT and BUS_COMMANDS_ENDPOINT, relative to the project directory.
DEFAULT_EVENTS_ENDPOINT = "ipc://var/bus-events.ipc"
DEFAULT_COMMANDS_ENDPOINT = "ipc://var/bus-commands.ipc"

#: A Unix socket address holds at most 107 bytes of path (108 with the terminating NUL).
IPC_PATH_MAX_BYTES = 107

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
EXPECTED = "tcp://127.0.0.1:<port>, tcp://localhost:<port>, tcp://[::1]:<port> or ipc://<path>"


class EndpointError(ValueError):
    """An endpoint that is not allowed; the message says what was expected."""


def ipc_path(endpoint: str) -> str | None:
    """The file system path of an ``ipc://`` endpoint; None for other transports and for
    abstract sockets (``ipc://@name``)."""
    if not endpoint.startswith("ipc://") or endpoint.startswith("ipc://@"):
        return None
    return endpoint.removeprefix("ipc://")


def resolve_endpoint(value: str, root: Path) -> str:
    """The endpoint as the processes use it: ``ipc://`` paths made absolute (relative to
    ``root``, the project directory, like JOURNAL_PATH), checked for length; ``tcp://`` only on
    a loopback address. Raises EndpointError saying what is wrong."""
    if value.startswith("inproc://"):
        return value
    if value.startswith("ipc://"):
        path = ipc_path(value)
        if path is None:  # abstract: no file, the same length limit
            resolved = value
            length = len(value.removeprefix("ipc://").encode())
        else:
            if not path:
                raise EndpointError(f"expected {EXPECTED}")
            absolute = Path(path) if Path(path).is_absolute() else root / path
            resolved = f"ipc://{absolute}"
            length = len(str(absolute).encode())
        if length > IPC_PATH_MAX_BYTES:
            raise EndpointError(
                f"the ipc:// path is {length} bytes long ({resolved}), at most {IPC_PATH_MAX_BYTES} fit in a"
                " Unix socket address: expected a shorter path (e.g. ipc:///tmp/<name>.ipc) or tcp://127.0.0.1:<port>"
            )
        return resolved
    if value.startswith("tcp://"):
        host, _, port = value.removeprefix("tcp://").rpartition(":")
        if host in LOOPBACK_HOSTS and port.isdigit() and 0 < int(port) < 65536:
            return value
        if host not in LOOPBACK_HOSTS and host:
            raise EndpointError(f"expected a loopback address, never a public interface: {EXPECTED}")
    raise EndpointError(f"expected {EXPECTED}")
