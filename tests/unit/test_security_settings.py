"""Security settings of the gateway: validated at start, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.settings import SettingsError, load_gateway
from processes.bridge.settings import load_bridge_settings
from tests.support.htpasswd import htpasswd_line


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as error:
        load_gateway(env)
    return error.value.problems


def test_defaults_are_plain_ws_without_authentication_and_the_documented_limits() -> None:
    settings = load_gateway({})
    assert (settings.max_connections, settings.max_calls_per_second, settings.max_frame_bytes) == (
        20_000,
        20,
        1024 * 1024,
    )
    assert settings.credentials is None and settings.tls is None
    assert settings.security_profile == 0


def test_an_htpasswd_file_is_loaded_and_its_hashes_never_shown(tmp_path: Path) -> None:
    auth = tmp_path / "htpasswd"
    auth.write_text(f"# charge points\n{htpasswd_line('CP_1', 's3cret')}\n{htpasswd_line('CP 2', 'other')}\n")
    settings = load_gateway({"OCPP_AUTH_FILE": str(auth)})
    assert settings.credentials is not None and set(settings.credentials) == {"CP_1", "CP 2"}
    assert settings.security_profile == 1
    assert "$2y$" not in repr(settings)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("CP_1:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "not a bcrypt hash"),
        ("# nothing\n", "no entries"),
        ("x\n", "line 1"),
    ],
)
def test_a_bad_htpasswd_file_names_the_variable_and_the_problem(tmp_path: Path, content: str, expected: str) -> None:
    auth = tmp_path / "htpasswd"
    auth.write_text(content)
    [problem] = problems({"OCPP_AUTH_FILE": str(auth)})
    assert problem.startswith("OCPP_AUTH_FILE=") and expected in problem


@pytest.mark.parametrize("endpoint", ["tcp://0.0.0.0:5680", "tcp://192.0.2.1:5680", "tcp://*:5680", "tcp://host:1"])
def test_the_bus_binds_loopback_only(endpoint: str) -> None:
    for load in (load_gateway, load_bridge_settings):
        with pytest.raises(SettingsError) as error:
            load({"BUS_EVENTS_ENDPOINT": endpoint, "BUS_COMMANDS_ENDPOINT": endpoint})
        assert [p.split("=")[0] for p in error.value.problems] == ["BUS_EVENTS_ENDPOINT", "BUS_COMMANDS_ENDPOINT"]
