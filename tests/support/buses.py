"""Stand-ins for the gateway's bus publisher in pure session tests (``SessionBus``)."""

from __future__ import annotations

from typing import Any


class RecordingBus:
    """Records the events a session emits; raw frames ignored; every commit done at once."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def emit_event(self, cp: str, kind: str, payload: dict[str, Any], ctx: dict[str, Any] | None = None) -> None:
        self.events.append((kind, payload, ctx or {}))

    def emit_raw(self, cp: str, direction: str, frame: str) -> None:
        pass

    async def committed(self) -> None:
        pass
