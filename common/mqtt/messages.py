"""What crosses the link: a received message, and the one JSON encoder of every payload sent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class MqttMessage:
    topic: str
    payload: bytes
    retain: bool


#: One encoder for every payload (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=str)


def to_json(payload: Any) -> str:
    """BEMCom parses every payload as JSON: never publish anything else (no NaN either)."""
    return _ENCODER.encode(payload)
