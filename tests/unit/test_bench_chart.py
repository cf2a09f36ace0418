"""bench.throughput works from `make run`'s .venv, which has no matplotlib: the report is written,
the chart is skipped with a one-line note."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import throughput


def test_without_matplotlib_the_chart_is_skipped_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(throughput, "chart_available", lambda: False)
    monkeypatch.setattr(throughput, "report_lines", lambda results: ["# report"])

    def no_chart(results: object, path: Path) -> None:
        raise AssertionError("chart() needs matplotlib")

    monkeypatch.setattr(throughput, "chart", no_chart)
    throughput.write({"answers": {"connector": {"2": {}}}}, tmp_path)
    out = capsys.readouterr().out
    assert "no chart" in out and "matplotlib is not installed" in out
    assert (tmp_path / "throughput.md").read_text() == "# report\n"
    assert (tmp_path / "throughput.json").exists() and not (tmp_path / "throughput.png").exists()
