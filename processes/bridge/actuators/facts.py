"""What the runner knows beyond a write: the facts a power limit is fitted to (from the gateway's
``charge_point`` command) and the last limits BEMCom wrote (restored after the failsafe, renewed
as leases, kept in a file across restarts)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from common.schemas import V16
from processes.bridge.actuators.plan import Facts
from processes.bridge.actuators.table import ActuatorKey, parse_actuator_key
from processes.bridge.actuators.values import removes_limit

log = logging.getLogger(__name__)


#: A per phase, for "no limit" periods when the charger profile gives no ``max_current``.
DEFAULT_MAX_CURRENT = 32.0


def as_object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def phases_of_rotation(rotation: Any) -> int | None:
    """1 when ``ConnectorPhaseRotation`` says ``NotApplicable`` (single phase, OCPP 1.6 section
    9.1.10) for every connector it names; None when it does not tell (three phases or unknown)."""
    if not isinstance(rotation, list) or not rotation:
        return None
    kinds = {str(item).split(".", 1)[-1].strip() for item in rotation}
    return 1 if kinds == {"NotApplicable"} else None


def charger_facts(
    profile: dict[str, Any],
    capabilities: dict[str, Any],
    transactions: Any,
    limits: dict[int, float],
    version: str = V16,
) -> Facts:
    """The :class:`Facts` of a charge point from the gateway's answer (the charger profile wins
    over what the charge point reported), ignoring what does not fit. Transaction ids are whole
    numbers in OCPP 1.6, strings (up to 36 characters) in 2.0.1."""

    def number(value: Any, low: float) -> float | None:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= low else None

    def whole(value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

    # The profile's max_stack_level restricts ("use only levels up to this"): the lower of the two.
    levels = [level for level in (whole(profile.get("max_stack_level")), whole(capabilities.get("max_stack_level")))]
    known = [level for level in levels if level is not None]
    highest = min(known) if known else None

    def transaction(value: Any) -> int | str | None:
        if version == V16:
            return whole(value)
        return value if isinstance(value, str) and 0 < len(value) <= 36 else None

    pairs = tuple(
        (pair[0], found)
        for pair in transactions or ()
        if isinstance(pair, list | tuple)
        and len(pair) == 2
        and whole(pair[0]) is not None
        and (found := transaction(pair[1])) is not None
    )
    kind = profile.get("profile_kind")
    return Facts(
        max_stack_level=highest,
        min_current=number(profile.get("min_current"), 0) or 0.0,
        max_current=number(profile.get("max_current"), 0.1) or DEFAULT_MAX_CURRENT,
        max_periods=whole(capabilities.get("max_periods")) or None,
        profile_kind=kind if kind in ("Absolute", "Relative") else "Absolute",
        transactions=pairs,
        limits=tuple(sorted(limits.items())),
    )


#: The actuators whose last value is kept: what BEMCom wants in force on the charge point.
KEPT_KINDS = ("execute_send_charging_profile", "execute_send_charging_schedule", "execute_charge_point_max_power")


class LastLimits:
    """cp -> actuator key -> the last value written (accepted) of a limit actuator, in a JSON
    file (``state_path``) so a restarted bridge renews and restores them too."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._values: dict[str, dict[str, Any]] = {}
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                log.error("The bridge's last limits (%s) cannot be read (%s); starting without them", path, error)
                loaded = {}
            if isinstance(loaded, dict):
                self._values = {cp: keys for cp, keys in loaded.items() if isinstance(keys, dict)}

    def charge_points(self) -> list[str]:
        return [cp for cp, keys in self._values.items() if keys]

    def of(self, cp: str) -> list[tuple[ActuatorKey, Any]]:
        found = []
        for key, value in self._values.get(cp, {}).items():
            actuator = parse_actuator_key(key)
            if actuator is not None and actuator.cp == cp:
                found.append((actuator, value))
        return found

    def written(self, actuator: ActuatorKey, value: Any) -> None:
        keys = self._values.setdefault(actuator.cp, {})
        if actuator.kind == "execute_clear_charging_profile":
            for kind in KEPT_KINDS[:2]:
                keys.pop(f"{actuator.cp}__{actuator.connector}__{kind}", None)
        elif actuator.kind in KEPT_KINDS:
            if removes_limit(value):
                keys.pop(actuator.key, None)
            else:
                keys[actuator.key] = value
        else:
            return
        self._save()

    def _save(self) -> None:
        if self._path is None:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self._path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self._values), encoding="utf-8")
            temporary.replace(self._path)
        except OSError as error:
            log.error("The bridge's last limits cannot be kept in %s: %s", self._path, error)
