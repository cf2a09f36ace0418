"""When to try the broker again, and what to log about it: one warning per outage, not per try.

Two kinds of failure, two answers:
- **gone**: no TCP connection (refused, unreachable, timed out, no address): the broker is down
  or restarting. Tried again every GONE_RETRY seconds, jittered a little, however long it is
  away, so that publishing resumes within a second of the broker accepting connections.
- **refused**: a TCP connection was made, but no CONNACK accepted it (bad credentials, not
  authorised, a TLS failure, a broker closing the connection at once, overloaded): backs off
  from FIRST_REFUSED_DELAY, doubling, capped at ``MQTT_RECONNECT_MAX_DELAY``, each pause
  jittered down to 3/4 of it (never longer than the cap).

A connection the broker accepted starts afresh: the first try after losing it comes at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable

#: Seconds between tries while the broker is gone, before jitter (up to GONE_JITTER more).
GONE_RETRY = 0.5
GONE_JITTER = 0.5
#: The first pause after a refusal; it doubles up to the cap.
FIRST_REFUSED_DELAY = 1.0
#: The most the first try after losing a working connection waits (spreads many clients).
AFTER_LOSS_JITTER = 0.1


class ReconnectPolicy:
    """The pause before the next try, by what the last one met. Pure: tests pass ``rand``."""

    def __init__(self, cap: float, rand: Callable[[], float] = random.random) -> None:
        self.cap = cap
        self._rand = rand
        self._refused_delay = min(FIRST_REFUSED_DELAY, cap)

    def gone(self) -> float:
        """No TCP connection: the broker is down; try again soon."""
        return GONE_RETRY * (1 + GONE_JITTER * self._rand())

    def refused(self) -> float:
        """The broker is there but did not accept this client: back off, capped."""
        delay = self._refused_delay
        self._refused_delay = min(2 * delay, self.cap)
        return delay * (1 - 0.25 * self._rand())

    def accepted(self) -> float:
        """A connection the broker accepted was lost: start afresh, try again at once."""
        self._refused_delay = min(FIRST_REFUSED_DELAY, self.cap)
        return AFTER_LOSS_JITTER * self._rand()


class OutageLog:
    """What the link logs while the broker is away: the first failure of an outage as a warning
    (and a refusal whose reason changes), every further try at DEBUG; when connected again, how
    long it was away. ``warn``/``debug`` take the message already formatted."""

    def __init__(self, broker: str, warn: Callable[[str], None], debug: Callable[[str], None]) -> None:
        self.broker = broker
        self._warn = warn
        self._debug = debug
        self.away_since: float | None = None
        self._warned = False
        self._refusal: str | None = None

    def lost(self, reason: str, now: float) -> None:
        self.away_since = now
        self._warned = True
        self._warn(f"Lost the MQTT broker {self.broker} ({reason}); reconnecting")

    def gone(self, error: str, now: float) -> None:
        if self.away_since is None:
            self.away_since = now
        if self._warned:
            self._debug(f"MQTT broker {self.broker} still unreachable ({error})")
        else:
            self._warned = True
            self._warn(f"MQTT broker {self.broker} unreachable ({error}); retrying every {GONE_RETRY:g} s")

    def refused(self, reason: str, now: float) -> None:
        if self.away_since is None:
            self.away_since = now
        if reason == self._refusal:
            self._debug(f"MQTT broker {self.broker} refused the connection again: {reason}")
        else:
            self._refusal = reason
            self._warned = True
            self._warn(f"MQTT broker {self.broker} refused the connection: {reason}; retrying with back-off")

    def connected(self, now: float) -> float | None:
        """Seconds it was away (None if it never was); the next failure starts a new outage."""
        away = None if self.away_since is None else now - self.away_since
        self.away_since, self._warned, self._refusal = None, False, None
        return away
