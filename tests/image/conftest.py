"""The image tests are opt-in: they install podman (apt-get), build the image (minutes) and run it.

``RUN_IMAGE_TESTS=1`` enables them (``make test-image`` sets it); without it every test marked
``image`` is skipped, saying so in pytest's summary (``-ra``), so a skip is never a silent pass.
"""

from __future__ import annotations

import os

import pytest

ENABLED = os.environ.get("RUN_IMAGE_TESTS") == "1"
REASON = (
    "image test is opt-in: set RUN_IMAGE_TESTS=1 (or run `make test-image`) to build the image with podman "
    "(scripts/podman-image.sh, a few minutes) and run it"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ENABLED:
        return
    skip = pytest.mark.skip(reason=REASON)
    for item in items:
        if item.get_closest_marker("image") is not None:
            item.add_marker(skip)
