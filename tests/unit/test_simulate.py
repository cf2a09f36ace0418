"""The operators' simulator without a network: charging model, profiles, answers, arguments."""

from __future__ import annotations

import asyncio
import random

import pytest

from tools import simulate
from tools.chargepoint import BootTrigger
from tools.charging import MAX_POWER_W, ChargingProfiles, Meter, Vehicle, parse_time
from tools.station import ChargerBehaviour, ConnectorState, SessionPlan, Station

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


# --------------------------------------------------------------------------- the charger's configuration

ALL_FIVE = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"


def charging(station: Station) -> ConnectorState:
    connector = station.connectors[0]
    connector.vehicle, connector.transaction = Vehicle(soc=42), 7
    connector.meter.charge(connector.vehicle, 60, None, random.Random(3))
    return connector


def measurands(values: list[dict[str, object]]) -> list[object]:
    return sorted({value["measurand"] for value in values}, key=str)


def test_by_default_a_station_reports_every_measurand_at_each_step() -> None:
    async def scenario() -> None:
        station = Station("ws://h", "CP_1", 1, PLAN, asyncio.Event(), None)
        assert station.configuration.keys == ["ChargingScheduleAllowedChargingRateUnit", "HeartbeatInterval"]
        assert station.cp.configuration is station.configuration
        assert station.report_interval() is None  # no MeterValueSampleInterval: at every step
        connector = charging(station)
        assert station.sampled_values(connector) == connector.meter.sampled_values(connector.vehicle)
        assert station.heartbeat_interval() == 300
        assert station.cp.boot_fields["chargePointModel"] == "Simulator"
        assert station.cp.boot_fields["chargePointSerialNumber"] == "CP_1"

    asyncio.run(scenario())


def test_a_factory_charger_reports_energy_until_its_configuration_changes() -> None:
    async def scenario() -> None:
        behaviour = ChargerBehaviour(factory_settings=True, reboot_required=frozenset({"MeterValueSampleInterval"}))
        station = Station("ws://h", "CP_F", 2, PLAN, asyncio.Event(), None, behaviour)
        store = station.configuration
        assert store.value("NumberOfConnectors") == "2"
        assert station.report_interval() == 1  # the factory interval: --interval in whole seconds, at least 1
        connector = charging(station)
        [energy] = station.sampled_values(connector)
        assert energy["measurand"] == "Energy.Active.Import.Register" and energy["unit"] == "Wh"
        assert store.change_configuration("MeterValuesSampledData", ALL_FIVE + ",Power.Offered") == "Accepted"
        values = station.sampled_values(connector)
        assert measurands(values) == sorted([*ALL_FIVE.split(","), "Power.Offered"])
        assert len([v for v in values if v["measurand"] == "Voltage"]) == 3  # per phase
        assert [v["value"] for v in values if v["measurand"] == "Power.Offered"] == [f"{MAX_POWER_W:.1f}"]
        limit = profile(1, 1, 16.0, unit="A")  # the factory charger takes amperes only: 16 A on one phase
        limit["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["numberPhases"] = 1  # type: ignore[index]
        assert station.smart_charging.set_charging_profile(limit) == "Accepted"
        assert [v["value"] for v in station.sampled_values(connector) if v["measurand"] == "Power.Offered"] == [
            "3680.0"
        ]
        assert store.change_configuration("MeterValuesSampledData", "Current.Offered") == "Accepted"
        [offered] = station.sampled_values(connector, "Trigger")
        assert offered["unit"] == "A" and offered["context"] == "Trigger"
        assert float(str(offered["value"])) == pytest.approx(3680 / (3 * connector.meter.voltage), abs=0.1)
        assert store.change_configuration("MeterValueSampleInterval", "15") == "RebootRequired"
        assert station.report_interval() == 1
        store.reboot()
        assert station.report_interval() == 15
        assert store.change_configuration("MeterValuesSampledData", "") == "Accepted"
        assert station.sampled_values(connector) == []

    asyncio.run(scenario())


def test_the_heartbeat_interval_comes_from_the_boot_or_the_store() -> None:
    async def scenario() -> None:
        station = Station("ws://h", "CP_H", 1, PLAN, asyncio.Event(), None, ChargerBehaviour(factory_settings=True))
        station.configuration.change_configuration("HeartbeatInterval", "120")
        assert station.heartbeat_interval() == 120
        station.cp.last_boot_result = {"status": "Accepted", "interval": 30, "currentTime": "x"}
        assert station.heartbeat_interval() == 120  # not booted on this connection
        station.cp.booted = True
        assert station.heartbeat_interval() == 30

    asyncio.run(scenario())


def test_a_station_that_never_boots_answers_the_boot_trigger_as_told() -> None:
    async def scenario() -> None:
        behaviour = ChargerBehaviour(never_boot=True, boot_trigger=BootTrigger.REJECT)
        station = Station("ws://h", "CP_N", 1, PLAN, asyncio.Event(), None, behaviour)
        assert station.cp.boot_trigger is BootTrigger.REJECT
        assert station.trigger({"requestedMessage": "BootNotification"}) == {"status": "Rejected"}

    asyncio.run(scenario())


def parse(*argv: str) -> ChargerBehaviour:
    parser = simulate.build_parser()
    args = parser.parse_args(["ws://x", *argv])
    simulate.check(parser, args)
    return simulate.charger_behaviour(parser, args)


def test_charger_flags() -> None:
    assert parse() == ChargerBehaviour()
    assert simulate.behaviour_text(ChargerBehaviour()) == ""
    behaviour = parse(
        "--factory-settings",
        *["--refuse", "MeterValueSampleInterval,ClockAlignedDataInterval", "--refuse", "HeartbeatInterval"],
        *["--reboot-required", "MeterValuesSampledData", "--supported-measurands", "Energy.Active.Import.Register,SoC"],
        *["--max-measurands", "2", "--never-boot", "--boot-trigger", "ignore"],
    )
    assert behaviour == ChargerBehaviour(
        factory_settings=True,
        never_boot=True,
        boot_trigger=BootTrigger.IGNORE,
        refuse=frozenset({"MeterValueSampleInterval", "ClockAlignedDataInterval", "HeartbeatInterval"}),
        reboot_required=frozenset({"MeterValuesSampledData"}),
        supported_measurands=("Energy.Active.Import.Register", "SoC"),
        max_measurands=2,
    )
    store = behaviour.configuration(1, 5)
    assert store.value("MeterValuesSampledDataMaxLength") == "2" and store.value("MeterValueSampleInterval") == "5"
    assert store.change_configuration("MeterValuesSampledData", "Power.Active.Import") == "Rejected"
    assert store.change_configuration("MeterValuesSampledData", "SoC") == "RebootRequired"
    assert store.change_configuration("HeartbeatInterval", "60") == "Rejected"
    text = simulate.behaviour_text(behaviour)
    assert "factory settings" in text and "never boots (TriggerMessage(BootNotification): ignore)" in text
    # Refusals work with the default keys too.
    default_keys = parse("--refuse", "heartbeatinterval").configuration(1, 5)
    assert default_keys.change_configuration("HeartbeatInterval", "60") == "Rejected"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--refuse", "NoSuchKey"], "--refuse: no configuration key NoSuchKey"),
        (["--factory-settings", "--reboot-required", "Nope"], "--reboot-required: no configuration key Nope"),
        (["--refuse", "MeterValueSampleInterval"], "no configuration key MeterValueSampleInterval"),  # not by default
        (["--factory-settings", "--supported-measurands", "Frequency"], "--supported-measurands: Frequency"),
        (["--factory-settings", "--supported-measurands", ","], "--supported-measurands: empty"),
        (["--supported-measurands", "SoC"], "need --factory-settings"),
        (["--max-measurands", "3"], "need --factory-settings"),
        (["--factory-settings", "--max-measurands", "0"], "--max-measurands must be at least 1"),
        (["--boot-trigger", "sometimes"], "invalid choice: 'sometimes'"),
    ],
)
def test_bad_charger_flags_exit_with_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        simulate.main(["ws://x", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
