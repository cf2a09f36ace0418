"""busctl without a bus: formatting, filtering, argument and settings handling."""

from __future__ import annotations

import io
import json
import time

import pytest

from common.bus import Event, GatewayAlive, LogEntry, RawFrame, decode, encode
from common.settings import PROJECT_ROOT
from tools import busctl
from tools.busview import age, as_json, as_line, clock, connectors_text, matches, shorten, status_text

NOW = int(time.time() * 1000)
EVENT = Event("run1", 7, "site.CP.1", "StatusNotification", NOW, {"connector_id": 1, "status": "Charging"}, {})
RAW = RawFrame("run1", 9, "CP 2", "in", NOW, '[2,"a","Heartbeat",{}]')
ALIVE = GatewayAlive("run1", NOW, {"event": 7, "raw": 9}, 2)
LOG = LogEntry("gateway", NOW, 30, "something odd", "serve")


def test_matches_compares_the_payload_id_never_a_topic_prefix() -> None:
    assert matches(EVENT, [])
    assert matches(EVENT, ["site.CP.1"])
    assert matches(EVENT, ["other", "site.CP.1"])
    assert not matches(EVENT, ["site.CP"])  # its topic starts with event.StatusNotification.site.CP
    assert not matches(EVENT, ["site.CP.1.x"])
    assert not matches(ALIVE, ["site.CP.1"]) and not matches(LOG, ["site.CP.1"])
    assert matches(RAW, ["CP 2"])


def test_json_line_is_the_decoded_message_with_its_topic() -> None:
    frames = encode(EVENT)
    line = as_json(frames[0], decode(frames))
    assert "\n" not in line
    body = json.loads(line)
    assert body["topic"] == "event.StatusNotification.site.CP.1"
    assert body["t"] == "event" and body["cp"] == "site.CP.1" and body["seq"] == 7
    assert body["payload"] == {"connector_id": 1, "status": "Charging"}


def test_readable_line_has_time_kind_charge_point_seq_and_payload() -> None:
    line = as_line(EVENT)
    assert line.startswith(clock(NOW))
    for part in ("event", "StatusNotification", "site.CP.1", "#7", "connector_id=1", "status=Charging"):
        assert part in line
    raw = as_line(RAW)
    assert "raw" in raw and "in" in raw and "CP 2" in raw and "#9" in raw and "Heartbeat" in raw
    assert "2 charge points" in as_line(ALIVE) and "event=7" in as_line(ALIVE)
    assert "WARNING" in as_line(LOG) and "something odd" in as_line(LOG)


def test_readable_line_stays_on_one_line_within_the_width() -> None:
    long = Event("r", 1, "CP", "DataTransfer", NOW, {"data": "x\ny " * 200}, {"connector_id": 1})
    line = as_line(long, width=100)
    assert "\n" not in line and len(line) <= 100 and line.endswith("…")
    assert shorten("a\n  b", 10) == "a b"
    assert shorten("abcdef", 4) == "abc…"


def test_age_and_clock() -> None:
    assert age(NOW - 4_000, NOW) == "4 s"
    assert age(NOW - 125_000, NOW) == "2 min"
    assert age(NOW - 3 * 3_600_000, NOW) == "3 h"
    assert age(None, NOW) == "-" and clock(None) == "-"
    assert clock(1_700_000_000_123).endswith(".123")


def test_status_text_has_a_summary_and_a_row_per_charge_point() -> None:
    result = {
        "run": "abc",
        "started": NOW - 60_000,
        "heads": {"event": 12, "raw": 30},
        "dropped": {"event": 0, "raw": 0},
        "charge_points": [
            {
                "id": "CP_1",
                "connected_since": NOW - 50_000,
                "last_message": NOW - 3_000,
                "connectors": {"10": "Faulted", "2": "Available", "1": "Charging"},
                "boot": {"charge_point_vendor": "Sim", "charge_point_model": "Box"},
            }
        ],
    }
    text = status_text(result, NOW)
    summary, blank, header, row = text.splitlines()
    assert "run abc" in summary and "1 charge point connected" in summary and "event head 12" in summary
    assert blank == "" and header.startswith("CHARGE POINT")
    assert row.startswith("CP_1") and "1:Charging 2:Available 10:Faulted" in row
    assert "(3 s ago)" in row and "Sim Box" in row
    assert connectors_text({}) == "-"
    empty = status_text({"run": "abc", "heads": {}, "charge_points": []}, NOW)
    assert "0 charge points connected" in empty and "\n" not in empty


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return busctl.main(argv, out), out.getvalue()


def test_usage_errors_exit_with_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        busctl.main([])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        busctl.main(["call", "CP_1"])  # no action
    assert exited.value.code == 2
    assert run(["call", "CP_1", "Reset", "[1, 2]"]) == (2, "")
    assert "must be a JSON object" in capsys.readouterr().err
    assert run(["call", "CP_1", "Reset", "{nope"]) == (2, "")
    assert "not JSON" in capsys.readouterr().err
    assert run(["call", "CP_1", "Reset", "--timeout", "-1"]) == (2, "")


def test_bad_bus_settings_are_usage_errors(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BUS_COMMANDS_ENDPOINT", "tcp://0.0.0.0:5681")
    assert run(["status"]) == (2, "")
    assert "BUS_COMMANDS_ENDPOINT" in capsys.readouterr().err


def test_endpoints_come_from_settings_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUS_EVENTS_ENDPOINT", "ipc:///tmp/ev.ipc")
    monkeypatch.setenv("BUS_COMMANDS_ENDPOINT", "ipc:///tmp/cmd.ipc")
    parser = busctl.build_parser()
    bus = busctl.bus_settings(parser.parse_args(["status"]))
    assert (bus.events_endpoint, bus.commands_endpoint) == ("ipc:///tmp/ev.ipc", "ipc:///tmp/cmd.ipc")
    for argv in (["--commands", "ipc:///x", "status"], ["status", "--commands", "ipc:///x"]):
        assert busctl.bus_settings(parser.parse_args(argv)).commands_endpoint == "ipc:///x"
    args = parser.parse_args(["tail", "--cp", "a.b", "--cp", "c", "--prefix", "event.MeterValues."])
    assert args.cp == ["a.b", "c"] and args.prefix == ["event.MeterValues."] and not args.json


def test_meter_values_are_shown_as_measurands() -> None:
    payload = {
        "connector_id": 1,
        "transaction_id": 5,
        "meter_value": [
            {
                "timestamp": "2027-01-01T00:00:00Z",
                "sampled_value": [
                    {"value": "12", "unit": "Wh"},
                    {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
                    {"value": "16", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                ],
            }
        ],
    }
    line = as_line(Event("r", 3, "CP", "MeterValues", NOW, payload, {}), width=300)
    assert line.endswith(
        "connector_id=1 transaction_id=5 Energy.Active.Import.Register=12 Wh Power.Active.Import=7.4 kW "
        "Current.Import[L1]=16 A"
    )


PROFILE = '{"connectorId": 1, "csChargingProfiles": {"chargingProfileId": 1}}'


@pytest.mark.parametrize(
    "argv",
    [
        ["call", "CP_1", "SetChargingProfile", "--timeout", "10", PROFILE],  # as docs/operating.md has it
        ["call", "CP_1", "SetChargingProfile", PROFILE, "--timeout", "10"],
        ["call", "--timeout", "10", "CP_1", "SetChargingProfile", PROFILE],
        ["call", "CP_1", "SetChargingProfile", "--json", "--timeout", "10", PROFILE],
    ],
)
def test_options_may_stand_between_the_action_and_the_payload(argv: list[str]) -> None:
    args = busctl.parse_args(busctl.build_parser(), argv)
    assert (args.cp, args.action, args.payload, args.timeout) == ("CP_1", "SetChargingProfile", PROFILE, 10.0)


def test_a_second_payload_or_an_unknown_option_is_still_refused(capsys: pytest.CaptureFixture[str]) -> None:
    parser = busctl.build_parser()
    for argv in (["call", "CP_1", "Reset", "{}", "--timeout", "1", "{}"], ["call", "CP_1", "Reset", "--nope", "{}"]):
        with pytest.raises(SystemExit) as exited:
            busctl.parse_args(parser, argv)
        assert exited.value.code == 2
        assert "unrecognized arguments" in capsys.readouterr().err
    assert busctl.parse_args(parser, ["call", "CP_1", "GetConfiguration"]).payload is None


def test_endpoints_given_on_the_command_line_are_checked_and_resolved() -> None:
    parser = busctl.build_parser()
    bus = busctl.bus_settings(parser.parse_args(["status", "--commands", "ipc://var/bus-commands.ipc"]))
    assert bus.commands_endpoint == f"ipc://{PROJECT_ROOT}/var/bus-commands.ipc"
    with pytest.raises(busctl.UsageError, match="loopback"):
        busctl.bus_settings(parser.parse_args(["status", "--commands", "tcp://0.0.0.0:5681"]))
