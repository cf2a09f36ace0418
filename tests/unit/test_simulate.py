"""The operators' simulator without a network: charging model, profiles, answers, arguments."""

from __future__ import annotations

import asyncio
import random

import pytest

from tools import simulate
from tools.charging import MAX_POWER_W, ChargingProfiles, Meter, Vehicle, parse_time
from tools.station import SessionPlan, Station

NOW = 1_800_000_000.0
PLAN = SessionPlan(sessions=1, interval=0.1, samples=3, pause=0.1)


def profile(
    profile_id: int, connector: int, limit: float, unit: str = "W", stack: int = 0, **schedule: object
) -> dict[str, object]:
    return {
        "connectorId": connector,
        "csChargingProfiles": {
            "chargingProfileId": profile_id,
            "stackLevel": stack,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
                **schedule,
            },
        },
    }


def test_profiles_cap_connectors_in_watts_and_amperes() -> None:
    profiles = ChargingProfiles()
    assert profiles.limit_w(1, NOW) is None
    assert profiles.set(profile(101, 1, 3680), NOW) == "Accepted"
    assert profiles.limit_w(1, NOW) == 3680 and profiles.limit_w(2, NOW) is None
    assert profiles.set(profile(100, 0, 6.0, unit="A"), NOW) == "Accepted"  # all connectors, 3 phases
    assert profiles.limit_w(2, NOW) == pytest.approx(6 * 230 * 3)
    assert profiles.limit_w(1, NOW) == 3680  # its own profile wins at the same stack level
    assert profiles.set(profile(102, 1, 2000, stack=1), NOW) == "Accepted"
    assert profiles.limit_w(1, NOW) == 2000  # higher stack level
    assert profiles.clear({"id": 102}) == "Accepted"
    assert profiles.limit_w(1, NOW) == 3680
    assert profiles.clear({"id": 999}) == "Unknown"
    assert profiles.clear({}) == "Accepted" and profiles.limit_w(1, NOW) is None
    assert profiles.set({"connectorId": 1}, NOW) == "Rejected"


def test_profile_schedule_periods_and_duration() -> None:
    profiles = ChargingProfiles()
    start = "2027-01-15T08:00:00Z"
    body = profile(7, 1, 1000, startSchedule=start, duration=600)
    body["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"].append(  # type: ignore[index]
        {"startPeriod": 300, "limit": 2000}
    )
    profiles.set(body, NOW)
    t0 = parse_time(start)
    assert t0 is not None
    assert profiles.limit_w(1, t0 - 1) is None
    assert profiles.limit_w(1, t0 + 10) == 1000
    assert profiles.limit_w(1, t0 + 310) == 2000
    assert profiles.limit_w(1, t0 + 600) is None


def test_same_stack_level_and_purpose_replaces_a_profile() -> None:
    profiles = ChargingProfiles()
    profiles.set(profile(1, 1, 1000), NOW)
    profiles.set(profile(2, 1, 5000), NOW)
    assert list(profiles.profiles) == [2] and profiles.limit_w(1, NOW) == 5000


def test_meter_rises_under_the_limit() -> None:
    rng = random.Random(1)
    vehicle = Vehicle(soc=50, capacity_wh=60_000)
    meter = Meter(register_wh=1000)
    meter.charge(vehicle, 3600, None, rng)
    assert 0.98 * MAX_POWER_W <= meter.power_w <= MAX_POWER_W
    assert meter.register_wh == pytest.approx(1000 + meter.power_w)
    assert vehicle.soc > 50
    before = meter.register_wh
    meter.charge(vehicle, 60, 1380, rng)
    assert meter.power_w <= 1380 and meter.register_wh > before
    values = {(v["measurand"], v.get("phase")): v for v in meter.sampled_values(vehicle)}
    assert values[("Energy.Active.Import.Register", None)]["value"] == str(int(meter.register_wh))
    assert values[("Power.Active.Import", None)]["unit"] == "W"
    assert {("Current.Import", p) for p in ("L1", "L2", "L3")} <= set(values)
    assert float(values[("Current.Import", "L1")]["value"]) <= 1380 / (3 * 220)
    assert values[("SoC", None)]["unit"] == "Percent" and values[("SoC", None)]["location"] == "EV"
    meter.charge(vehicle, 60, 0, rng)
    assert meter.power_w == 0


def test_full_vehicles_taper_and_stop() -> None:
    rng = random.Random(2)
    assert Vehicle(soc=90).wanted_w() == pytest.approx(MAX_POWER_W / 2)
    full = Vehicle(soc=100)
    meter = Meter()
    meter.charge(full, 60, None, rng)
    assert meter.power_w == 0 and meter.register_wh == 0


def test_remote_start_and_stop_pick_the_right_connector() -> None:
    async def scenario() -> None:
        station = Station("ws://127.0.0.1:1", "CP_X", 2, PLAN, asyncio.Event(), None)
        one, two = station.connectors
        assert station.remote_start({"idTag": "A", "connectorId": 2}) == {"status": "Accepted"}
        assert two.requested_tag == "A" and two.start_wake.is_set() and one.requested_tag is None
        assert station.remote_start({"idTag": "B", "connectorId": 2}) == {"status": "Rejected"}  # already asked
        # (station.connectors[0], not ``one``: mypy keeps ``one.requested_tag`` narrowed to None from above)
        assert station.remote_start({"idTag": "C"}) == {"status": "Accepted"}
        assert station.connectors[0].requested_tag == "C"
        assert station.remote_start({"idTag": "D"}) == {"status": "Rejected"}
        one.transaction = 77
        assert station.remote_stop({"transactionId": 78}) == {"status": "Rejected"}
        assert station.remote_stop({"transactionId": 77}) == {"status": "Accepted"} and one.stop_wake.is_set()
        assert station.trigger({"requestedMessage": "FirmwareStatusNotification"}) == {"status": "NotImplemented"}

    asyncio.run(scenario())


def test_password_becomes_basic_authentication() -> None:
    async def scenario() -> None:
        station = Station("ws://h/ocpp", "CP 1", 1, PLAN, asyncio.Event(), "secret")
        assert station.cp.url == "ws://h/ocpp/CP%201"
        assert station.cp.extra_headers == {"Authorization": "Basic Q1AgMTpzZWNyZXQ="}

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "argv",
    [
        ["http://x"],
        ["ws://x", "--charge-points", "0"],
        ["ws://x", "--sessions", "-1"],
        ["ws://x", "--interval", "0"],
        ["ws://x", "--pause", "-1"],
        ["ws://x", "--duration", "0"],
        ["ws://x", "--duration", "-5"],
    ],
)
def test_bad_arguments_exit_with_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        simulate.main(argv)
    assert exited.value.code == 2


def test_status_and_summary_lines() -> None:
    async def scenario() -> None:
        station = Station("ws://h", "CP_1", 2, PLAN, asyncio.Event(), None)
        station.state = "connected"
        one = station.connectors[0]
        one.transaction, one.status, one.vehicle = 5, "Charging", Vehicle(soc=42)
        one.session_start_wh = one.meter.register_wh
        one.meter.power_w, one.meter.register_wh = 7400.0, one.meter.register_wh + 1500
        line = simulate.station_line(station)
        assert line.startswith("CP_1") and "1:Charging   7.4 kW   1.50 kWh  42%" in line and "2:Available" in line
        summary = simulate.summary_line([station])
        assert "1/1 charge points connected" in summary and "1/2 connectors charging" in summary
        assert "1.50 kWh delivered" in summary

    asyncio.run(scenario())


def test_by_default_it_runs_until_stopped() -> None:
    """The README's command (``--interval 5``) must not end by itself after a session."""
    parser = simulate.build_parser()
    args = parser.parse_args(["ws://localhost:9000/ocpp", "--charge-points", "3", "--interval", "5"])
    plan = simulate.check(parser, args)
    assert plan.sessions == 0 and args.duration is None
    assert "until Ctrl-C" in parser.format_help()
    timed = parser.parse_args(["ws://x", "--duration", "2.5", "--sessions", "2"])
    assert timed.duration == 2.5 and simulate.check(parser, timed).sessions == 2
