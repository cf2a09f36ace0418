"""common/watched_file.py against the real clock and file system time stamps: quick in-place
rewrites of the same size and editor-style saves (write a copy, rename it over) all reach
``on_change``, the last one last."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from common.watched_file import WatchedFile

DEADLINE = 5.0  # s; the watcher polls every millisecond


def test_quick_same_size_rewrites_and_renames_are_all_applied(tmp_path: Path) -> None:
    path = tmp_path / "n.txt"
    path.write_text("10", encoding="utf-8")
    file = WatchedFile(path, lambda data: int(data), "OCPP_TEST_FILE")

    async def scenario() -> list[int]:
        applied: list[int] = []
        latest: asyncio.Queue[int] = asyncio.Queue()

        def on_change(value: int) -> None:
            applied.append(value)
            latest.put_nowait(value)

        task = asyncio.create_task(file.watch(0.001, on_change))
        # Each rewrite right after the watcher read the one before: same size, and on a file
        # system with a coarse clock the same time stamp too.
        for value in (11, 12, 13):
            path.write_text(str(value), encoding="utf-8")
            assert await latest.get() == value
        copy = tmp_path / "n.txt.tmp"
        copy.write_text("14", encoding="utf-8")
        os.replace(copy, path)
        assert await latest.get() == 14
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return applied

    applied = asyncio.run(asyncio.wait_for(scenario(), DEADLINE))
    assert applied == [11, 12, 13, 14]
    assert file.current == 14
