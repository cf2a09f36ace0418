"""What the gateway has published, kept so that consumers can ask for what they missed.

Each stream (``event``, ``raw``) has its own sequence numbers, starting at 1 for each
gateway run. Consumers acknowledge what they have delivered; a consumer that restarts
resumes from its acknowledged position. Memory is bounded by ``max_per_stream``:
the oldest entries are dropped beyond it, and every drop is counted.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from typing import Any

from common.bus import STREAMS

log = logging.getLogger(__name__)


class MemoryJournal:
    def __init__(self, run: str, max_per_stream: int) -> None:
        self.run = run
        self._max = max_per_stream
        self._entries: dict[str, deque[dict[str, Any]]] = {stream: deque() for stream in STREAMS}
        self._heads: dict[str, int] = dict.fromkeys(STREAMS, 0)
        self._cursors: dict[tuple[str, str], int] = {}
        self.dropped: dict[str, int] = dict.fromkeys(STREAMS, 0)

    def next_seq(self, stream: str) -> int:
        self._heads[stream] += 1
        return self._heads[stream]

    def heads(self) -> dict[str, int]:
        return dict(self._heads)

    def append(self, stream: str, body: dict[str, Any]) -> None:
        entries = self._entries[stream]
        entries.append(body)
        if len(entries) > self._max:
            entries.popleft()
            self.dropped[stream] += 1
            if self.dropped[stream] in (1, 10, 100) or self.dropped[stream] % 1000 == 0:
                log.warning(
                    "Journal full (JOURNAL_MAX_EVENTS=%d): %d %s messages dropped so far",
                    self._max,
                    self.dropped[stream],
                    stream,
                )

    def first(self, stream: str) -> int:
        """Sequence number of the oldest entry still held (head + 1 when empty)."""
        return self._heads[stream] - len(self._entries[stream]) + 1

    def read(self, stream: str, after: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """Entries with seq > ``after``, oldest first: (seq of the first returned, entries)."""
        first = self.first(stream)
        start = max(after + 1, first)
        entries = self._entries[stream]
        chunk = list(itertools.islice(entries, start - first, start - first + limit))
        return start, chunk

    def cursor(self, consumer: str, stream: str) -> int:
        return self._cursors.get((consumer, stream), 0)

    def ack(self, consumer: str, stream: str, seq: int) -> None:
        key = (consumer, stream)
        self._cursors[key] = max(self._cursors.get(key, 0), min(seq, self._heads[stream]))

    def cursors(self) -> dict[str, int]:
        return {f"{consumer}/{stream}": seq for (consumer, stream), seq in self._cursors.items()}
