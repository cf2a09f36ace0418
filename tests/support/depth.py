"""How deep the property tests search: all their examples (``make test``, CI), or a tenth of them
with ``TEST_DEPTH=quick`` (``make test-unit``, the edit-run loop: seconds, not a minute)."""

from __future__ import annotations

import os

QUICK = os.environ.get("TEST_DEPTH", "").strip().lower() == "quick"


def examples(full: int, quick_at_least: int = 10) -> int:
    """``max_examples`` for a property test that runs ``full`` examples in a full run."""
    return max(quick_at_least, full // 10) if QUICK else full
