"""The runtime image holds the connector and nothing else, and runs as a non-root user."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def runtime_stage() -> list[str]:
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    starts = [index for index, line in enumerate(lines) if line.upper().startswith("FROM ")]
    return [line.strip() for line in lines[starts[-1] :] if line.strip() and not line.startswith("#")]


def test_the_runtime_stage_copies_only_the_connector() -> None:
    copies = [line for line in runtime_stage() if line.upper().startswith("COPY ")]
    sources = [word for line in copies for word in line.split()[1:-1] if not word.startswith("--")]
    assert not any(source in {".", "./"} or source.startswith(("tests", "bench", "docs")) for source in sources), copies
    assert {"common/", "processes/", "supervisord.conf", ".env"} <= set(sources)
    assert "pyproject.toml" not in sources  # tool configuration, not needed at run time


def test_the_runtime_stage_runs_as_a_numeric_non_root_user() -> None:
    users = [line.split()[1] for line in runtime_stage() if line.upper().startswith("USER ")]
    assert users, "no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    assert re.fullmatch(r"[0-9]+", uid) and int(uid) != 0
