"""The unit layer is pure: no sockets, no subprocesses. This conftest enforces it.

For every test under tests/unit (setup, call and teardown), creating a socket, a ZeroMQ socket or
a subprocess fails the test with a message that says what was attempted and where such a test
belongs (tests/component). The only socket allowed is the self-pipe (a socketpair) that asyncio's
event loop makes for itself on Linux, so ``asyncio.run`` works.

The violation is raised where it happens *and* recorded: code under test that catches the error
(a reconnect loop's ``except OSError``/``except Exception``) cannot hide it, the test still fails.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import warnings
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import zmq

MOVE_HINT = "tests/unit is pure; a test that needs it belongs in tests/component"


class ImpureUnitTest(RuntimeError):
    """A unit test tried to reach outside the process."""


_violations: list[str] = []


def _forbid(what: str) -> ImpureUnitTest:
    message = f"{what} in a unit test: {MOVE_HINT}"
    _violations.append(message)
    return ImpureUnitTest(message)


def _called_by_asyncio(depth: int) -> bool:
    """Whether the caller ``depth`` frames up is asyncio's own code (the event loop's self-pipe)."""
    frame = sys._getframe(depth)
    return str(frame.f_globals.get("__name__", "")).startswith("asyncio.")


_real_socket_init = socket.socket.__init__
_real_socketpair = socket.socketpair


def _guarded_socket_init(
    self: socket.socket, family: Any = -1, type: Any = -1, proto: int = -1, fileno: int | None = None
) -> None:
    # socket.socketpair() wraps the two new file descriptors with fileno given; a socket made
    # from nothing (socket.socket(), socket.create_connection(), asyncio's create_server and
    # open_connection) is refused.
    if fileno is None:
        raise _forbid(f"creating a socket (family {family!r})")
    _real_socket_init(self, family, type, proto, fileno)


def _guarded_socketpair(*args: Any, **kwargs: Any) -> tuple[socket.socket, socket.socket]:
    if not _called_by_asyncio(2):
        raise _forbid("creating a socketpair")
    return _real_socketpair(*args, **kwargs)


def _guarded_zmq_socket_init(self: zmq.Socket[Any], *args: Any, **kwargs: Any) -> None:
    # zmq.Socket.__init__ is where every ZeroMQ socket starts: Context.socket(), zmq.asyncio's
    # sockets and zmq.Socket(...) alike.
    raise _forbid("creating a ZeroMQ socket")


def _guarded_popen_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
    raise _forbid(f"starting a subprocess ({args!r})")


def _refuse(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise _forbid(what)

    return refuse


@contextmanager
def _pure() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "__init__", _guarded_socket_init)
        patch.setattr(socket, "socketpair", _guarded_socketpair)
        patch.setattr(zmq.Socket, "__init__", _guarded_zmq_socket_init)
        patch.setattr(subprocess.Popen, "__init__", _guarded_popen_init)
        for name in ("system", "fork", "forkpty", "posix_spawn", "posix_spawnp"):
            patch.setattr(os, name, _refuse(f"os.{name}()"))
        yield


def _take_violations() -> list[str]:
    found = sorted(set(_violations))
    _violations.clear()
    if found:
        # What the refused test had half set up (a ZeroMQ context it never got to close) is
        # collected now, quietly, instead of failing the next test with a ResourceWarning.
        previous_hook = sys.unraisablehook
        sys.unraisablehook = lambda _: None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gc.collect()
        finally:
            sys.unraisablehook = previous_hook
    return found


@contextmanager
def _guarded(phase: str) -> Iterator[None]:
    """Run one phase of a test pure; fail it if it tried to be otherwise, even if that was caught."""
    with _pure():
        try:
            yield
        except BaseException:
            found = _take_violations()
            if found:
                pytest.fail(f"impure unit test ({phase}): " + "; ".join(found), pytrace=False)
            raise
    found = _take_violations()
    if found:
        pytest.fail(f"impure unit test ({phase}): " + "; ".join(found), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with _guarded("setup"):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with _guarded("call"):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    with _guarded("teardown"):
        return (yield)
