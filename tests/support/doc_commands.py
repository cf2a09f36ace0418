"""The shell commands of README.md and docs/*.md (fenced ``sh`` blocks), and what the test does
with each: run it, run it for a while and interrupt it (commands that run until Ctrl-C), or not
run it, for a stated reason. A command that no rule names fails the test
(tests/unit/test_documented_commands.py, tests/e2e/test_documented_commands.py): a new command in
the docs is either run or consciously excluded."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", *sorted(f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md")))
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


class Kind(Enum):
    RUN = "run: exits 0"
    UNTIL_CTRL_C = "runs until Ctrl-C: still running after a while, then interrupted"
    NOT_RUN = "not run"


@dataclass(frozen=True)
class Rule:
    prefix: str
    kind: Kind
    reason: str = ""
    #: Run in a scratch directory instead of the project directory (commands that write files).
    scratch: bool = False


@dataclass(frozen=True)
class Command:
    document: str
    line: int
    text: str  # as written (continuation lines and multi-line quotes kept)

    @property
    def words(self) -> str:
        """The command without comments and extra blanks, for matching rules."""
        return " ".join(shlex.split(self.text.replace("\\\n", " "), comments=True))

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


TESTED_ELSEWHERE = "its own tests run it"
RULES = (
    Rule(
        "make run",
        Kind.NOT_RUN,
        "the connector in the foreground; this test runs the same supervisord.conf "
        "(bench.harness), tests/e2e/test_stopping.py its stop",
    ),
    Rule("make test", Kind.NOT_RUN, "the test suite itself (make test, test-unit, test-e2e, test-image)"),
    Rule("make lint", Kind.NOT_RUN, "ruff and mypy over the sources, not a command against the connector"),
    Rule(
        "make demo",
        Kind.NOT_RUN,
        "needs the checkout's supervisord socket, as this test's connector does; tests/e2e/test_tools.py runs it",
    ),
    Rule("make image", Kind.NOT_RUN, "builds the image with podman (root, minutes): tests/image, RUN_IMAGE_TESTS=1"),
    Rule("eval ", Kind.NOT_RUN, "podman set-up for the image: tests/image, RUN_IMAGE_TESTS=1"),
    Rule("podman ", Kind.NOT_RUN, "runs the image with podman: tests/image, RUN_IMAGE_TESTS=1"),
    Rule("docker ", Kind.NOT_RUN, "needs a Docker engine; the image is tested with podman (tests/image)"),
    Rule(
        "htpasswd ",
        Kind.NOT_RUN,
        "writes /etc/ocpp and asks for a password; tests/e2e/test_security.py "
        "authenticates charge points with such a file",
    ),
    Rule(
        ".venv/bin/python -m bench.throughput",
        Kind.NOT_RUN,
        "minutes, and overwrites the committed "
        "bench/results/; tests/e2e/test_bench.py runs --quick, tests/unit/test_bench_chart.py without matplotlib",
    ),
    Rule(
        ".venv/bin/python -m bench.actuator_latency",
        Kind.NOT_RUN,
        "1,000 charge points for a minute and more, and overwrites bench/results/; "
        "tests/e2e/test_bench.py runs its parts through bench.throughput --quick",
    ),
    Rule(
        ".venv/bin/python -m bench.onboarding_storm",
        Kind.NOT_RUN,
        "10,000 charge points for minutes, and overwrites the committed bench/results/; "
        "tests/e2e/test_onboarding_storm.py runs it with 300",
    ),
    Rule(".venv/bin/python -m tools.simulate", Kind.UNTIL_CTRL_C),
    Rule("python -m tools.simulate", Kind.UNTIL_CTRL_C),
    Rule("python -m tools.busctl tail", Kind.UNTIL_CTRL_C),
    Rule("python -m tools.busctl status", Kind.RUN),
    Rule("python -m tools.busctl call", Kind.RUN),
    Rule("mosquitto_sub ", Kind.UNTIL_CTRL_C),
    Rule("mosquitto_pub ", Kind.RUN),
    Rule("openssl ", Kind.RUN, scratch=True),
    Rule("printf ", Kind.RUN, scratch=True),
)


def rule_for(command: Command) -> Rule | None:
    words = command.words
    return next((rule for rule in RULES if words.startswith(rule.prefix)), None)


def complete(text: str) -> bool:
    """Whether ``text`` is a whole command: no open quote, no trailing backslash."""
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return False
    return True


def block_commands(document: str, start: int, lines: list[str]) -> list[Command]:
    """The commands of one block. With ``$ `` prompts only the prompted lines are commands (the
    rest is their output); comment lines are skipped."""
    prompted = any(line.startswith("$ ") for line in lines)
    commands: list[Command] = []
    pending: list[str] = []
    first = 0
    for offset, line in enumerate(lines):
        if not pending:
            if prompted and not line.startswith("$ "):
                continue
            line = line.removeprefix("$ ") if prompted else line
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            first = start + offset
        pending.append(line)
        text = "\n".join(pending)
        if complete(text):
            commands.append(Command(document, first, text))
            pending = []
    if pending:
        raise ValueError(f"{document}:{first}: unfinished command {pending!r}")
    return commands


def documented_commands() -> list[Command]:
    commands: list[Command] = []
    for document in DOCUMENTS:
        lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            opening = FENCE.match(lines[index])
            if opening is None:
                index += 1
                continue
            indent, language = opening.groups()
            end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
            if language in {"sh", "bash", "shell", "console"}:
                body = [line.removeprefix(indent) for line in lines[index + 1 : end]]
                commands += block_commands(document, index + 2, body)
            index = end + 1
    return commands
