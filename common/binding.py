"""Binding what a process serves on (the OCPP port, the bus sockets): a failure becomes one
line naming the setting and the address, and the process stops at once (exit code 78).

``ipc://`` needs care: a second process binding the same path silently takes it over from the
first (``tcp://`` fails loudly). So before binding an ``ipc://`` path, :func:`bind_zmq` connects
to it: if somebody answers, the path has a live owner (another installation in the same
directory, or a gateway still running) and the bind fails like a taken port.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from pathlib import Path
from typing import Any

import zmq

from common.endpoints import ipc_path

IN_USE_HINT = "(another program, or another installation of the connector?)"

#: What to say for the errors a bind meets in practice.
REASONS = {
    errno.EADDRINUSE: f"address already in use {IN_USE_HINT}",
    errno.EADDRNOTAVAIL: "cannot assign the requested address (not an address of this host?)",
    errno.EACCES: "permission denied (ports below 1024 need privileges; or the directory is not writable)",
    errno.ENOENT: "no such directory",
    errno.ENAMETOOLONG: "the path is too long for a Unix socket",
}


class BindError(Exception):
    """A port or socket that cannot be bound. ``str()`` is the one line to log."""

    def __init__(self, setting: str, address: str, reason: str) -> None:
        super().__init__(f"{setting}: cannot listen on {address}: {reason}")
        self.setting = setting
        self.address = address
        self.reason = reason


def reason_of(error: OSError) -> str:
    if error.errno in REASONS:
        return REASONS[error.errno]
    return error.strerror or str(error)


def ipc_owner_alive(path: str) -> bool:
    """True when a process accepts connections on the Unix socket ``path`` (a stale file from a
    process that was killed is not an owner)."""
    if not Path(path).exists():
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError:  # refused: stale; anything else: let the bind say what is wrong
        return False
    finally:
        probe.close()
    return True


def refuse_live_owner(endpoint: str, setting: str) -> None:
    """Raise BindError when ``endpoint`` is an ``ipc://`` path that a running process serves."""
    path = ipc_path(endpoint)
    if path is not None and ipc_owner_alive(path):
        raise BindError(setting, endpoint, f"a running process serves it {IN_USE_HINT}")


def bind_zmq(sock: zmq.Socket[Any], endpoint: str, setting: str) -> None:
    """Bind ``sock`` to ``endpoint``, or raise BindError naming ``setting``."""
    refuse_live_owner(endpoint, setting)
    path = ipc_path(endpoint)
    if path is not None:
        with contextlib.suppress(OSError):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as error:
        reason = REASONS.get(error.errno or 0, error.strerror)
        raise BindError(setting, endpoint, reason) from None


def refuse_taken_port(host: str, port: int, setting: str) -> None:
    """Raise BindError when ``host:port`` cannot be listened on now (a quick look before a process
    spends a second on its imports: a taken port must stop it within supervisord's startsecs)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return  # the server's own bind says what is wrong with the host
    for family, kind, protocol, _, address in infos[:1]:
        probe = socket.socket(family, kind, protocol)
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
            probe.bind(address)
        except OSError as error:
            raise BindError(setting, f"{host}:{port}", reason_of(error)) from None
        finally:
            probe.close()


def refuse_taken_endpoint(endpoint: str, setting: str) -> None:
    """The same look for a bus endpoint: a ``tcp://`` port, an ``ipc://`` path with a live owner."""
    if endpoint.startswith("tcp://"):
        host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
        if port.isdigit():
            try:
                refuse_taken_port(host.strip("[]"), int(port), setting)
            except BindError as error:
                raise BindError(setting, endpoint, error.reason) from None
    else:
        refuse_live_owner(endpoint, setting)
