"""The broker's TCP connection and TLS handshake, made without blocking the event loop.

paho connects and shakes hands blocking, for up to its connect timeout: a broker host that does
not answer would stall the whole process on every attempt. MqttLink makes the connection here
and hands the socket to paho (``GatheringClient.connected_socket``), which sends CONNECT on it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl


async def open_tcp(loop: asyncio.AbstractEventLoop, host: str, port: int, connect_timeout: float) -> socket.socket:
    """A connected non-blocking socket to the first address of ``host`` that accepts; each step
    (the name lookup, each connect) bounded by ``connect_timeout``. Raises the last address's error."""
    addresses = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), connect_timeout)
    error: OSError = OSError(f"no address for {host}")
    for family, kind, protocol, _, address in addresses:
        sock = socket.socket(family, kind, protocol)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, address), connect_timeout)
        except OSError as failure:  # TimeoutError included
            sock.close()
            error = failure
            continue
        except BaseException:  # cancelled (stopping)
            sock.close()
            raise
        return sock
    raise error


async def tls_handshake(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, context: ssl.SSLContext, host: str, connect_timeout: float
) -> ssl.SSLSocket:
    """The TLS handshake with paho's own context (``tls_set``: the CA, the broker's host name
    checked), bounded by paho's connect timeout."""
    tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    try:
        await asyncio.wait_for(_handshake(loop, tls), connect_timeout)
    except BaseException:
        tls.close()
        raise
    return tls


async def _handshake(loop: asyncio.AbstractEventLoop, tls: ssl.SSLSocket) -> None:
    while True:
        try:
            tls.do_handshake()
            return
        except ssl.SSLWantReadError:
            add, remove = loop.add_reader, loop.remove_reader
        except ssl.SSLWantWriteError:
            add, remove = loop.add_writer, loop.remove_writer
        ready: asyncio.Future[None] = loop.create_future()
        add(tls.fileno(), _resolve, ready)
        try:
            await ready
        finally:
            remove(tls.fileno())


def _resolve(future: asyncio.Future[None]) -> None:
    """A reader/writer callback: may fire again before it is removed."""
    if not future.done():
        future.set_result(None)
