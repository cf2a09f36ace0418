"""Fixtures for end-to-end tests: the real connector and an MQTT observer (the broker fixture is
in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import Broker, Connector, Observer


@pytest.fixture
def connector(tmp_path: Path, broker: Broker) -> Iterator[Connector]:
    connector = Connector(tmp_path, broker.port)
    connector.start()
    yield connector
    connector.stop()


@pytest.fixture
def observer(broker: Broker, connector: Connector) -> Iterator[Observer]:
    observer = Observer(broker.port, connector.name)
    yield observer
    observer.close()
