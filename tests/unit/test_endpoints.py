"""Bus endpoints (ipc:// defaults under var/, loopback tcp://, the Unix socket length limit) and
the addresses charge points are told to connect to. Pure: no socket is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.addresses import connect_line, connect_urls, ipv4_addresses, ipv6_addresses, ordered
from common.endpoints import IPC_PATH_MAX_BYTES, EndpointError, resolve_endpoint
from common.settings import PROJECT_ROOT, load_bus, read_env_file

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 10.88.0.0/16 2 0 2
           |-- 10.88.0.0
              /16 link UNICAST
           |-- 10.88.0.1
              /32 host LOCAL
     +-- 127.0.0.0/8 2 0 2
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
Local:
           |-- 10.88.0.1
              /32 host LOCAL
           |-- 192.0.2.2
              /32 host LOCAL
"""
IF_INET6 = """fe8000000000000000fc00fffe000001 04 40 20 80     eth0
20010db8000000000000000000000005 04 40 00 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
"""


def test_relative_ipc_paths_live_in_the_project_directory() -> None:
    root = Path("/srv/site-a")
    assert resolve_endpoint("ipc://var/bus-events.ipc", root) == "ipc:///srv/site-a/var/bus-events.ipc"
    assert resolve_endpoint("ipc:///run/ocpp/e.ipc", root) == "ipc:///run/ocpp/e.ipc"
    assert resolve_endpoint("ipc://@abstract", root) == "ipc://@abstract"
    assert resolve_endpoint("tcp://127.0.0.1:5680", root) == "tcp://127.0.0.1:5680"


def test_two_installations_get_different_default_endpoints() -> None:
    a = resolve_endpoint("ipc://var/bus-events.ipc", Path("/srv/site-a"))
    b = resolve_endpoint("ipc://var/bus-events.ipc", Path("/srv/site-b"))
    assert a != b


def test_the_env_file_and_the_code_agree_on_the_defaults() -> None:
    from_env_file = load_bus(read_env_file(PROJECT_ROOT / ".env"))
    built_in = load_bus({})
    assert from_env_file.events_endpoint == built_in.events_endpoint == f"ipc://{PROJECT_ROOT}/var/bus-events.ipc"
    assert from_env_file.commands_endpoint == built_in.commands_endpoint


def test_an_ipc_path_too_long_for_a_unix_socket_is_refused_clearly() -> None:
    fits = "/" + "x" * (IPC_PATH_MAX_BYTES - 1)
    assert resolve_endpoint(f"ipc://{fits}", Path("/")) == f"ipc://{fits}"
    with pytest.raises(EndpointError, match=r"108 bytes long .* at most 107 .* shorter path"):
        resolve_endpoint(f"ipc://{fits}x", Path("/"))
    with pytest.raises(EndpointError, match="at most 107"):
        resolve_endpoint("ipc://var/bus-events.ipc", Path("/" + "deep/" * 20))


@pytest.mark.parametrize("endpoint", ["tcp://0.0.0.0:5680", "tcp://*:5680", "tcp://192.0.2.1:1", "ipc://"])
def test_public_interfaces_stay_refused(endpoint: str) -> None:
    with pytest.raises(EndpointError, match="ipc://"):
        resolve_endpoint(endpoint, PROJECT_ROOT)


def test_a_long_path_is_a_settings_problem_naming_the_variable() -> None:
    from common.settings import SettingsError

    with pytest.raises(SettingsError) as raised:
        load_bus({"BUS_COMMANDS_ENDPOINT": "ipc:///" + "y" * 200})
    [line] = raised.value.problems
    assert line.startswith("BUS_COMMANDS_ENDPOINT='ipc:///yyy") and "at most 107" in line


def test_host_addresses_from_proc() -> None:
    assert ipv4_addresses(FIB_TRIE) == ["10.88.0.1", "127.0.0.1", "192.0.2.2"]
    assert ipv6_addresses(IF_INET6) == ["2001:db8::5", "::1"]
    assert ordered(["127.0.0.1", "10.88.0.1", "::1", "2001:db8::5"]) == ["10.88.0.1", "2001:db8::5", "127.0.0.1", "::1"]


def test_charge_points_are_told_every_address_of_this_host() -> None:
    urls = connect_urls("0.0.0.0", 9000, tls=False, addresses=["127.0.0.1", "192.0.2.2"])
    assert urls == ["ws://192.0.2.2:9000/<charge point id>", "ws://127.0.0.1:9000/<charge point id>"]
    assert connect_line(urls) == (
        "Charge points connect to ws://192.0.2.2:9000/<charge point id> (or ws://127.0.0.1:9000/<charge point id>)"
    )
    assert connect_urls("::", 9443, tls=True, addresses=["::1", "2001:db8::5"]) == [
        "wss://[2001:db8::5]:9443/<charge point id>",
        "wss://[::1]:9443/<charge point id>",
    ]
    assert connect_urls("ocpp.example.com", 9000, tls=True) == ["wss://ocpp.example.com:9000/<charge point id>"]
    one = "ws://10.0.0.1:1/<charge point id>"
    assert connect_line([one]) == f"Charge points connect to {one}"
