"""Where the tables and keys of a TOML text are: stdlib ``tomllib`` gives positions only for
syntax errors, but a file refused for what it *says* should be refused with the line too.

``TomlLines(text).of(("charge_points", "CP_1", "phases"))`` is the line of ``phases = ...`` in
``[charge_points."CP_1"]``; an index stands for the n-th ``[[array]]`` entry (counted from 0):
``("models", 2, "vendor")``. Nothing but ``tomllib`` reads the keys, so quoting and dotted keys
follow TOML exactly.
"""

from __future__ import annotations

import tomllib

KeyPath = tuple[str | int, ...]


class TomlLines:
    """The first line of each table header and ``key =`` line, by key path. Best effort: a line
    inside a multi-line string that looks like a header or a key is taken for one."""

    def __init__(self, text: str) -> None:
        self._first: dict[KeyPath, int] = {}
        header: KeyPath = ()
        arrays: dict[tuple[str, ...], int] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if line.startswith("["):
                double = line.startswith("[[")
                keys = key_before(line[2:] if double else line[1:], "]]" if double else "]")
                if keys is None:
                    continue
                if double:
                    arrays[keys] = arrays.get(keys, -1) + 1
                header = self._absolute(keys, arrays) + ((arrays[keys],) if double else ())
                self._first.setdefault(header, number)
            elif keys := key_before(line, "="):
                for end in range(1, len(keys) + 1):
                    self._first.setdefault(header + keys[:end], number)

    @staticmethod
    def _absolute(keys: tuple[str, ...], arrays: dict[tuple[str, ...], int]) -> KeyPath:
        path: KeyPath = ()
        for end in range(1, len(keys) + 1):
            path += (keys[end - 1],)
            if end < len(keys) and keys[:end] in arrays:
                path += (arrays[keys[:end]],)
        return path

    def of(self, path: KeyPath) -> int:
        """The line where ``path``, or the nearest enclosing table or key, is defined (else 1)."""
        for end in range(len(path), 0, -1):
            if path[:end] in self._first:
                return self._first[path[:end]]
        return 1


def key_before(text: str, end: str) -> tuple[str, ...] | None:
    """The TOML key that precedes the first ``end`` that makes it a valid key, as a path."""
    start = text.find(end)
    while start > 0:
        try:
            parsed: object = tomllib.loads(f"{text[:start]} = 0")
        except tomllib.TOMLDecodeError:
            start = text.find(end, start + 1)
            continue
        keys: list[str] = []
        while isinstance(parsed, dict) and len(parsed) == 1:
            key, parsed = next(iter(parsed.items()))
            keys.append(key)
        return tuple(keys)
    return None
