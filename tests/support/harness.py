"""The harness moved to :mod:`bench.harness` (development code shared by tests/ and bench/);
re-exported here for code that still imports it from its old place."""

from __future__ import annotations

from bench.harness import *  # noqa: F403
from bench.harness import __all__ as __all__
