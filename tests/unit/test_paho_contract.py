"""The private paho-mqtt members common/mqtt/paho_adapter.py depends on are still what they were.

Pure: no broker, no socket. A paho upgrade that renames, re-signs or rewrites any of them fails
here, before anything subtle breaks at run time (a PUBACK missed, a write never sent).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.metadata
import inspect
import re
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, _ConnectionState

from common.mqtt import paho_adapter
from common.mqtt.paho_adapter import PAHO_HOOK_CALLERS, PAHO_PRIVATE_MEMBERS, PAHO_VERSION, GatheringClient, PahoMember

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = Path(paho_adapter.__file__).resolve()
METHODS = [m for m in PAHO_PRIVATE_MEMBERS + PAHO_HOOK_CALLERS if m.kind in {"overridden", "called"}]
RECHECK = (
    "paho-mqtt changed {what} of {name}: re-check common/mqtt/paho_adapter.py against the new paho "
    "(what GatheringClient relies on: {use}), then update PAHO_VERSION, requirements.txt and the "
    "recorded signature and source_sha256 of {name} in PAHO_PRIVATE_MEMBERS / PAHO_HOOK_CALLERS"
)


def source_sha256(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode("utf-8")).hexdigest()[:16]


def a_client() -> paho.Client:
    return paho.Client(CallbackAPIVersion.VERSION2)


def test_the_installed_paho_is_the_pinned_one_the_members_were_checked_against() -> None:
    pins = re.findall(r"^paho-mqtt==(\S+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pins == [PAHO_VERSION], f"requirements.txt pins {pins}, the adapter was checked against {PAHO_VERSION}"
    assert importlib.metadata.version("paho-mqtt") == PAHO_VERSION


def test_every_member_is_listed_once_with_what_it_is_used_for() -> None:
    names = [m.name for m in PAHO_PRIVATE_MEMBERS + PAHO_HOOK_CALLERS]
    assert len(names) == len(set(names))
    for member in PAHO_PRIVATE_MEMBERS + PAHO_HOOK_CALLERS:
        assert member.use, member.name
        assert bool(member.signature) == bool(member.source_sha256) == (member in METHODS), member.name
    assert all(m.name.startswith("_") or "._" in m.name for m in PAHO_PRIVATE_MEMBERS)


@pytest.mark.parametrize("member", METHODS, ids=lambda m: m.name)
def test_each_method_keeps_its_signature_and_its_source(member: PahoMember) -> None:
    function = getattr(paho.Client, member.name, None)
    assert callable(function), RECHECK.format(what="the existence", name=member.name, use=member.use)
    signature = str(inspect.signature(function))
    assert signature == member.signature, RECHECK.format(what="the signature", name=member.name, use=member.use)
    digest = source_sha256(function)
    assert digest == member.source_sha256, RECHECK.format(
        what=f"the source (sha256 now {digest})", name=member.name, use=member.use
    )


@pytest.mark.parametrize("member", [m for m in PAHO_PRIVATE_MEMBERS if m.kind == "attribute"], ids=lambda m: m.name)
def test_each_attribute_is_set_by_pahos_constructor(member: PahoMember) -> None:
    client = a_client()
    assert hasattr(client, member.name), RECHECK.format(what="the attributes", name=member.name, use=member.use)


def test_the_incoming_packet_state_and_the_connection_states_the_adapter_reads() -> None:
    client = a_client()
    assert {"command", "packet"} <= set(client._in_packet)
    assert client._in_packet["command"] == 0
    for member in PAHO_PRIVATE_MEMBERS:
        if member.kind == "module":
            module, _, name = member.name.rpartition(".")
            assert hasattr(importlib.import_module(module), name), member.name
    assert _ConnectionState.MQTT_CS_CONNECTED in set(_ConnectionState)


@pytest.mark.parametrize("member", [m for m in PAHO_PRIVATE_MEMBERS if m.kind == "overridden"], ids=lambda m: m.name)
def test_each_override_takes_pahos_parameters(member: PahoMember) -> None:
    assert member.name in vars(GatheringClient), f"{member.name} is listed as overridden but is not"
    ours = list(inspect.signature(vars(GatheringClient)[member.name]).parameters)
    theirs = list(inspect.signature(getattr(paho.Client, member.name)).parameters)
    assert ours == theirs, member.name


def test_the_adapter_touches_no_private_paho_member_that_is_not_listed() -> None:
    """``self._x`` and ``super()._x`` in the adapter that name a member of paho's client, and
    private names imported from paho, must all be in PAHO_PRIVATE_MEMBERS."""
    listed = {m.name for m in PAHO_PRIVATE_MEMBERS}
    paho_private = private_members_of_paho()
    tree = ast.parse(ADAPTER.read_text())
    touched = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)} & paho_private
    overridden_unlisted = {name for name in vars(GatheringClient) if name in paho_private and name not in listed}
    assert touched <= listed, f"not listed in PAHO_PRIVATE_MEMBERS: {sorted(touched - listed)}"
    assert not overridden_unlisted
    for module, name in private_imports(tree):
        assert f"{module}.{name}" in listed, f"{module}.{name} is not listed in PAHO_PRIVATE_MEMBERS"


def test_no_other_module_touches_a_private_paho_member() -> None:
    """Outside the adapter, a private paho member is neither imported nor read on any object
    other than ``self`` (the link's own private attributes may share paho's names)."""
    paho_private = private_members_of_paho()
    offences = []
    for path in sorted(p for folder in ("common", "processes", "tools") for p in (ROOT / folder).rglob("*.py")):
        if path.resolve() == ADAPTER:
            continue
        tree = ast.parse(path.read_text())
        offences += [f"{path.relative_to(ROOT)}: imports {m}.{n}" for m, n in private_imports(tree)]
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in paho_private
                and not (isinstance(node.value, ast.Name) and node.value.id == "self")
            ):
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
    assert not offences, offences


def private_members_of_paho() -> set[str]:
    names = set(dir(paho.Client)) | set(vars(a_client()))
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def private_imports(tree: ast.Module) -> list[tuple[str, str]]:
    return [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None and node.module.startswith("paho")
        for alias in node.names
        if alias.name.startswith("_")
    ]
