"""Security settings of the gateway with real certificates and keys (made by the openssl tool):
the TLS security profiles load their files; files that do not match are reported with the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.settings import SettingsError, load_gateway
from tests.support.certs import certificate_authority, self_signed, signed_by
from tests.support.htpasswd import htpasswd_line


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as error:
        load_gateway(env)
    return error.value.problems


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
