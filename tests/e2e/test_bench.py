"""The throughput benchmark works: --quick runs every phase (the 2.0.1 one too) and reports every
row with sane numbers. No timing thresholds: this machine's speed is not what is tested here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import throughput

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_quick_benchmark_reports_every_row(tmp_path: Path) -> None:
    results = throughput.main(["--quick", "--out", str(tmp_path)])

    sizes = results["config"]["sizes"]
    for side in ("connector", "baseline"):
        for size in sizes:
            row = results["answers"][side][str(size)]
            assert row["answered"] > 0 and row["errors"] == 0
            assert 0 < row["p50_ms"] <= row["p99_ms"] < 10_000
            assert all(math.isfinite(value) and value >= 0 for value in row["cpu_us_per_message"].values())
    for size in sizes:
        row = results["answers"]["connector"][str(size)]
        assert row["values_delivered"] == row["values_expected"] == 4 * row["answered"]  # nothing lost
        assert row["e2e_messages_per_s"] > 0
        assert set(row["cpu_us_per_message"]) >= {"gateway", "bridge", "rawlogger", "mosquitto"}
    for side in ("connector", "baseline"):
        many = results["many"][side]
        assert many["errors"] == 0 and many["answered"] >= many["charge_points"]
        assert many["p99_ms"] > 0 and many["bytes_per_charge_point"] > 0
    assert set(results["many"]["connector"]["rss_loaded"]) == {"gateway", "bridge", "rawlogger", "mosquitto"}
    actuator = results["actuator"]
    assert 0 < actuator["p50_ms"] <= actuator["p99_ms"] and actuator["baseline_p99_ms"] > 0
    v201 = results["v201"]  # beside the 1.6 rows, on the same connector: MeterValues, TransactionEvent Updated
    assert v201["size"] in sizes
    assert set(v201["connector"]) == set(v201["baseline"]) == {"meter_values_16", "meter_values", "transaction_event"}
    for side in ("connector", "baseline"):
        for row in v201[side].values():
            assert row["answered"] > 0 and row["errors"] == 0 and row["call_errors"] == 0
            assert 0 < row["p50_ms"] <= row["p99_ms"] < 10_000
    for key in ("meter_values", "transaction_event"):
        row = v201["connector"][key]
        assert row["values_delivered"] == row["values_expected"] == 4 * row["answered"]  # nothing lost
        assert row["e2e_messages_per_s"] > 0

    report = (tmp_path / "throughput.md").read_text()
    headings = ("## Answers", "## End to end", "## CPU microseconds", "charge points connected", "## Actuator")
    for heading in (*headings, "## OCPP 2.0.1", "2.0.1 TransactionEvent Updated"):
        assert heading in report
    assert all(f"\n| {size} |" in report for size in sizes)
    assert json.loads((tmp_path / "throughput.json").read_text())["answers"] == results["answers"]
    assert (tmp_path / "throughput.png").read_bytes().startswith(b"\x89PNG")
