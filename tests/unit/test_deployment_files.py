"""Checks of the deployment files: supervisord.conf runs the three processes from the checkout;
every requirement is pinned. (hadolint's check of the Dockerfile is in tests/component.)"""

from __future__ import annotations

import re
from pathlib import Path

from supervisor.options import ServerOptions

ROOT = Path(__file__).resolve().parents[2]
SUPERVISORD_CONF = ROOT / "supervisord.conf"
PROGRAMS = ("gateway", "bridge", "rawlogger")


def _supervisor_options() -> ServerOptions:
    assert SUPERVISORD_CONF.is_file(), f"{SUPERVISORD_CONF} missing"
    opts = ServerOptions()
    opts.realize(args=["-c", str(SUPERVISORD_CONF)])
    return opts


def test_supervisord_conf_parses_and_defines_the_three_processes() -> None:
    opts = _supervisor_options()
    programs = {pconfig.name: pconfig for group in opts.process_group_configs for pconfig in group.process_configs}

    assert set(PROGRAMS) <= set(programs), f"programs defined: {sorted(programs)}"
    for name in PROGRAMS:
        pconfig = programs[name]
        assert pconfig.directory is not None, f"{name}: no directory"
        assert Path(pconfig.directory).resolve() == ROOT, f"{name}: directory={pconfig.directory}"
        command = pconfig.command.strip()
        assert command.startswith("python -m processes."), f"{name}: command={command!r}"
        module = command.split()[2]
        assert module == f"processes.{name}", f"{name}: runs {module}"


def test_requirements_are_all_pinned() -> None:
    pinned = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!-]+(\s*;.*)?$")
    for name in ("requirements.txt", "requirements-dev.txt"):
        for raw in (ROOT / name).read_text(encoding="utf-8").splitlines():
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#") or line == "-r requirements.txt":
                continue
            assert pinned.match(line), f"{name}: not pinned with ==: {raw!r}"
