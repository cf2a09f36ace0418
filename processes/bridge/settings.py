"""The bridge's settings: ``common.settings.load_bridge`` with the names of the actuator table,
which ``OCPP_CONFIG`` selects from."""

from __future__ import annotations

from collections.abc import Mapping

from common.settings import BridgeSettings, load_bridge
from processes.bridge.actuators.table import ACTUATOR_KINDS


def load_bridge_settings(env: Mapping[str, str]) -> BridgeSettings:
    return load_bridge(env, ACTUATOR_KINDS)
