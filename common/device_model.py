"""OCPP 2.0.1 device-model variables as one text key (DATAPOINTS.md: ``{cp}__configuration__{key}``).

A variable is named by its component (name, optional instance, optional EVSE and connector) and
its own name (optional instance). The key joins them with dots, the EVSE and connector as their
numbers, and a variable instance in brackets (brackets are not in OCPP's identifier strings)::

    SampledDataCtrlr.TxUpdatedMeasurands
    EVSE.1.Power
    Connector.1.1.ConnectorType
    OCPPCommCtrlr.MessageTimeout[Default]
    TokenReader.Front.Enabled

Component and variable dicts may have snake_case keys (bus events) or camelCase keys (OCPP-J).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _field(data: Mapping[str, Any], snake: str, camel: str) -> Any:
    value = data.get(snake)
    return data.get(camel) if value is None else value


def variable_key(component: Mapping[str, Any], variable: Mapping[str, Any]) -> str:
    """The key of one variable; ValueError when the component or variable has no name."""
    name = component.get("name")
    variable_name = variable.get("name")
    if not isinstance(name, str) or not name or not isinstance(variable_name, str) or not variable_name:
        raise ValueError("a device-model variable needs a component name and a variable name")
    parts = [name]
    instance = component.get("instance")
    if isinstance(instance, str) and instance:
        parts.append(instance)
    evse = component.get("evse")
    if isinstance(evse, Mapping) and isinstance(evse.get("id"), int):
        parts.append(str(evse["id"]))
        connector = _field(evse, "connector_id", "connectorId")
        if isinstance(connector, int):
            parts.append(str(connector))
    variable_instance = variable.get("instance")
    suffix = f"[{variable_instance}]" if isinstance(variable_instance, str) and variable_instance else ""
    parts.append(variable_name + suffix)
    return ".".join(parts)


def parse_variable_key(key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(component, variable) in OCPP-J's camelCase for a key of :func:`variable_key`; ValueError
    saying what is wrong otherwise."""
    if not isinstance(key, str):
        raise ValueError(f"a device-model key must be a string like 'Component.Variable', not {key!r}")
    parts = key.split(".")
    if len(parts) < 2 or not all(parts):
        raise ValueError(f"{key!r} is not 'Component[.instance][.evse[.connector]].Variable'")
    name, *middle, last = parts
    component: dict[str, Any] = {"name": name}
    numbers: list[int] = []
    for part in middle:
        if part.isdigit():
            numbers.append(int(part))
        elif "instance" in component or numbers:
            raise ValueError(f"{key!r}: {part!r} is neither the component's instance nor an EVSE number")
        else:
            component["instance"] = part
    if len(numbers) > 2:
        raise ValueError(f"{key!r}: at most an EVSE and a connector number")
    if numbers:
        component["evse"] = {"id": numbers[0]}
        if len(numbers) == 2:
            component["evse"]["connectorId"] = numbers[1]
    variable: dict[str, Any] = {}
    if last.endswith("]") and "[" in last:
        variable_name, _, instance = last[:-1].partition("[")
        if not variable_name or not instance:
            raise ValueError(f"{key!r}: a variable instance is written Variable[instance]")
        variable = {"name": variable_name, "instance": instance}
    else:
        variable = {"name": last}
    return component, variable
