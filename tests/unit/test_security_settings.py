"""Security settings of the gateway: validated at start, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest

from common.settings import SettingsError, load_bridge, load_gateway
from tests.support.certs import certificate_authority, self_signed, signed_by


def htpasswd_line(user: str, password: str) -> str:
    """As ``htpasswd -B`` writes it (Apache's $2y$ prefix, cost 5 to keep tests fast)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    return f"{user}:$2y${hashed[4:]}"


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as error:
        load_gateway(env)
    return error.value.problems


def test_defaults_are_plain_ws_without_authentication_and_the_documented_limits() -> None:
    settings = load_gateway({})
    assert (settings.max_connections, settings.max_calls_per_second, settings.max_frame_bytes) == (20_000, 20, 65536)
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


def test_tls_profiles_2_and_3_load_their_files(tmp_path: Path) -> None:
    ca = certificate_authority(tmp_path)
    server = signed_by(ca, tmp_path, "server")
    auth = tmp_path / "htpasswd"
    auth.write_text(htpasswd_line("CP_1", "pw") + "\n")
    tls = {"OCPP_TLS_CERT_FILE": str(server.cert), "OCPP_TLS_KEY_FILE": str(server.key)}
    assert load_gateway({**tls, "OCPP_AUTH_FILE": str(auth)}).security_profile == 2
    profile3 = load_gateway({**tls, "OCPP_TLS_CLIENT_CA_FILE": str(ca.cert)})
    assert profile3.security_profile == 3
    assert profile3.tls is not None and profile3.tls.context() is not None


def test_a_certificate_without_key_is_one_problem_naming_both_variables(tmp_path: Path) -> None:
    pair = self_signed(tmp_path)
    [problem] = problems({"OCPP_TLS_CERT_FILE": str(pair.cert)})
    assert "OCPP_TLS_CERT_FILE" in problem and "OCPP_TLS_KEY_FILE" in problem
    [problem] = problems({"OCPP_TLS_KEY_FILE": str(pair.key)})
    assert "OCPP_TLS_CERT_FILE" in problem and "OCPP_TLS_KEY_FILE" in problem


def test_files_that_do_not_load_or_do_not_exist_are_reported_together(tmp_path: Path) -> None:
    one, other = self_signed(tmp_path, "one"), self_signed(tmp_path, "other")
    reported = problems(
        {
            "OCPP_TLS_CERT_FILE": str(one.cert),
            "OCPP_TLS_KEY_FILE": str(other.key),  # not the certificate's key
            "OCPP_AUTH_FILE": str(tmp_path / "missing"),
            "OCPP_MAX_CONNECTIONS": "0",
            "OCPP_MAX_CALLS_PER_SECOND": "many",
        }
    )
    assert len(reported) == 4, reported
    assert any(p.startswith("OCPP_TLS_CERT_FILE=") and "do not load" in p for p in reported)
    assert any(p.startswith("OCPP_AUTH_FILE=") and "readable file" in p for p in reported)
    assert any(p.startswith("OCPP_MAX_CONNECTIONS='0'") for p in reported)
    assert any(p.startswith("OCPP_MAX_CALLS_PER_SECOND='many'") for p in reported)


def test_a_client_ca_needs_tls(tmp_path: Path) -> None:
    ca = certificate_authority(tmp_path)
    [problem] = problems({"OCPP_TLS_CLIENT_CA_FILE": str(ca.cert)})
    assert "OCPP_TLS_CLIENT_CA_FILE" in problem and "OCPP_TLS_CERT_FILE" in problem


@pytest.mark.parametrize("endpoint", ["tcp://0.0.0.0:5680", "tcp://192.0.2.1:5680", "tcp://*:5680", "tcp://host:1"])
def test_the_bus_binds_loopback_only(endpoint: str) -> None:
    for load in (load_gateway, load_bridge):
        with pytest.raises(SettingsError) as error:
            load({"BUS_EVENTS_ENDPOINT": endpoint, "BUS_COMMANDS_ENDPOINT": endpoint})
        assert [p.split("=")[0] for p in error.value.problems] == ["BUS_EVENTS_ENDPOINT", "BUS_COMMANDS_ENDPOINT"]
