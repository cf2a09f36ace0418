"""Unit tests of common.settings: `.env` parsing, precedence, defaults and validation."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from common.settings import (
    DEFAULT_ENV_FILE,
    PROJECT_ROOT,
    BridgeSettings,
    GatewaySettings,
    RawLoggerSettings,
    SettingsError,
    environment,
    load_gateway,
    load_rawlogger,
    parse_ocpp_config,
    read_env_file,
)
from processes.bridge.actuators.table import ACTUATOR_KINDS
from processes.bridge.settings import load_bridge_settings

Loader = Callable[[Mapping[str, str]], Any]
LOADERS: list[Loader] = [load_gateway, load_bridge_settings, load_rawlogger]
MQTT_LOADERS: list[Loader] = [load_bridge_settings, load_rawlogger]


def problems_of(loader: Loader, env: Mapping[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        loader(env)
    return caught.value.problems


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- .env files


def test_read_env_file_handles_comments_quotes_export_and_blank_lines(tmp_path: Path) -> None:
    env_file = write(
        tmp_path / ".env",
        "\n".join(
            [
                "# a comment",
                "   # an indented comment",
                "",
                "   ",
                "PLAIN=value",
                "SPACED = spaced value  ",
                'DOUBLE="double quoted # not a comment"',
                "SINGLE='single quoted'",
                "export EXPORTED=yes",
                "export   EXPORTED_SPACES=also",
                "EMPTY=",
                'EMPTY_QUOTES=""',
                "EQUALS=a=b=c",
                "UNBALANCED='open",
                "NO_EQUALS_SIGN",
            ]
        )
        + "\n",
    )
    assert read_env_file(env_file) == {
        "PLAIN": "value",
        "SPACED": "spaced value",
        "DOUBLE": "double quoted # not a comment",
        "SINGLE": "single quoted",
        "EXPORTED": "yes",
        "EXPORTED_SPACES": "also",
        "EMPTY": "",
        "EMPTY_QUOTES": "",
        "EQUALS": "a=b=c",
        "UNBALANCED": "'open",
    }


def test_read_env_file_later_lines_win(tmp_path: Path) -> None:
    env_file = write(tmp_path / ".env", "NAME=first\nNAME=second\n")
    assert read_env_file(env_file) == {"NAME": "second"}


def test_read_env_file_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_env_file(tmp_path / "does-not-exist") == {}


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env_file = write(tmp_path / ".env", "OCPP_PORT=9100\nCONNECTOR_NAME=from-file\n")
    merged = environment(environ={"OCPP_PORT": "9200", "OTHER": "x"}, env_file=env_file)
    assert merged == {"OCPP_PORT": "9200", "CONNECTOR_NAME": "from-file", "OTHER": "x"}
    settings = load_gateway(merged)
    assert settings.ocpp_port == 9200
    assert settings.connector_name == "from-file"


def test_environment_without_env_file_is_the_given_environment() -> None:
    assert environment(environ={"A": "1"}, env_file=None) == {"A": "1"}


# --------------------------------------------------------------------------- defaults


def test_gateway_defaults_when_unset() -> None:
    settings = load_gateway({})
    assert isinstance(settings, GatewaySettings)
    assert settings.connector_name == "ocpp-connector"
    assert settings.debug is False
    assert settings.ocpp_host == "0.0.0.0"
    assert settings.ocpp_port == 9000
    assert settings.heartbeat_interval == 300
    assert settings.call_timeout == 30.0
    assert settings.max_frame_bytes == 1024 * 1024
    assert settings.allowed_charge_points is None
    # ipc:// under the installation's var/: two installations on one machine do not collide.
    assert settings.bus.events_endpoint == f"ipc://{PROJECT_ROOT}/var/bus-events.ipc"
    assert settings.bus.commands_endpoint == f"ipc://{PROJECT_ROOT}/var/bus-commands.ipc"


def test_bridge_defaults_when_unset() -> None:
    settings = load_bridge_settings({})
    assert isinstance(settings, BridgeSettings)
    assert settings.connector_name == "ocpp-connector"
    assert settings.mqtt.host == "localhost"
    assert settings.mqtt.port == 1883
    assert settings.mqtt.username is None
    assert settings.mqtt.password is None
    assert settings.mqtt.tls_ca_file is None
    assert settings.actuator_kinds == frozenset(ACTUATOR_KINDS)
    assert settings.bemcom_heartbeat_interval == 30.0
    assert settings.call_timeout == 30.0
    assert settings.charging_voltage == 230.0
    assert settings.charging_phases == 3


def test_rawlogger_defaults_when_unset() -> None:
    settings = load_rawlogger({})
    assert isinstance(settings, RawLoggerSettings)
    assert settings.send_raw_message_to_db is False
    assert settings.mqtt.port == 1883


@pytest.mark.parametrize("empty", ["", "   "])
def test_empty_values_mean_default(empty: str) -> None:
    names = [
        "CONNECTOR_NAME",
        "MQTT_BROKER_HOST",
        "MQTT_BROKER_PORT",
        "OCPP_CONFIG",
        "OCPP_PORT",
        "CHARGING_VOLTAGE",
        "CHARGING_PHASES",
        "BEMCOM_HEARTBEAT_INTERVAL",
        "OCPP_CALL_TIMEOUT",
        "MQTT_USERNAME",
        "MQTT_PASSWORD",
        "MQTT_TLS_CA_FILE",
        "BUS_EVENTS_ENDPOINT",
    ]
    env = dict.fromkeys(names, empty)
    assert load_bridge_settings(env) == load_bridge_settings({})
    assert load_gateway(env) == load_gateway({})


def test_values_are_stripped() -> None:
    settings = load_bridge_settings({"MQTT_BROKER_PORT": " 8883 ", "CHARGING_VOLTAGE": " 400 "})
    assert settings.mqtt.port == 8883
    assert settings.charging_voltage == 400.0


# --------------------------------------------------------------------------- the repository's .env


@pytest.mark.parametrize("loader", LOADERS)
def test_repository_env_file_loads_cleanly(loader: Loader) -> None:
    loader(environment(environ={}, env_file=DEFAULT_ENV_FILE))


def test_repository_env_file_gives_documented_defaults() -> None:
    env = environment(environ={}, env_file=DEFAULT_ENV_FILE)
    gateway = load_gateway(env)
    bridge = load_bridge_settings(env)
    rawlogger = load_rawlogger(env)
    for settings in (gateway, bridge, rawlogger):
        assert settings.connector_name == "ocpp-connector"
        assert settings.debug is False
    for mqtt in (bridge.mqtt, rawlogger.mqtt):
        assert mqtt.host == "localhost"
        assert mqtt.port == 1883
        assert mqtt.username is None
        assert mqtt.password is None
        assert mqtt.tls_ca_file is None
    assert gateway.ocpp_port == 9000
    assert gateway.heartbeat_interval == 300
    assert gateway.call_timeout == 30.0
    assert gateway.allowed_charge_points is None
    assert bridge.call_timeout == 30.0
    assert bridge.charging_voltage == 230.0
    assert bridge.charging_phases == 3
    assert bridge.bemcom_heartbeat_interval == 30.0
    assert bridge.actuator_kinds == frozenset(ACTUATOR_KINDS)
    assert rawlogger.send_raw_message_to_db is False


# --------------------------------------------------------------------------- problems


def test_every_problem_is_reported_at_once() -> None:
    env = {
        "CONNECTOR_NAME": "a/b",
        "MQTT_BROKER_PORT": "not-a-port",
        "OCPP_CONFIG": "execute_nothing",
        "CHARGING_VOLTAGE": "nan",
        "CHARGING_PHASES": "4",
        "BEMCOM_HEARTBEAT_INTERVAL": "-1",
        "BUS_EVENTS_ENDPOINT": "tcp://0.0.0.0:5680",
    }
    problems = problems_of(load_bridge_settings, env)
    assert len(problems) == len(env)
    for name, value in env.items():
        [line] = [line for line in problems if line.startswith(f"{name}=")]
        assert repr(value) in line
        assert "expected" in line


@pytest.mark.parametrize(
    ("name", "value", "expectation"),
    [
        ("OCPP_PORT", "0", "an integer from 1 to 65535"),
        ("OCPP_PORT", "65536", "an integer from 1 to 65535"),
        ("OCPP_PORT", "9000.5", "an integer from 1 to 65535"),
        ("OCPP_PORT", "http", "an integer from 1 to 65535"),
        ("OCPP_HEARTBEAT_INTERVAL", "0", "an integer"),
        ("OCPP_CALL_TIMEOUT", "inf", "a number"),
        ("OCPP_CALL_TIMEOUT", "nan", "a number"),
        ("OCPP_MAX_FRAME_BYTES", "10", "an integer"),
        ("OCPP_ALLOWED_CHARGE_POINTS", ", ,", "comma-separated ids"),
    ],
)
def test_gateway_rejects_bad_values(name: str, value: str, expectation: str) -> None:
    [line] = problems_of(load_gateway, {name: value})
    assert line.startswith(f"{name}={value!r} is invalid")
    assert expectation in line


def test_error_message_joins_all_problems() -> None:
    with pytest.raises(SettingsError) as caught:
        load_gateway({"OCPP_PORT": "x", "OCPP_HEARTBEAT_INTERVAL": "y"})
    assert "OCPP_PORT" in str(caught.value)
    assert "OCPP_HEARTBEAT_INTERVAL" in str(caught.value)
    assert len(caught.value.problems) == 2


def test_allowed_charge_points_are_split_and_stripped() -> None:
    settings = load_gateway({"OCPP_ALLOWED_CHARGE_POINTS": " CP_1, CP.2 ,,CP 3"})
    assert settings.allowed_charge_points == frozenset({"CP_1", "CP.2", "CP 3"})


# --------------------------------------------------------------------------- OCPP_CONFIG


@pytest.mark.parametrize(
    "value",
    [
        json.dumps({"execute_send_charging_profile": {}, "execute_reset": {"anything": 1}}),
        json.dumps(["execute_send_charging_profile", "execute_reset"]),
        "execute_send_charging_profile,execute_reset",
        " execute_send_charging_profile , execute_reset ,",
    ],
)
def test_ocpp_config_forms(value: str) -> None:
    expected = frozenset({"execute_send_charging_profile", "execute_reset"})
    assert parse_ocpp_config(value, ACTUATOR_KINDS) == expected
    assert load_bridge_settings({"OCPP_CONFIG": value}).actuator_kinds == expected


@pytest.mark.parametrize("value", ["", "  ", "{}", "[]", ","])
def test_ocpp_config_empty_means_all(value: str) -> None:
    assert load_bridge_settings({"OCPP_CONFIG": value}).actuator_kinds == frozenset(ACTUATOR_KINDS)


def test_ocpp_config_every_kind_is_accepted() -> None:
    assert parse_ocpp_config(",".join(ACTUATOR_KINDS), ACTUATOR_KINDS) == frozenset(ACTUATOR_KINDS)


@pytest.mark.parametrize(
    "value",
    [
        "execute_send_charging_profile,execute_teleport",
        json.dumps(["execute_teleport"]),
        json.dumps({"execute_teleport": {}}),
    ],
)
def test_ocpp_config_unknown_names_are_rejected(value: str) -> None:
    with pytest.raises(ValueError, match="execute_teleport"):
        parse_ocpp_config(value, ACTUATOR_KINDS)
    [line] = problems_of(load_bridge_settings, {"OCPP_CONFIG": value})
    assert line.startswith("OCPP_CONFIG=")
    assert "execute_teleport" in line


@pytest.mark.parametrize("value", ["[1, 2]", '["execute_reset", null]', "{not json", "[execute_reset]"])
def test_ocpp_config_bad_json_is_rejected(value: str) -> None:
    [line] = problems_of(load_bridge_settings, {"OCPP_CONFIG": value})
    assert line.startswith(f"OCPP_CONFIG={value!r} is invalid")


# --------------------------------------------------------------------------- endpoints


@pytest.mark.parametrize(
    "endpoint",
    [
        "tcp://127.0.0.1:5680",
        "tcp://localhost:1",
        "tcp://[::1]:65535",
        "ipc:///tmp/ocpp-events.sock",
        "ipc://@abstract",
    ],
)
def test_endpoint_accepts_loopback_and_ipc(endpoint: str) -> None:
    settings = load_gateway({"BUS_EVENTS_ENDPOINT": endpoint, "BUS_COMMANDS_ENDPOINT": endpoint})
    assert settings.bus.events_endpoint == endpoint
    assert settings.bus.commands_endpoint == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "tcp://0.0.0.0:1",
        "tcp://*:5680",
        "tcp://192.168.1.10:5680",
        "tcp://example.com:5680",
        "tcp://[::]:5680",
        "tcp://127.0.0.1",
        "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:65536",
        "tcp://127.0.0.1:port",
        "tcp://user@127.0.0.1:5680",
        "127.0.0.1:5680",
        "udp://127.0.0.1:5680",
    ],
)
def test_endpoint_rejects_public_or_malformed(endpoint: str) -> None:
    for name in ("BUS_EVENTS_ENDPOINT", "BUS_COMMANDS_ENDPOINT"):
        for loader in LOADERS:
            [line] = problems_of(loader, {name: endpoint})
            assert line.startswith(f"{name}={endpoint!r} is invalid")
            assert "ipc://" in line


# --------------------------------------------------------------------------- flags


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("TRUE", True),
        ("true", False),
        ("True", False),
        ("1", False),
        ("yes", False),
        ("", False),
        (" TRUE", False),
        ("FALSE", False),
    ],
)
def test_flags_only_exactly_true(value: str, expected: bool) -> None:
    assert load_gateway({"DEBUG": value}).debug is expected
    assert load_rawlogger({"SEND_RAW_MESSAGE_TO_DB": value}).send_raw_message_to_db is expected


# --------------------------------------------------------------------------- MQTT


@pytest.mark.parametrize("loader", MQTT_LOADERS)
def test_mqtt_password_without_username_is_rejected(loader: Loader) -> None:
    [line] = problems_of(loader, {"MQTT_PASSWORD": "secret"})
    assert "MQTT_PASSWORD" in line
    assert "MQTT_USERNAME" in line
    assert "secret" not in line  # a password is never echoed


@pytest.mark.parametrize("loader", MQTT_LOADERS)
def test_mqtt_credentials(loader: Loader) -> None:
    settings = loader({"MQTT_USERNAME": "bemcom", "MQTT_PASSWORD": "secret"})
    assert settings.mqtt.username == "bemcom"
    assert settings.mqtt.password == "secret"
    assert loader({"MQTT_USERNAME": "bemcom"}).mqtt.password is None


@pytest.mark.parametrize("loader", MQTT_LOADERS)
def test_mqtt_tls_ca_file_must_exist(loader: Loader, tmp_path: Path) -> None:
    ca_file = write(tmp_path / "ca.pem", "-----BEGIN CERTIFICATE-----\n")
    assert loader({"MQTT_TLS_CA_FILE": str(ca_file)}).mqtt.tls_ca_file == str(ca_file)
    missing = str(tmp_path / "missing.pem")
    [line] = problems_of(loader, {"MQTT_TLS_CA_FILE": missing})
    assert line.startswith(f"MQTT_TLS_CA_FILE={missing!r} is invalid")
    [line] = problems_of(loader, {"MQTT_TLS_CA_FILE": str(tmp_path)})  # a directory is no file
    assert line.startswith("MQTT_TLS_CA_FILE=")


# --------------------------------------------------------------------------- CONNECTOR_NAME


@pytest.mark.parametrize("name", ["ocpp/connector", "ocpp+", "#", "a/b/c"])
def test_connector_name_with_topic_characters_is_rejected(name: str) -> None:
    for loader in LOADERS:
        [line] = problems_of(loader, {"CONNECTOR_NAME": name})
        assert line.startswith(f"CONNECTOR_NAME={name!r} is invalid")


@pytest.mark.parametrize("name", ["site-1_ocpp", "ocpp.connector", "OCPP Connector"])
def test_connector_name_accepted(name: str) -> None:
    assert load_bridge_settings({"CONNECTOR_NAME": name}).connector_name == name


@pytest.mark.parametrize("loader", MQTT_LOADERS)
def test_mqtt_max_pending_stays_below_the_16_bit_message_ids(loader: Loader) -> None:
    assert loader({"MQTT_MAX_PENDING": "50000"}).mqtt.max_pending == 50_000
    [line] = problems_of(loader, {"MQTT_MAX_PENDING": "60000"})
    assert line.startswith("MQTT_MAX_PENDING='60000' is invalid")
    assert "an integer from 10 to 50000" in line
