"""How ``busctl`` shows bus messages and command results: pure functions, no sockets.

Two forms: JSON lines (for pipes and ``jq``) and a one-line readable form for a terminal.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from common.bus import Event, GatewayAlive, LogEntry, Message, RawFrame, to_dict

#: Prefixes ``tail`` subscribes to when none is given: everything but the gateway's heartbeat.
DEFAULT_PREFIXES = ("event.", "raw.", "log.")


def clock(ms: int | None, with_date: bool = False) -> str:
    """Local wall-clock time of a millisecond timestamp (``-`` when unknown)."""
    if not isinstance(ms, int) or ms <= 0:
        return "-"
    seconds, millis = divmod(ms, 1000)
    text = time.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S", time.localtime(seconds))
    return f"{text}.{millis:03d}"


def age(ms: int | None, now_ms: int) -> str:
    """How long ago, roughly: ``4 s``, ``12 min``, ``3 h``, ``2 d``."""
    if not isinstance(ms, int) or ms <= 0:
        return "-"
    seconds = max(0, (now_ms - ms) // 1000)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def shorten(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    flat = " ".join(text.split())
    if width <= 0 or len(flat) <= width:
        return flat
    return flat[: max(0, width - 1)] + "…"


def compact(value: Any) -> str:
    """A value as short text: strings bare, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def pairs(payload: Mapping[str, Any]) -> str:
    """``key=value`` pairs of a payload's top level."""
    return " ".join(f"{key}={compact(value)}" for key, value in payload.items())


def meter_text(payload: Mapping[str, Any]) -> str:
    """MeterValues in short: connector, transaction and ``measurand[phase]=value unit`` per sample."""
    head = {key: value for key, value in payload.items() if key != "meter_value"}
    samples = []
    for meter_value in payload.get("meter_value") or []:
        for sampled in meter_value.get("sampled_value") or []:
            name = sampled.get("measurand", "Energy.Active.Import.Register")
            phase = f"[{sampled['phase']}]" if sampled.get("phase") else ""
            samples.append(f"{name}{phase}={sampled.get('value')} {sampled.get('unit', '')}".rstrip())
    return " ".join([pairs(head), *samples]).strip()


def matches(message: Message, charge_points: Iterable[str]) -> bool:
    """True when no charge point filter is given, or the message's ``cp`` field is one of them.

    The id comes from the payload, never from the topic: ids may contain dots."""
    wanted = set(charge_points)
    if not wanted:
        return True
    cp = getattr(message, "cp", None)
    return isinstance(cp, str) and cp in wanted


def as_json(topic: bytes, message: Message) -> str:
    """One JSON line: the decoded payload with its ``t`` tag, plus the topic."""
    body = {"topic": topic.decode("utf-8", errors="replace"), **to_dict(message)}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)


def describe(message: Message) -> tuple[str, str, str, str]:
    """(kind, name, charge point, detail) of a message, for the readable form."""
    if isinstance(message, Event):
        detail = meter_text(message.payload) if message.kind == "MeterValues" else pairs(message.payload)
        if message.ctx:
            detail += f"  ctx: {pairs(message.ctx)}"
        return "event", message.kind, message.cp, detail
    if isinstance(message, RawFrame):
        arrow = "in  ←" if message.direction == "in" else "out →"
        return "raw", arrow, message.cp, message.frame
    if isinstance(message, GatewayAlive):
        heads = " ".join(f"{stream}={head}" for stream, head in sorted(message.heads.items()))
        return "alive", f"run {message.run}", "-", f"{message.charge_points} charge points, heads {heads}"
    log_entry: LogEntry = message
    return "log", f"{log_entry.process} {logging.getLevelName(log_entry.level)}", "-", log_entry.msg


def as_line(message: Message, width: int = 160) -> str:
    """The readable one-line form: time, kind, name, charge point, sequence number, short payload."""
    kind, name, cp, detail = describe(message)
    seq = getattr(message, "seq", None)
    head = f"{clock(message.ts)} {kind:<5} {name:<26} {cp:<12} {'#' + str(seq) if seq is not None else '':>7}  "
    return head + shorten(detail, width - len(head))


def connectors_text(connectors: Mapping[str, Any]) -> str:
    """``1:Charging 2:Available``, connectors in numeric order."""

    def order(item: tuple[str, Any]) -> tuple[int, str]:
        key = item[0]
        return (int(key), key) if key.isdigit() else (1 << 30, key)

    return " ".join(f"{number}:{state}" for number, state in sorted(connectors.items(), key=order)) or "-"


def status_rows(result: Mapping[str, Any], now_ms: int) -> list[list[str]]:
    """One row per connected charge point, with a header row first."""
    rows = [["CHARGE POINT", "CONNECTORS", "LAST MESSAGE", "CONNECTED SINCE", "MODEL"]]
    for cp in result.get("charge_points", []):
        boot = cp.get("boot") or {}
        model = " ".join(str(boot.get(field, "")) for field in ("charge_point_vendor", "charge_point_model")).strip()
        rows.append(
            [
                str(cp.get("id")),
                connectors_text(cp.get("connectors") or {}),
                f"{clock(cp.get('last_message'))} ({age(cp.get('last_message'), now_ms)} ago)",
                clock(cp.get("connected_since"), with_date=True),
                model or "-",
            ]
        )
    return rows


def table(rows: list[list[str]]) -> str:
    """Rows as left-aligned columns separated by two spaces."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def status_text(result: Mapping[str, Any], now_ms: int) -> str:
    """The gateway's ``status`` result for a terminal: a summary line, then a table."""
    heads = result.get("heads") or {}
    points = result.get("charge_points") or []
    summary = (
        f"gateway run {result.get('run')} since {clock(result.get('started'), with_date=True)}; "
        f"{len(points)} charge point{'s' if len(points) != 1 else ''} connected; "
        + ", ".join(f"{stream} head {head}" for stream, head in sorted(heads.items()))
    )
    dropped = {stream: count for stream, count in (result.get("dropped") or {}).items() if count}
    if dropped:
        summary += "; dropped " + ", ".join(f"{stream} {count}" for stream, count in sorted(dropped.items()))
    if not points:
        return summary
    return summary + "\n\n" + table(status_rows(result, now_ms))
