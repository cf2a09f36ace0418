"""The id tags file (``OCPP_ID_TAGS_FILE``, docs/authorization.md): who may charge.

TOML, one table per id tag, every field optional::

    [id_tags."04A2B3C4D5"]
    status = "Accepted"        # Accepted (the default) | Blocked | Expired | Invalid
    expiry = 2027-06-30T00:00:00Z
    parent = "FLEET-1"         # parentIdTag

Id tags are OCPP ``IdToken``s: at most 20 characters, compared without regard to case (so a file
may not list one tag twice in two spellings). A bad file is refused with :class:`IdTagsError`, one
line naming the file, the line and the field (``id_tags."04A2".expiry: ...``), as the charge
points file is (``charger_profiles.py``). Pure: parsing only.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

from common.toml_lines import TomlLines
from processes.gateway.charger_profiles import ProfileError

SETTING: Final = "OCPP_ID_TAGS_FILE"
#: OCPP 1.6 IdToken: CiString20Type.
MAX_LENGTH: Final = 20
#: What the file may say of a tag (AuthorizationStatus without ConcurrentTx, which only a
#: StartTransaction can get).
STATUSES: Final = ("Accepted", "Blocked", "Expired", "Invalid")
FIELDS: Final = ("status", "expiry", "parent")


class IdTagsError(ProfileError):
    """An id tags file that cannot be used; ``str()`` is one line:
    ``OCPP_ID_TAGS_FILE <path> line <n>: <dotted field>: <problem>``."""


def tag_key(id_tag: str) -> str:
    """How id tags are compared: OCPP's IdToken is case-insensitive."""
    return id_tag.casefold()


@dataclass(frozen=True, slots=True)
class IdTag:
    """One id tag of the file, as written."""

    id_tag: str
    status: str = "Accepted"
    expiry: dt.datetime | None = None  # aware
    parent: str | None = None


@dataclass(frozen=True)
class IdTags:
    """Every id tag of the file, by :func:`tag_key`."""

    tags: Mapping[str, IdTag] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, id_tag: str) -> IdTag | None:
        return self.tags.get(tag_key(id_tag))

    def __len__(self) -> int:
        return len(self.tags)


def of(*tags: IdTag) -> IdTags:
    """IdTags holding these (the last of two spellings of a tag wins), for tests and tools."""
    return IdTags(MappingProxyType({tag_key(tag.id_tag): tag for tag in tags}))


def parse_id_tags_file(data: bytes | str, path: Path | str) -> IdTags:
    """The file's content (for ``WatchedFile``), or IdTagsError naming its line and field."""
    origin = f"{SETTING} {path}"
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise IdTagsError(origin, None, None, f"not UTF-8 text (byte {error.start})") from None
    return parse_id_tags(data, origin)


def load_id_tags(path: Path) -> IdTags:
    """Read and parse the file; IdTagsError if it is unreadable or bad."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise IdTagsError(f"{SETTING} {path}", None, None, f"cannot read it: {error.strerror or error}") from None
    return parse_id_tags_file(data, path)


_Path = tuple[str | int, ...]


def parse_id_tags(text: str, origin: str) -> IdTags:
    """Parse the text of an id tags file; ``origin`` names it in errors."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _syntax_error(error, text, origin) from None
    problems: list[tuple[_Path, str]] = []
    tags: dict[str, IdTag] = {}
    first_spelling: dict[str, str] = {}
    for key, value in document.items():
        if key != "id_tags":
            problems.append(((key,), "unknown table" + _did_you_mean(key, ("id_tags",))))
            continue
        if not isinstance(value, dict):
            problems.append(((key,), f'must be tables [id_tags."<id tag>"], not {_show(value)}'))
            continue
        for id_tag, table in value.items():
            path: _Path = ("id_tags", id_tag)
            problem = _id_problem(id_tag)
            if problem is None and not isinstance(table, dict):
                problem = f'must be a table [id_tags."<id tag>"], not {_show(table)}'
            if problem is None and tag_key(id_tag) in first_spelling:
                other = first_spelling[tag_key(id_tag)]
                problem = f"the same id tag as {json.dumps(other)} (id tags are compared without regard to case)"
            if problem is not None or not isinstance(table, dict):
                problems.append((path, problem or ""))
                continue
            first_spelling[tag_key(id_tag)] = id_tag
            tags[tag_key(id_tag)] = _tag(id_tag, table, path, problems)
    if problems:  # located only now: finding the lines costs more than parsing
        lines = TomlLines(text)
        where, problem = min(problems, key=lambda found: lines.of(found[0]))
        raise IdTagsError(origin, lines.of(where), _dotted(where), problem, more=len(problems) - 1)
    return IdTags(MappingProxyType(tags))


def _tag(id_tag: str, table: dict[str, object], path: _Path, problems: list[tuple[_Path, str]]) -> IdTag:
    status, expiry, parent = "Accepted", None, None
    for name, value in table.items():
        where = (*path, name)
        if name == "status":
            if value in STATUSES:
                status = str(value)
            else:
                problems.append((where, f"must be {', '.join(json.dumps(s) for s in STATUSES)}, not {_show(value)}"))
        elif name == "expiry":
            if isinstance(value, dt.datetime) and value.tzinfo is not None:
                expiry = value
            else:
                problems.append(
                    (where, f"must be a date and time with its offset, e.g. 2027-06-30T00:00:00Z, not {_show(value)}")
                )
        elif name == "parent":
            problem = _id_problem(value) if isinstance(value, str) else f"must be a text, not {_show(value)}"
            if problem is None:
                parent = str(value)
            else:
                problems.append((where, problem))
        else:
            problems.append((where, "unknown field" + _did_you_mean(name, FIELDS)))
    return IdTag(id_tag, status, expiry, parent)


def _id_problem(id_tag: str) -> str | None:
    if not id_tag.strip():
        return "an id tag must not be empty"
    if len(id_tag) > MAX_LENGTH:
        return f"an id tag has at most {MAX_LENGTH} characters (OCPP IdToken), not {len(id_tag)}"
    if any(ord(char) < 32 or ord(char) == 127 for char in id_tag):
        return "an id tag must not contain control characters"
    return None


def _syntax_error(error: tomllib.TOMLDecodeError, text: str, origin: str) -> IdTagsError:
    """tomllib's own position kept: ``(at line 3, column 9)``, or the last line at the end."""
    found = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", str(error))
    if found is not None:
        return IdTagsError(origin, int(found[2]), None, f"TOML syntax: {found[1]}", column=int(found[3]))
    message = str(error).removesuffix(" (at end of document)")
    return IdTagsError(origin, max(1, len(text.splitlines())), None, f"TOML syntax: {message} at the end")


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dt.datetime):
        offset = "" if value.tzinfo is not None else " without offset"
        return f"a date and time{offset} ({value.isoformat()})"
    if isinstance(value, dt.date):
        return f"a date without time ({value.isoformat()})"
    if isinstance(value, dt.time):
        return f"a time without date ({value.isoformat()})"
    if isinstance(value, int | float):
        return str(value)
    return "an array" if isinstance(value, list) else "a table" if isinstance(value, dict) else type(value).__name__


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]}?)" if close else f"; expected {', '.join(choices)}"


def _dotted(path: _Path) -> str:
    """``id_tags."04A2".expiry``: the tag always quoted (ids may hold dots)."""
    if len(path) >= 2 and path[0] == "id_tags":
        return ".".join(["id_tags", json.dumps(path[1]), *(str(part) for part in path[2:])])
    return ".".join(str(part) for part in path)
