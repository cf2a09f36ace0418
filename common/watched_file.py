"""A file that is read at start and again whenever it changes, for settings that name a file.

``WatchedFile(path, parse, name)`` reads and parses the file at once: a file that is missing,
unreadable or bad at start raises :class:`FileContentError` (one line naming the setting and the
file), for ``main()`` to report like any bad setting. After that, :meth:`WatchedFile.check` (or
the :meth:`WatchedFile.watch` loop) notices changes and parses the new content. A bad version is
logged once, as ONE error line naming the setting and the problem, and the last good version stays
in force (``current``); the same bad content is not logged again, however often it is polled. A
file that disappears is logged once and the last good version stays.

Polling is cheap: one ``os.stat`` per check. The content is read only when the file's identity
(device, inode), size or modification time changed, or while its modification time is so recent
(``RACY_WINDOW_NS``) that a second write in the same clock tick could hide behind an unchanged
time stamp; a re-read whose content hash is unchanged changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

_log = logging.getLogger(__name__)

#: A file modified less than this long before it was read is read again at the next check:
#: file systems stamp times in ticks (ext4: the kernel tick; FAT: 2 s), so a second write within
#: the same tick leaves size and time as they were.
RACY_WINDOW_NS = 2_000_000_000

_Signature = tuple[int, int, int, int]  # device, inode, size, mtime_ns


class FileContentError(ValueError):
    """A watched file cannot be used. The message is one line that already names the setting,
    the file and, where there is one, the place in it; parse functions raise it (or a subclass)
    so that the watcher logs their message as it is."""


def _signature(stat: os.stat_result) -> _Signature:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


class WatchedFile(Generic[T]):
    """The last good parse of a file, re-parsed when the file changes.

    ``parse`` receives the file's bytes (a function taking ``bytes | str`` fits) and returns the
    value or raises: :class:`FileContentError` with a complete message, or any ``ValueError``,
    which is logged prefixed with the setting and the path. ``clock`` (ns) exists for tests.
    """

    def __init__(
        self, path: Path, parse: Callable[[bytes], T], name: str, *, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.path = path
        self.name = name
        self._parse = parse
        self._clock = clock
        self._read_at = clock()
        try:
            stat = os.stat(path)
            data = path.read_bytes()
        except OSError as error:
            raise FileContentError(f"{self._where()}: cannot read it: {_reason(error)}") from None
        self.current: T = self._parse_or_raise(data)
        self._signature: _Signature | None = _signature(stat)
        self._good_digest = _digest(data)
        self._bad_digest: bytes | None = None
        self._reported: str | None = None  # the read problem (gone, unreadable) last logged

    def _where(self) -> str:
        return f"{self.name} {self.path}"

    def _parse_or_raise(self, data: bytes) -> T:
        try:
            return self._parse(data)
        except FileContentError:
            raise
        except ValueError as error:
            raise FileContentError(f"{self._where()}: {error}") from None

    def check(self) -> bool:
        """Look at the file once; True when a changed, good version is now ``current``."""
        try:
            stat = os.stat(self.path)
        except OSError as error:
            self._report_unreadable(error)
            return False
        signature = _signature(stat)
        racy = stat.st_mtime_ns >= self._read_at - RACY_WINDOW_NS
        if signature == self._signature and not racy:
            return False
        try:
            read_at = self._clock()
            data = self.path.read_bytes()
        except OSError as error:
            self._report_unreadable(error)
            return False
        if self._reported is not None:
            _log.info("%s: readable again", self._where())
            self._reported = None
        self._signature, self._read_at = signature, read_at
        digest = _digest(data)
        if digest in (self._good_digest, self._bad_digest):
            return False
        try:
            value = self._parse_or_raise(data)
        except FileContentError as error:
            self._bad_digest = digest
            _log.error("%s; the last good version stays in force", error)
            return False
        self.current, self._good_digest, self._bad_digest = value, digest, None
        _log.info("%s: reloaded", self._where())
        return True

    def _report_unreadable(self, error: OSError) -> None:
        problem = "the file is gone" if isinstance(error, FileNotFoundError) else f"cannot read it: {_reason(error)}"
        if problem != self._reported:
            _log.error("%s: %s; the last good version stays in force", self._where(), problem)
            self._reported = problem
        # Whatever comes back at this path is read again, even with the old size and time stamp.
        self._signature = None

    async def watch(self, interval: float, on_change: Callable[[T], None]) -> None:
        """Check every ``interval`` seconds until cancelled, in a worker thread (a big file takes
        a while to parse; the event loop keeps answering); hand each new good version to
        ``on_change`` in the loop (an exception there is logged and watching goes on). Nothing
        else may call :meth:`check` meanwhile."""
        while True:
            await asyncio.sleep(interval)
            if await asyncio.to_thread(self.check):
                try:
                    on_change(self.current)
                except Exception:
                    _log.exception("%s: applying the new version failed", self._where())


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
