"""Charger profiles: what OCPP does not tell about a charge point, and what real models need.

The operator's ``OCPP_CHARGE_POINTS_FILE`` (TOML, docs/charger-profiles.md) and the shipped table of
known model quirks (``known_chargers.toml``, same format) hold ``[defaults]``, ``[[models]]`` rules
matched against the BootNotification (shell-style patterns, case-insensitive) and
``[charge_points."<id>"]``. :meth:`ChargerProfiles.resolve` layers them: the environment's ``base``
< ``[defaults]`` < every matching model rule in order (the shipped ones first) < the charge point's
own table. A bad file is refused with :class:`ProfileError`: one line naming the file, the line and
the dotted field. Pure: no I/O except :func:`load_profiles` and reading the shipped table.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Final

from ocpp.v16.enums import Measurand

from common.toml_lines import TomlLines
from common.watched_file import FileContentError

_log = logging.getLogger(__name__)

SETTING: Final = "OCPP_CHARGE_POINTS_FILE"
#: The shipped table of known model quirks.
KNOWN_CHARGERS: Final = Path(__file__).with_name("known_chargers.toml")
MEASURANDS: Final[frozenset[str]] = frozenset(str(member.value) for member in Measurand)
RULE_KEYS: Final = ("vendor", "model", "firmware", "source")

_Path = tuple[str | int, ...]  # keys, and entry indexes of [[arrays]]
_Report = Callable[[_Path, str], None]


@dataclass(frozen=True, slots=True)
class ChargerProfile:
    """Facts and overrides for one charge point; None means "not said here"."""

    phases: int | None = None  # 1..3, for W <-> A
    voltage: float | None = None  # V per phase
    min_current: float | None = None  # A per phase; a limit below it pauses charging
    max_current: float | None = None  # A per phase; "no limit" periods use it
    max_stack_level: int | None = None  # use only stack levels up to this
    onboarding: bool | None = None  # False: leave the charge point's configuration alone
    rate_unit: str | None = None  # "A" or "W": overrides what the charge point reports
    profile_kind: str | None = None  # "Absolute" or "Relative"
    measurands: tuple[str, ...] | None = None  # onboarding's MeterValuesSampledData
    meter_interval: int | None = None  # s, onboarding's MeterValueSampleInterval (0: leave it)

    def merged(self, over: ChargerProfile) -> ChargerProfile:
        """This profile with every field that ``over`` says (not None) taken from ``over``."""
        values = {f.name: getattr(over, f.name) for f in fields(self)}
        return ChargerProfile(**{n: getattr(self, n) if v is None else v for n, v in values.items()})

    def said(self) -> dict[str, object]:
        """The fields that are set, for a log line."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


class ProfileError(FileContentError):
    """A charge points file (or the shipped table) that cannot be used; ``str()`` is one line:
    ``<origin> line <n>: <dotted field>: <problem>``."""

    def __init__(
        self,
        origin: str,
        line: int | None,
        field: str | None,
        problem: str,
        *,
        column: int | None = None,
        more: int = 0,
    ) -> None:
        where = origin if line is None else f"{origin} line {line}" + ("" if column is None else f" column {column}")
        text = f"{where}: {field}: {problem}" if field else f"{where}: {problem}"
        if more:
            text += f" (and {more} more problem{'s' if more > 1 else ''} after it)"
        super().__init__(text)
        self.origin, self.line, self.field, self.problem = origin, line, field, problem


@dataclass(frozen=True, slots=True)
class ModelRule:
    """A ``[[models]]`` entry: patterns on the BootNotification and the profile they bring."""

    vendor: str | None  # pattern on chargePointVendor
    model: str | None  # pattern on chargePointModel
    firmware: str | None  # pattern on firmwareVersion
    profile: ChargerProfile
    source: str | None = None  # where the fact comes from
    origin: str = ""  # the file it was read from
    line: int = 0  # of its [[models]] header

    def matches(self, vendor: str | None, model: str | None, firmware: str | None) -> bool:
        """Every pattern given matches (case-insensitively); an unknown value matches no pattern."""
        return all(
            pattern is None or (value is not None and fnmatchcase(value.casefold(), pattern.casefold()))
            for pattern, value in ((self.vendor, vendor), (self.model, model), (self.firmware, firmware))
        )

    @property
    def label(self) -> str:
        """``known_chargers.toml line 12 (vendor="ABB" model="*TAC*")``, for a log line."""
        said = (
            f"{n}={json.dumps(p)}"
            for n, p in zip(RULE_KEYS, (self.vendor, self.model, self.firmware), strict=False)
            if p is not None
        )
        return f"{self.origin} line {self.line} ({' '.join(said)})"


@dataclass(frozen=True)
class ChargerProfiles:
    """Everything a charge points file (with the shipped table) says."""

    defaults: ChargerProfile = ChargerProfile()
    models: tuple[ModelRule, ...] = ()
    charge_points: Mapping[str, ChargerProfile] = field(default_factory=lambda: MappingProxyType({}))
    _warned: set[tuple[str, float, float]] = field(default_factory=set, compare=False, repr=False)

    def resolve(
        self, cp_id: str, vendor: str | None, model: str | None, firmware: str | None, base: ChargerProfile
    ) -> ChargerProfile:
        """base (from the environment) < [defaults] < every matching model rule in file order
        < [charge_points.<id>]. A minimum current above the maximum (possible only when a model
        rule and a charge point's table set one each) is lowered to the maximum, with a warning."""
        profile = base.merged(self.defaults)
        for rule in self.models:
            if rule.matches(vendor, model, firmware):
                profile = profile.merged(rule.profile)
        profile = profile.merged(self.charge_points.get(cp_id, ChargerProfile()))
        low, high = profile.min_current, profile.max_current
        if low is not None and high is not None and low > high:
            if (cp_id, low, high) not in self._warned:
                self._warned.add((cp_id, low, high))
                sources = ", ".join(self.source_of(cp_id, vendor, model, firmware))
                problem = f"min_current {_show(low)} A is above max_current {_show(high)} A ({sources})"
                _log.warning("charge point %s: %s; using %s A as the minimum", cp_id, problem, _show(high))
            profile = profile.merged(ChargerProfile(min_current=high))
        return profile

    def source_of(self, cp_id: str, vendor: str | None, model: str | None, firmware: str | None) -> tuple[str, ...]:
        """Which parts of the files apply to this charge point, in the order they are applied."""
        parts = ["[defaults]"] if self.defaults != ChargerProfile() else []
        parts += [rule.label for rule in self.models if rule.matches(vendor, model, firmware)]
        if cp_id in self.charge_points:
            parts.append(f"[charge_points.{json.dumps(cp_id)}]")
        return tuple(parts)


def combined(shipped: ChargerProfiles, operator: ChargerProfiles) -> ChargerProfiles:
    """The shipped table extended and overridden by the operator's file: its model rules come
    after the shipped ones, so they win where both say something."""
    return ChargerProfiles(
        defaults=shipped.defaults.merged(operator.defaults),
        models=shipped.models + operator.models,
        charge_points=MappingProxyType({**shipped.charge_points, **operator.charge_points}),
    )


@cache
def shipped_profiles() -> ChargerProfiles:
    """The shipped table, parsed once."""
    return parse_profiles(KNOWN_CHARGERS.read_text(encoding="utf-8"), KNOWN_CHARGERS.name, require_source=True)


def parse_charge_points_file(data: bytes | str, path: Path) -> ChargerProfiles:
    """The operator's file's content combined with the shipped table (for ``WatchedFile``)."""
    origin = f"{SETTING} {path}"
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ProfileError(origin, None, None, f"not UTF-8 text (byte {error.start})") from None
    return combined(shipped_profiles(), parse_profiles(data, origin))


def load_profiles(path: Path | None) -> ChargerProfiles:
    """The operator's file (None: no file) combined with the shipped table; ProfileError if bad."""
    if path is None:
        return shipped_profiles()
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ProfileError(f"{SETTING} {path}", None, None, f"cannot read it: {error.strerror or error}") from None
    return parse_charge_points_file(data, path)


def parse_profiles(text: str, origin: str, *, require_source: bool = False) -> ChargerProfiles:
    """Parse one file in the charge points format; ``origin`` names it in errors."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _syntax_error(error, text, origin) from None
    problems: list[tuple[_Path, str]] = []

    def report(path: _Path, problem: str) -> None:
        problems.append((path, problem))

    defaults = ChargerProfile()
    models: list[ModelRule] = []
    charge_points: dict[str, ChargerProfile] = {}
    for key, value in document.items():
        if key == "defaults" and isinstance(value, dict):
            defaults = _profile(value, ("defaults",), report)
        elif key == "models" and isinstance(value, list):
            for index, (entry, line) in enumerate(zip(value, _model_lines(text, len(value)), strict=True)):
                if isinstance(entry, dict):
                    models.append(_model_rule(entry, index, report, require_source, origin, line))
                else:
                    report(("models", index), f"must be a [[models]] table, not {_show(entry)}")
        elif key == "charge_points" and isinstance(value, dict):
            for cp_id, table in value.items():
                if isinstance(table, dict) and cp_id:
                    charge_points[cp_id] = _profile(table, ("charge_points", cp_id), report)
                else:
                    report(("charge_points", cp_id), f"must be a table with a non-empty id, not {_show(table)}")
        elif key in _TABLES:
            report((key,), f"must be {_TABLES[key]}, not {_show(value)}")
        else:
            report((key,), "unknown table" + _did_you_mean(key, tuple(_TABLES)))
    _check_currents(defaults, defaults, ("defaults",), report)
    for index, rule in enumerate(models):
        _check_currents(defaults.merged(rule.profile), rule.profile, ("models", index), report)
    for cp_id, profile in charge_points.items():
        _check_currents(defaults.merged(profile), profile, ("charge_points", cp_id), report)
    if problems:  # located only now: finding the lines costs more than parsing
        lines = TomlLines(text)
        path, problem = min(problems, key=lambda found: lines.of(found[0]))
        raise ProfileError(origin, lines.of(path), _dotted(path), problem, more=len(problems) - 1)
    return ChargerProfiles(defaults, tuple(models), MappingProxyType(charge_points))


_MODELS_HEADER: Final = re.compile(r"\s*\[\[\s*models\s*\]\]\s*(#.*)?")


def _model_lines(text: str, count: int) -> list[int]:
    """The line of each ``[[models]]`` header: the usual spelling found quickly, else located."""
    found = [number for number, line in enumerate(text.splitlines(), 1) if _MODELS_HEADER.fullmatch(line)]
    return found if len(found) == count else [TomlLines(text).of(("models", index)) for index in range(count)]


_TABLES: Final = {
    "defaults": "a table [defaults]",
    "models": "[[models]] tables",
    "charge_points": 'tables [charge_points."<id>"]',
}


def _syntax_error(error: tomllib.TOMLDecodeError, text: str, origin: str) -> ProfileError:
    """tomllib's own position kept: ``(at line 3, column 9)``, or the last line at the end."""
    found = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", str(error))
    if found is not None:
        return ProfileError(origin, int(found[2]), None, f"TOML syntax: {found[1]}", column=int(found[3]))
    message = str(error).removesuffix(" (at end of document)")
    return ProfileError(origin, max(1, len(text.splitlines())), None, f"TOML syntax: {message} at the end")


def _model_rule(
    table: dict[str, object], index: int, report: _Report, require_source: bool, origin: str, line: int
) -> ModelRule:
    path: _Path = ("models", index)
    texts: dict[str, str] = {}
    for name in RULE_KEYS:
        value = table.get(name)
        if isinstance(value, str):
            texts[name] = value
        elif value is not None:
            report((*path, name), f"must be a text, not {_show(value)}")
    if "vendor" not in table and "model" not in table:
        report(path, "needs vendor or model (patterns on the BootNotification's chargePointVendor, chargePointModel)")
    if require_source and not texts.get("source", "").strip():
        report((*path, "source"), "every entry of the shipped table needs its source (URL and the fact)")
    profile = _profile({k: v for k, v in table.items() if k not in RULE_KEYS}, path, report, extra=RULE_KEYS)
    vendor, model, firmware, source = (texts.get(name) for name in RULE_KEYS)
    return ModelRule(vendor, model, firmware, profile, source, origin, line)


class _Invalid(Exception):
    """A field's value is refused; the message says what was expected."""


def _profile(table: dict[str, object], path: _Path, report: _Report, extra: tuple[str, ...] = ()) -> ChargerProfile:
    values: dict[str, object] = {}
    for key, value in table.items():
        check = _FIELDS.get(key)
        if check is None:
            report((*path, key), "unknown field" + _did_you_mean(key, (*_FIELDS, *extra)))
            continue
        try:
            values[key] = check(value)
        except _Invalid as invalid:
            report((*path, key), str(invalid))
    return ChargerProfile(**values)  # type: ignore[arg-type]  # each value checked by its _FIELDS entry


def _check_currents(merged: ChargerProfile, own: ChargerProfile, path: _Path, report: _Report) -> None:
    """min_current <= max_current, within a table and with [defaults] under it; reported where
    the table says the second of the two."""
    low, high = merged.min_current, merged.max_current
    if low is None or high is None or low <= high or (own.min_current is None and own.max_current is None):
        return
    if own.min_current is not None and own.max_current is not None:
        report((*path, "max_current"), f"must be at least min_current ({_show(low)}), not {_show(high)}")
    elif own.max_current is not None:
        report((*path, "max_current"), f"must be at least min_current of [defaults] ({_show(low)}), not {_show(high)}")
    else:
        report((*path, "min_current"), f"must be at most max_current of [defaults] ({_show(high)}), not {_show(low)}")


def _whole(low: int, high: int | None, expected: str) -> Callable[[object], int]:
    def check(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Invalid(f"must be a whole number, not {_show(value)}")
        if value < low or (high is not None and value > high):
            raise _Invalid(f"must be {expected}, not {value}")
        return value

    return check


def _number(low: float, *, strict: bool) -> Callable[[object], float]:
    def check(value: object) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise _Invalid(f"must be a number, not {_show(value)}")
        if value < low or (strict and value == low):
            raise _Invalid(f"must be {'above' if strict else 'at least'} {_show(low)}, not {_show(value)}")
        return float(value)

    return check


def _choice(*choices: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if value not in choices:
            raise _Invalid(f"must be {' or '.join(json.dumps(c) for c in choices)}, not {_show(value)}")
        return str(value)

    return check


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"must be true or false, not {_show(value)}")
    return value


def _measurands(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _Invalid(
            f'must be a non-empty array of OCPP 1.6 measurands, e.g. ["Power.Active.Import"], not {_show(value)}'
        )
    for item in value:
        if not isinstance(item, str) or item not in MEASURANDS:
            raise _Invalid(f"{_show(item)} is not an OCPP 1.6 measurand" + _did_you_mean(str(item), sorted(MEASURANDS)))
    if len(set(value)) < len(value):
        raise _Invalid("lists a measurand twice")
    return tuple(value)


_FIELDS: Final[dict[str, Callable[[object], object]]] = {
    "phases": _whole(1, 3, "1, 2 or 3"),
    "voltage": _number(0, strict=True),
    "min_current": _number(0, strict=False),
    "max_current": _number(0, strict=True),
    "max_stack_level": _whole(0, None, "0 or more"),
    "onboarding": _flag,
    "rate_unit": _choice("A", "W"),
    "profile_kind": _choice("Absolute", "Relative"),
    "measurands": _measurands,
    "meter_interval": _whole(0, None, "0 or more"),
}


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "an array" if isinstance(value, list) else "a table" if isinstance(value, dict) else type(value).__name__


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]}?)" if close else f"; expected one of {', '.join(choices)}"


def _dotted(path: _Path) -> str:
    """``charge_points."CP_1".phases``, ``models[2].vendor`` (entries counted from 1)."""
    text = ""
    for position, key in enumerate(path):
        if isinstance(key, int):
            text += f"[{key + 1}]"
        elif (position == 1 and path[0] == "charge_points") or not re.fullmatch(r"[A-Za-z0-9_-]+", key):
            text += "." + json.dumps(key)
        else:
            text += ("." if text else "") + key
    return text
