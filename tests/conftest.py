"""What every layer of the suite shares: each test marked with its layer, and a real mosquitto on a
free port (the ``broker`` fixture, for tests/component and tests/e2e; tests/unit/conftest.py
refuses it, as it refuses every socket and subprocess).

The layers, by directory:
- tests/unit: pure (no sockets, no subprocesses); no marker, so ``-m "not component and not e2e"``
  selects exactly these;
- tests/component (marker ``component``): real sockets, ZeroMQ, websockets, mosquitto, tools run
  as subprocesses (openssl, hadolint);
- tests/e2e (marker ``e2e``): the real processes under supervisord;
- tests/image (marker ``image``, opt-in with RUN_IMAGE_TESTS=1): the container image built and run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from bench.harness import Broker
from tests.support.depth import QUICK

if QUICK:  # TEST_DEPTH=quick (make test-unit): a tenth of the examples where a test names none
    settings.register_profile("quick", max_examples=10)
    settings.load_profile("quick")

TESTS = Path(__file__).resolve().parent
LAYER_MARKERS = {"component": pytest.mark.component, "e2e": pytest.mark.e2e, "image": pytest.mark.image}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        layer = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        if layer in LAYER_MARKERS:
            item.add_marker(LAYER_MARKERS[layer])


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path)
    broker.start()
    yield broker
    broker.stop()
