"""Back-pressure for a charge point that sends faster than ``OCPP_MAX_CALLS_PER_SECOND``.

A charge point above its rate is slowed down, never refused for that alone: its next frame is
handled (and so its answer sent, and its following frame read) only once its token bucket has a
token again. A charger catching up after being offline, one call after the other as OCPP-J
says, is answered at the rate, every call of it.

Only a client that sends further calls while one of its calls is held back, that is, more than
OCPP-J's one outstanding call, fills a small queue (:data:`HELD_FRAMES`, :data:`HELD_BYTES`);
beyond it its calls get CallError ``GenericError`` at once, as a flood did before. Answers to the
central system's own calls are never held back.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Frames a throttled charge point may send ahead (beyond one outstanding call) before the excess
#: is refused: a charger reporting every connector's status at once is held, not refused.
HELD_FRAMES = 20
#: ... and their bytes (a held frame can be as large as OCPP_MAX_FRAME_BYTES).
HELD_BYTES = 256 * 1024
#: Seconds between two log lines about one charge point's pace.
LOG_INTERVAL = 10.0


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; one token per message."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def allow(self) -> bool:
        """Take a token if there is one."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def take(self) -> float:
        """Take a token, borrowing it when there is none: the seconds until it is there (0 now)."""
        self._refill()
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class Pacer:
    """One charge point's pace: its bucket, the frames it sent ahead, and the log lines about it."""

    def __init__(self, cp_id: str, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.cp_id = cp_id
        self.rate = rate
        self.bucket = TokenBucket(rate, rate, clock)
        self._clock = clock
        #: Frames received while an earlier one was held back, oldest first.
        self.held: deque[str] = deque()
        self._held_bytes = 0
        self.slowed = 0  # frames held back since the last line about it
        self.refused = 0  # frames refused since the last line about it
        self._slowed_logged_at = self._refused_logged_at = -LOG_INTERVAL

    def delay(self) -> float:
        """Seconds the next frame must wait for its token."""
        wait = self.bucket.take()
        if wait > 0:
            self.slowed += 1
            self._log()
        return wait

    def hold(self, text: str) -> bool:
        """Keep a frame that came while another was held back; False when beyond the bound."""
        if len(self.held) >= HELD_FRAMES or self._held_bytes + len(text) > HELD_BYTES:
            self.refused += 1
            self._log()
            return False
        self.held.append(text)
        self._held_bytes += len(text)
        return True

    def next_held(self) -> str | None:
        if not self.held:
            return None
        text = self.held.popleft()
        self._held_bytes -= len(text)
        return text

    def _log(self) -> None:
        """One line per LOG_INTERVAL for being slowed down (INFO), one for refusals (WARNING)."""
        now = self._clock()
        if self.refused and now - self._refused_logged_at >= LOG_INTERVAL:
            self._refused_logged_at = now
            log.warning(
                "%s sends calls without waiting for the answers, more than %d calls per second:"
                " %d refused with CallError GenericError (OCPP_MAX_CALLS_PER_SECOND)",
                self.cp_id,
                self.rate,
                self.refused,
            )
            self.refused = 0
        elif self.slowed and not self.refused and now - self._slowed_logged_at >= LOG_INTERVAL:
            self._slowed_logged_at = now
            log.info(
                "%s sends more than %d calls per second: answering it at that rate (%d calls slowed down)",
                self.cp_id,
                self.rate,
                self.slowed,
            )
            self.slowed = 0
