"""Every shell command in README.md and docs/*.md is either run by
tests/e2e/test_documented_commands.py or excluded there with a reason (tests/support/doc_commands.py)."""

from __future__ import annotations

from tests.support.doc_commands import Command, Kind, block_commands, documented_commands, rule_for


def test_every_documented_command_is_run_or_excluded_with_a_reason() -> None:
    commands = documented_commands()
    assert len(commands) > 30
    unknown = [f"{command.id}: {command.words}" for command in commands if rule_for(command) is None]
    assert unknown == [], "add a rule in tests/support/doc_commands.py (run it, or say why not)"
    for command in commands:
        rule = rule_for(command)
        assert rule is not None and (rule.kind is not Kind.NOT_RUN or rule.reason), command.id


def test_commands_are_read_as_a_shell_reads_them() -> None:
    lines = [
        "# a comment",
        'busctl call CP_1 Set --timeout 10 \'{"a": {',
        '  "b": 1}}\'',
        "docker run -d \\",
        "    image   # trailing comment",
        "",
    ]
    commands = block_commands("X.md", 10, lines)
    assert [(c.line, c.words) for c in commands] == [
        (11, 'busctl call CP_1 Set --timeout 10 {"a": {\n  "b": 1}}'),
        (13, "docker run -d image"),
    ]
    prompted = block_commands("X.md", 1, ["$ busctl status", "gateway run 1e8a ...", "", "CP_1  0:Available"])
    assert prompted == [Command("X.md", 1, "busctl status")]
