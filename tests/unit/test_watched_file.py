"""common/watched_file.py: read at start (errors raised), re-read on change (stat only otherwise),
a bad version logged once with the last good one kept, a vanished file logged once."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.watched_file import RACY_WINDOW_NS, FileContentError, WatchedFile

NAME = "OCPP_TEST_FILE"
LOGGER = "common.watched_file"


class Clock:
    """Nanoseconds, far from the files' time stamps unless a test moves it close."""

    def __init__(self) -> None:
        self.now = 10**19

    def __call__(self) -> int:
        return self.now


class Parser:
    """Whole numbers, one a file; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, data: bytes) -> int:
        self.calls += 1
        text = data.decode()
        if text.startswith("!"):
            raise FileContentError(f"{NAME} custom: {text.strip()}")
        return int(text)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Every Path.read_bytes call, to tell a stat-only check from a read."""
    calls: list[Path] = []
    real = Path.read_bytes

    def counting(self: Path) -> bytes:
        calls.append(self)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    yield calls


def write(path: Path, text: str, mtime_ns: int | None = None) -> None:
    path.write_text(text, encoding="utf-8")
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def watched(path: Path, parser: Parser | None = None, clock: Clock | None = None) -> WatchedFile[int]:
    return WatchedFile(path, parser or Parser(), NAME, clock=clock or Clock())


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.ERROR]


def test_a_missing_or_bad_file_at_start_raises_one_line_naming_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "n.txt"
    with pytest.raises(FileContentError, match=f"^{NAME} {path}: cannot read it: No such file or directory$"):
        watched(path)
    write(path, "x")
    with pytest.raises(FileContentError, match=rf"^{NAME} {path}: invalid literal for int\(\)"):
        watched(path)
    write(path, "!bad")
    with pytest.raises(FileContentError, match=f"^{NAME} custom: !bad$"):  # a complete message is kept as it is
        watched(path)


def test_an_unchanged_file_costs_one_stat_per_check(tmp_path: Path, reads: list[Path]) -> None:
    path = tmp_path / "n.txt"
    write(path, "1", mtime_ns=1_000_000_000)
    parser = Parser()
    file = watched(path, parser)
    reads.clear()
    assert [file.check() for _ in range(5)] == [False] * 5
    assert reads == [] and parser.calls == 1 and file.current == 1


def test_a_changed_file_is_parsed_and_becomes_current(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "n.txt"
    write(path, "1", mtime_ns=1_000_000_000)
    file = watched(path)
    write(path, "22", mtime_ns=2_000_000_000)
    with caplog.at_level(logging.INFO, LOGGER):
        assert file.check() is True
        assert file.check() is False
    assert file.current == 22
    assert [r.getMessage() for r in caplog.records] == [f"{NAME} {path}: reloaded"]


def test_a_touched_file_with_the_same_content_is_not_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "n.txt"
    write(path, "1", mtime_ns=1_000_000_000)
    parser = Parser()
    file = watched(path, parser)
    write(path, "1", mtime_ns=5_000_000_000)
    assert file.check() is False and parser.calls == 1


def test_a_bad_version_is_logged_once_and_the_last_good_one_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "n.txt"
    write(path, "1", mtime_ns=1_000_000_000)
    parser = Parser()
    file = watched(path, parser)
    with caplog.at_level(logging.INFO, LOGGER):
        write(path, "oops", mtime_ns=2_000_000_000)
        assert file.check() is False
        write(path, "oops", mtime_ns=3_000_000_000)  # saved again, the same mistake
        assert file.check() is False
        assert file.current == 1 and parser.calls == 2
        [line] = error_lines(caplog)
        assert line.startswith(f"{NAME} {path}: invalid literal for int()")
        assert line.endswith("; the last good version stays in force") and "\n" not in line
        write(path, "!other", mtime_ns=4_000_000_000)
        assert file.check() is False
        assert error_lines(caplog)[1:] == [f"{NAME} custom: !other; the last good version stays in force"]
        write(path, "3", mtime_ns=5_000_000_000)
        assert file.check() is True and file.current == 3
        write(path, "!other", mtime_ns=6_000_000_000)  # bad again after a good one: said again
        assert file.check() is False and len(error_lines(caplog)) == 3


def test_a_vanished_file_is_logged_once_and_its_return_is_noticed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "n.txt"
    write(path, "1", mtime_ns=1_000_000_000)
    file = watched(path)
    path.unlink()
    with caplog.at_level(logging.INFO, LOGGER):
        assert [file.check() for _ in range(3)] == [False] * 3
        assert error_lines(caplog) == [f"{NAME} {path}: the file is gone; the last good version stays in force"]
        write(path, "1", mtime_ns=1_000_000_000)  # back as it was: nothing to apply
        assert file.check() is False
        assert caplog.records[-1].getMessage() == f"{NAME} {path}: readable again"
        path.unlink()
        assert file.check() is False
        write(path, "7", mtime_ns=1_000_000_000)  # back with a new content, even with the old time stamp
        assert file.check() is True and file.current == 7
    assert len(error_lines(caplog)) == 2


def test_an_unreadable_file_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "n.txt"
    write(path, "1", mtime_ns=1_000_000_000)
    file = watched(path)
    write(path, "2", mtime_ns=2_000_000_000)

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with caplog.at_level(logging.INFO, LOGGER):
        assert [file.check() for _ in range(3)] == [False] * 3
        monkeypatch.undo()
        assert file.check() is True and file.current == 2
    assert error_lines(caplog) == [
        f"{NAME} {path}: cannot read it: Permission denied; the last good version stays in force"
    ]


def test_a_file_replaced_by_rename_is_noticed_with_equal_size_and_time(tmp_path: Path) -> None:
    path, new = tmp_path / "n.txt", tmp_path / "n.txt.new"
    write(path, "1", mtime_ns=1_000_000_000)
    file = watched(path)
    write(new, "2", mtime_ns=1_000_000_000)
    os.replace(new, path)  # another inode
    assert file.check() is True and file.current == 2


def test_a_second_write_within_the_same_clock_tick_is_noticed(tmp_path: Path, reads: list[Path]) -> None:
    """Size and time stamp unchanged: only a file read too soon after its last write is re-read."""
    path = tmp_path / "n.txt"
    clock = Clock()
    clock.now = 1_000_000_000 + RACY_WINDOW_NS // 2  # read half a window after the write
    write(path, "1", mtime_ns=1_000_000_000)
    file = watched(path, clock=clock)
    write(path, "2", mtime_ns=1_000_000_000)
    assert file.check() is True and file.current == 2
    clock.now = 1_000_000_000 + 2 * RACY_WINDOW_NS  # long after the write: back to stat only
    assert file.check() is False  # this one still reads: the last read was within the window
    reads.clear()
    assert file.check() is False and reads == []


def test_watch_hands_each_new_version_to_on_change_and_survives_its_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "n.txt"
    write(path, "1", mtime_ns=1_000_000_000)
    file = watched(path)
    seen: list[int] = []

    async def scenario() -> None:
        changes: asyncio.Queue[int] = asyncio.Queue()

        def on_change(value: int) -> None:
            seen.append(value)
            changes.put_nowait(value)
            if value == 2:
                raise RuntimeError("applying failed")

        task = asyncio.create_task(file.watch(0.001, on_change))
        for value, mtime in ((2, 2), (3, 3)):
            write(path, str(value), mtime_ns=mtime * 1_000_000_000)
            assert await changes.get() == value
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.ERROR, LOGGER):
        asyncio.run(asyncio.wait_for(scenario(), 5))
    assert seen == [2, 3]
    assert error_lines(caplog) == [f"{NAME} {path}: applying the new version failed"]
