"""The reconnect storm at a size CI can afford (issue 15, item 2): bench/onboarding_storm.py with
300 charge points connecting within 3 s, each with a factory configuration, against the real
connector, with the baseline run (onboarding off) of the same invocation. Every charge point is
onboarded exactly once, with exactly the ChangeConfigurations its configuration needs, the
pass's calls are paced, and the answers to the charge points' own calls stay fast meanwhile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import onboarding_storm
from bench.storm_loadgen import FACTORY_CONFIGURATION
from common.settings import environment, load_gateway

pytestmark = pytest.mark.timeout(180)

CHARGE_POINTS = 300


def test_a_reconnect_storm_onboards_every_charge_point_while_answers_stay_fast(tmp_path: Path) -> None:
    results = onboarding_storm.main(
        ["--charge-points", str(CHARGE_POINTS), "--connect-within", "3", "--period", "2", "--out", str(tmp_path)]
    )

    wanted = load_gateway(environment()).onboarding
    factory = {key: value for key, value, _ in FACTORY_CONFIGURATION}
    assert factory["MeterValuesSampledData"] == "Energy.Active.Import.Register"
    assert factory["MeterValueSampleInterval"] == "60" != str(wanted.meter_interval)
    changes = [
        ("MeterValuesSampledData", ",".join(wanted.measurands)),
        ("MeterValueSampleInterval", str(wanted.meter_interval)),
    ]

    on, base = results["onboarding"], results["baseline"]
    details = results["details"]["onboarding"]
    # Every charge point onboarded, once, with status done, as the bus told it.
    assert details["statuses"] == {f"S{index}": "done" for index in range(CHARGE_POINTS)}
    assert on["onboarding_events"] == CHARGE_POINTS
    # What each charge point received: one GetConfiguration and the two changes its factory
    # configuration needs, in the pass's order (what follows a pass, e.g. a failsafe profile, is
    # not onboarding's business here); each connected once and stayed connected.
    for cp, seen in details["charge_points"].items():
        assert seen["get_configuration"] == 1, cp
        assert [tuple(change) for change in seen["changes"]] == changes, cp
        assert seen["attempts"] == 1 and seen["lost"] == 0, cp
    assert on["get_configuration"] == CHARGE_POINTS and on["change_configuration"] == 2 * CHARGE_POINTS
    # Paced: no faster than OCPP_ONBOARDING_CALLS_PER_SECOND over the storm.
    assert 0 < on["onboarding_calls_per_s"] <= 1.05 * wanted.calls_per_second
    # The charge points' own calls were answered, all of them, and fast, during the storm.
    # A call sent in the last instant may still be on its way when the run stops: it counts in the
    # p99 with its age so far, which must be young like every answer.
    assert on["light"]["answers"] >= CHARGE_POINTS and on["light"]["unanswered"] <= CHARGE_POINTS // 100
    assert on["light"]["p99_ms"] < onboarding_storm.P99_TARGET_MS
    assert on["errors"] == {} and base["errors"] == {}
    assert on["restarted"] == base["restarted"] == []  # no connector process crashed

    # The baseline: the same storm, onboarding off (each pass ends at once, nothing sent).
    assert results["details"]["baseline"]["statuses"] == {f"S{index}": "off" for index in range(CHARGE_POINTS)}
    assert base["get_configuration"] == base["change_configuration"] == 0
    assert base["light"]["answers"] >= CHARGE_POINTS and base["light"]["p99_ms"] > 0

    assert all(met for _, _, met in onboarding_storm.targets(results))
    report = (tmp_path / "onboarding_storm.md").read_text()
    assert "| light load answer p99 ms |" in report and "## Targets" in report
    written = json.loads((tmp_path / "onboarding_storm.json").read_text())
    assert written["onboarding"]["onboarded"] == CHARGE_POINTS and "details" not in written
