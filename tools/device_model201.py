"""The device model of a simulated OCPP 2.0.1 charging station: components, variables, their
attributes and characteristics, and how a real station answers GetVariables, SetVariables,
GetBaseReport and GetReport for them.

Pure (no sockets, no clocks), so tests drive it directly::

    model = factory_device_model(2, read_only={"SampledDataCtrlr.TxUpdatedInterval"})
    model.value("SampledDataCtrlr.TxUpdatedMeasurands")        # "Energy.Active.Import.Register"
    model.set_variable(component, variable, "Energy.Active.Import.Register,SoC")   # "Accepted"
    model.set_variable(component, variable, "RPM")              # "Rejected": not in its valuesList
    model.get_variables({"getVariableData": [...]})            # GetVariablesResponse payload
    model.base_report("FullInventory")                          # NotifyReport reportData entries

Variables are named by the keys of :mod:`common.device_model`
(``Component[.instance][.evse[.connector]].Variable[[instance]]``: ``EVSE.1.Power``,
``OCPPCommCtrlr.MessageTimeout[Default]``); names are matched without regard to case (OCPP's
identifier strings), answers use the model's spelling.

SetVariables is answered as OCPP 2.0.1 B05 says: ``UnknownComponent`` when no variable has that
component, ``UnknownVariable`` when the component lacks that variable, ``NotSupportedAttributeType``
for an attribute type the variable does not have, ``Rejected`` for a ``ReadOnly`` variable, a value
that does not fit its characteristics (not an integer / decimal / boolean, outside ``minLimit`` and
``maxLimit``, an OptionList value or a MemberList/SequenceList member outside ``valuesList``, a list
longer than ``maxLimit``) or a key in ``refuse``; ``RebootRequired`` for a key in
``reboot_required`` (the value is stored at once, :meth:`DeviceModel.effective` keeps the old one
until :meth:`DeviceModel.reboot`), else ``Accepted``. GetVariables answers ``Rejected`` for a
``WriteOnly`` variable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from common.device_model import parse_variable_key, variable_key
from tools.configuration import MEASURANDS as MEASURANDS_V16
from tools.configuration import SIMULATED_MEASURANDS, EffectiveValues
from tools.ocppj import JSONDict

__all__ = [
    "ACTUAL",
    "MEASURANDS",
    "SIMULATED_MEASURANDS",
    "DeviceModel",
    "Variable",
    "factory_device_model",
]

ACTUAL: Final = "Actual"
ATTRIBUTE_TYPES: Final = ("Actual", "Target", "MinSet", "MaxSet")
READ_ONLY: Final = "ReadOnly"
READ_WRITE: Final = "ReadWrite"
WRITE_ONLY: Final = "WriteOnly"

#: Every measurand of OCPP 2.0.1 (MeasurandEnumType): 1.6's but RPM and Temperature, and the net
#: and apparent energies.
MEASURANDS: Final = (
    *(name for name in MEASURANDS_V16 if name not in ("RPM", "Temperature")),
    "Energy.Active.Net",
    "Energy.Reactive.Net",
    "Energy.Apparent.Net",
    "Energy.Apparent.Import",
    "Energy.Apparent.Export",
)

#: The measurand lists of the controllers (MemberList of measurands).
MEASURAND_VARIABLES: Final = (
    "SampledDataCtrlr.TxStartedMeasurands",
    "SampledDataCtrlr.TxUpdatedMeasurands",
    "SampledDataCtrlr.TxEndedMeasurands",
    "AlignedDataCtrlr.Measurands",
    "AlignedDataCtrlr.TxEndedMeasurands",
)

#: Variables of SummaryInventory: what tells a station's status and availability, and its problems.
SUMMARY_VARIABLES: Final = frozenset({"availabilitystate", "available", "problem"})

_REFUSALS: Final = frozenset({"Rejected", "NotSupportedAttributeType"})


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _component_identity(component: Mapping[str, Any]) -> tuple[Any, ...]:
    evse = component.get("evse")
    evse_id = evse.get("id") if isinstance(evse, Mapping) else None
    connector = evse.get("connectorId", evse.get("connector_id")) if isinstance(evse, Mapping) else None
    return (_fold(component.get("name")), _fold(component.get("instance") or None), evse_id, connector)


def _variable_identity(variable: Mapping[str, Any]) -> tuple[Any, ...]:
    return (_fold(variable.get("name")), _fold(variable.get("instance") or None))


@dataclass
class Variable:
    """One variable of one component: its attributes (type -> value), mutability, characteristics."""

    component: JSONDict
    variable: JSONDict
    attributes: dict[str, str | None]
    mutability: str = READ_WRITE
    data_type: str = "string"
    values_list: str | None = None
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    persistent: bool = True
    constant: bool = False
    supports_monitoring: bool = False

    @property
    def key(self) -> str:
        return variable_key(self.component, self.variable)

    @property
    def component_identity(self) -> tuple[Any, ...]:
        return _component_identity(self.component)

    @property
    def identity(self) -> tuple[Any, ...]:
        return (*self.component_identity, *_variable_identity(self.variable))

    def values(self) -> list[str]:
        """``valuesList`` as a list ([] without one)."""
        return [item.strip() for item in (self.values_list or "").split(",") if item.strip()]

    def report_data(self, values: Mapping[str, str | None] | None = None) -> JSONDict:
        """The NotifyReport ``reportData`` entry (``values``: the attribute values to report)."""
        shown = self.attributes if values is None else values
        attributes: list[JSONDict] = []
        for kind, value in shown.items():
            attribute: JSONDict = {"type": kind, "mutability": self.mutability}
            if value is not None and self.mutability != WRITE_ONLY:
                attribute["value"] = value
            attribute["persistent"] = self.persistent
            attribute["constant"] = self.constant
            attributes.append(attribute)
        characteristics: JSONDict = {"dataType": self.data_type, "supportsMonitoring": self.supports_monitoring}
        if self.unit is not None:
            characteristics["unit"] = self.unit
        if self.min_limit is not None:
            characteristics["minLimit"] = self.min_limit
        if self.max_limit is not None:
            characteristics["maxLimit"] = self.max_limit
        if self.values_list is not None:
            characteristics["valuesList"] = self.values_list
        return {
            "component": dict(self.component),
            "variable": dict(self.variable),
            "variableAttribute": attributes,
            "variableCharacteristics": characteristics,
        }


@dataclass
class _Pending:
    """The value in force while a RebootRequired change waits for the reboot."""

    value: str | None
    attribute: str = ACTUAL


@dataclass
class DeviceModel(EffectiveValues):
    """A charging station's device model and its answers (see the module's text).

    ``refuse``: keys whose SetVariables is refused (``Rejected``, or the status a mapping gives);
    ``reboot_required``: keys whose changes answer ``RebootRequired``. ``dynamic``: keys whose Actual
    value comes from a function (what the station knows now: installed profiles, list entries).
    Every attribute is public and may be changed while running.
    """

    signed_ints: ClassVar[bool] = True

    variables: list[Variable] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    reboot_required: set[str] = field(default_factory=set)
    dynamic: dict[str, Callable[[], str]] = field(default_factory=dict)
    #: SetVariables requests per key (the model's spelling; as sent for unknown variables), whatever the answer.
    set_requests: Counter[str] = field(default_factory=Counter)
    #: (key, attribute type, value, status) of every SetVariables entry, in order.
    history: list[tuple[str, str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_identity: dict[tuple[Any, ...], Variable] = {}
        self._components: set[tuple[Any, ...]] = set()
        self._in_force: dict[str, _Pending] = {}
        for variable in list(self.variables):
            self._index(variable)

    def _index(self, variable: Variable) -> None:
        self._by_identity[variable.identity] = variable
        self._components.add(variable.component_identity)

    # ------------------------------------------------------------------ set-up

    def add(self, variable: Variable) -> Variable:
        """Add a variable, or replace the one with the same component and name."""
        old = self._by_identity.get(variable.identity)
        if old is not None:
            self.variables.remove(old)
        self.variables.append(variable)
        self._index(variable)
        return variable

    def set(self, key: str, value: str | None, attribute: str = ACTUAL) -> None:
        """Set a value as the firmware would (no checks, not counted, in force at once); KeyError
        for an unknown key."""
        variable = self.require(key)
        variable.attributes[attribute] = value
        self._in_force.pop(variable.key, None)

    def bind(self, key: str, provider: Callable[[], str]) -> None:
        """The Actual value of ``key`` comes from ``provider`` from now on (KeyError: unknown key)."""
        self.dynamic[self.require(key).key] = provider

    def make_read_only(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.require(key).mutability = READ_ONLY

    # ------------------------------------------------------------------ reading

    def __iter__(self) -> Iterator[Variable]:
        return iter(self.variables)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.find_key(key) is not None

    @property
    def keys(self) -> list[str]:
        return [variable.key for variable in self.variables]

    def find(self, component: Mapping[str, Any], variable: Mapping[str, Any]) -> Variable | None:
        return self._by_identity.get((*_component_identity(component), *_variable_identity(variable)))

    def find_key(self, key: str) -> Variable | None:
        try:
            component, variable = parse_variable_key(key)
        except ValueError:
            return None
        return self.find(component, variable)

    def require(self, key: str) -> Variable:
        found = self.find_key(key)
        if found is None:
            raise KeyError(key)
        return found

    def has_component(self, component: Mapping[str, Any]) -> bool:
        return _component_identity(component) in self._components

    def attribute_values(self, variable: Variable) -> dict[str, str | None]:
        """The variable's attribute values as reported now (a dynamic Actual from its provider)."""
        values = dict(variable.attributes)
        provider = self.dynamic.get(variable.key)
        if provider is not None:
            values[ACTUAL] = provider()
        return values

    def value(self, key: str, attribute: str = ACTUAL) -> str | None:
        """The reported value (what GetVariables answers), None for an unknown key or no value."""
        variable = self.find_key(key)
        return self.attribute_values(variable).get(attribute) if variable is not None else None

    def effective(self, key: str) -> str | None:
        """The Actual value the station uses now: the reported one, or the old one while a
        RebootRequired change waits."""
        variable = self.find_key(key)
        if variable is None:
            return None
        pending = self._in_force.get(variable.key)
        return pending.value if pending is not None else self.attribute_values(variable).get(ACTUAL)

    def effective_bool(self, key: str, default: bool = False) -> bool:
        value = (self.effective(key) or "").strip().lower()
        return default if value not in ("true", "false") else value == "true"

    @property
    def pending(self) -> dict[str, str | None]:
        """Keys changed with ``RebootRequired`` whose new value is not in force yet: key -> new value."""
        return {key: self.value(key) for key in self._in_force}

    def reboot(self) -> dict[str, str | None]:
        """The station (re)boots: pending RebootRequired values come into force; returns them."""
        applied = self.pending
        self._in_force.clear()
        return applied

    def evse_ids(self) -> list[int]:
        """The EVSEs the model has (EVSE components), in order."""
        ids = {
            variable.component["evse"]["id"]
            for variable in self.variables
            if _fold(variable.component.get("name")) == "evse" and isinstance(variable.component.get("evse"), dict)
        }
        return sorted(ids)

    def connector_ids(self, evse_id: int) -> list[int]:
        ids = set()
        for variable in self.variables:
            evse = variable.component.get("evse")
            if (
                _fold(variable.component.get("name")) == "connector"
                and isinstance(evse, dict)
                and evse.get("id") == evse_id
                and isinstance(evse.get("connectorId"), int)
            ):
                ids.add(evse["connectorId"])
        return sorted(ids)

    # ------------------------------------------------------------------ OCPP

    def get_variables(self, payload: Mapping[str, Any]) -> JSONDict:
        """The GetVariablesResponse payload."""
        return {"getVariableResult": [self.get_variable(item) for item in payload.get("getVariableData") or []]}

    def get_variable(self, item: Mapping[str, Any]) -> JSONDict:
        component, wanted = dict(item.get("component") or {}), dict(item.get("variable") or {})
        kind = item.get("attributeType") or ACTUAL
        result: JSONDict = {"component": component, "variable": wanted}
        if item.get("attributeType") is not None:
            result["attributeType"] = kind
        variable = self.find(component, wanted)
        if variable is None:
            result["attributeStatus"] = "UnknownComponent" if not self.has_component(component) else "UnknownVariable"
            return result
        values = self.attribute_values(variable)
        if kind not in values:
            result["attributeStatus"] = "NotSupportedAttributeType"
            return result
        if variable.mutability == WRITE_ONLY:
            result["attributeStatus"] = "Rejected"
            return result
        result["attributeStatus"] = "Accepted"
        value = values[kind]
        result["attributeValue"] = value if value is not None else ""
        return result

    def set_variables(self, payload: Mapping[str, Any]) -> JSONDict:
        """The SetVariablesResponse payload; accepted values are stored."""
        results = []
        for item in payload.get("setVariableData") or []:
            component, wanted = dict(item.get("component") or {}), dict(item.get("variable") or {})
            kind = item.get("attributeType") or ACTUAL
            status = self.set_variable(component, wanted, str(item.get("attributeValue", "")), kind)
            result: JSONDict = {"attributeStatus": status, "component": component, "variable": wanted}
            if item.get("attributeType") is not None:
                result["attributeType"] = kind
            results.append(result)
        return {"setVariableResult": results}

    def set_variable(
        self, component: Mapping[str, Any], wanted: Mapping[str, Any], value: str, attribute: str = ACTUAL
    ) -> str:
        """One SetVariables entry's status; an ``Accepted`` or ``RebootRequired`` value is stored."""
        variable = self.find(component, wanted)
        try:
            name = variable.key if variable is not None else variable_key(component, wanted)
        except ValueError:
            name = repr((dict(component), dict(wanted)))
        self.set_requests[name] += 1
        status = self._set(variable, component, value, attribute)
        self.history.append((name, attribute, value, status))
        return status

    def _set(self, variable: Variable | None, component: Mapping[str, Any], value: str, attribute: str) -> str:
        if variable is None:
            return "UnknownComponent" if not self.has_component(component) else "UnknownVariable"
        if attribute not in variable.attributes:
            return "NotSupportedAttributeType"
        refusal = self._lookup(self.refuse, variable.key)
        if refusal is not None:
            return str(refusal)
        if variable.mutability == READ_ONLY or variable.key in self.dynamic or not self.valid(variable, value):
            return "Rejected"
        old = variable.attributes[attribute]
        variable.attributes[attribute] = value
        if attribute == ACTUAL and self._lookup(self.reboot_required, variable.key) is not None:
            pending = self._in_force.get(variable.key)
            in_force = pending.value if pending is not None else old
            if value == in_force:
                self._in_force.pop(variable.key, None)
            else:
                self._in_force[variable.key] = _Pending(in_force)
            return "RebootRequired"
        self._in_force.pop(variable.key, None)
        return "Accepted"

    def valid(self, variable: Variable, value: str) -> bool:
        """Whether ``value`` fits the variable's characteristics."""
        kind = variable.data_type
        text = value.strip()
        if kind == "integer":
            if not text.lstrip("-").isdigit() or not text.isascii():
                return False
            return self._within(variable, float(text))
        if kind == "decimal":
            try:
                number = float(text)
            except ValueError:
                return False
            return number == number and self._within(variable, number)  # not NaN
        if kind == "boolean":
            return text.lower() in ("true", "false")
        if kind == "OptionList":
            return not variable.values_list or text in variable.values()
        if kind in ("MemberList", "SequenceList"):
            items = [item.strip() for item in text.split(",")] if text else []
            allowed = variable.values()
            if allowed and any(item not in allowed for item in items):
                return False
            if kind == "MemberList" and len(set(items)) != len(items):
                return False
            return variable.max_limit is None or len(items) <= variable.max_limit
        return variable.max_limit is None or len(value) <= variable.max_limit

    @staticmethod
    def _within(variable: Variable, number: float) -> bool:
        return (variable.min_limit is None or number >= variable.min_limit) and (
            variable.max_limit is None or number <= variable.max_limit
        )

    @staticmethod
    def _lookup(table: Mapping[str, Any] | Iterable[str], key: str) -> Any:
        folded = key.casefold()
        if isinstance(table, Mapping):
            return next((value for name, value in table.items() if name.casefold() == folded), None)
        return next((name for name in table if name.casefold() == folded), None)

    # ------------------------------------------------------------------ reports

    def base_report(self, report_base: str) -> list[JSONDict]:
        """The ``reportData`` entries of GetBaseReport: every variable (FullInventory), the
        writable ones (ConfigurationInventory) or status and availability (SummaryInventory)."""
        if report_base == "ConfigurationInventory":
            chosen = [v for v in self.variables if v.mutability != READ_ONLY]
        elif report_base == "SummaryInventory":
            chosen = [v for v in self.variables if _fold(v.variable.get("name")) in SUMMARY_VARIABLES]
        else:
            chosen = list(self.variables)
        return [variable.report_data(self.attribute_values(variable)) for variable in chosen]

    def report(self, payload: Mapping[str, Any]) -> list[JSONDict]:
        """The ``reportData`` entries of GetReport: the variables ``componentVariable`` names (a
        component without a variable: all of its variables) of the components meeting every
        ``componentCriteria`` (a component meets ``Active``/``Available``/``Enabled``/``Problem``
        when its variable of that name is ``true``)."""
        chosen = list(self.variables)
        wanted = payload.get("componentVariable")
        if wanted:
            chosen = [v for v in chosen if any(self._names(v, item) for item in wanted)]
        criteria = payload.get("componentCriteria")
        if criteria:
            chosen = [v for v in chosen if all(self._meets(v.component, criterion) for criterion in criteria)]
        return [variable.report_data(self.attribute_values(variable)) for variable in chosen]

    @staticmethod
    def _names(variable: Variable, item: Mapping[str, Any]) -> bool:
        component = item.get("component") or {}
        if _fold(component.get("name")) != _fold(variable.component.get("name")):
            return False
        if component.get("instance") and _fold(component["instance"]) != _fold(variable.component.get("instance")):
            return False
        evse = component.get("evse")
        own = variable.component.get("evse") or {}
        if isinstance(evse, Mapping):
            if evse.get("id") != own.get("id"):
                return False
            if evse.get("connectorId") is not None and evse.get("connectorId") != own.get("connectorId"):
                return False
        wanted = item.get("variable")
        if not isinstance(wanted, Mapping):
            return True
        if _fold(wanted.get("name")) != _fold(variable.variable.get("name")):
            return False
        return not wanted.get("instance") or _fold(wanted["instance"]) == _fold(variable.variable.get("instance"))

    def _meets(self, component: Mapping[str, Any], criterion: str) -> bool:
        found = self.find(component, {"name": criterion})
        return found is not None and (self.attribute_values(found).get(ACTUAL) or "").lower() == "true"


# ---------------------------------------------------------------------- the factory


def _var(
    component: str | JSONDict,
    name: str,
    value: str | None,
    *,
    mutability: str = READ_WRITE,
    data_type: str = "string",
    instance: str | None = None,
    **characteristics: Any,
) -> Variable:
    comp = {"name": component} if isinstance(component, str) else component
    variable: JSONDict = {"name": name}
    if instance is not None:
        variable["instance"] = instance
    return Variable(
        dict(comp), variable, {ACTUAL: value}, mutability=mutability, data_type=data_type, **characteristics
    )


def factory_device_model(
    evses: int = 1,
    *,
    connectors_per_evse: int = 1,
    sampled_measurands: str = "Energy.Active.Import.Register",
    supported_measurands: Iterable[str] = SIMULATED_MEASURANDS,
    max_measurands: int = 8,
    tx_updated_interval: int = 60,
    aligned_interval: int = 900,
    heartbeat_interval: int = 300,
    rate_units: str = "A,W",
    max_stack_level: int = 8,
    max_periods: int = 24,
    max_profiles: int = 10,
    phases: int = 3,
    max_power_w: float = 11_040.0,
    vendor: str = "BEMCom",
    model: str = "Simulator201",
    read_only: Iterable[str] = (),
    refuse: Mapping[str, str] | Iterable[str] = (),
    reboot_required: Iterable[str] = (),
    items_per_report: int = 50,
    items_per_get_variables: int = 50,
    local_list_max: int = 1000,
    local_list_items_per_message: int = 100,
    authorize_remote_start: bool = False,
) -> DeviceModel:
    """A charging station as it leaves the factory: ``evses`` EVSEs of ``connectors_per_evse``
    connectors, meter values of ``sampled_measurands`` every ``tx_updated_interval`` seconds during a
    transaction, the measurand lists taking ``supported_measurands`` (their ``valuesList``) up to
    ``max_measurands`` of them, smart charging in ``rate_units`` (``A``, ``W`` or ``A,W``).
    ``read_only``: keys made ReadOnly (so SetVariables on them is ``Rejected``)."""
    if evses < 1 or connectors_per_evse < 1:
        raise ValueError("a charging station has at least one EVSE with at least one connector")
    if phases not in (1, 3):
        raise ValueError("a charger has 1 or 3 phases")
    units = [unit.strip() for unit in rate_units.split(",") if unit.strip()]
    if not units or any(unit not in ("A", "W") for unit in units):
        raise ValueError(f"rate units are A and/or W, not {rate_units!r}")
    measurands = ",".join(supported_measurands)
    unknown = [name for name in supported_measurands if name not in MEASURANDS]
    if unknown:
        raise ValueError(f"not OCPP 2.0.1 measurands: {unknown}")
    ro, rw = READ_ONLY, READ_WRITE

    def measurand_list(component: str, name: str, value: str) -> Variable:
        return _var(component, name, value, data_type="MemberList", values_list=measurands, max_limit=max_measurands)

    def interval(component: str, name: str, value: int) -> Variable:
        return _var(component, name, str(value), data_type="integer", unit="s", min_limit=0)

    def flag(component: str | JSONDict, name: str, value: bool, mutability: str = rw) -> Variable:
        return _var(component, name, "true" if value else "false", mutability=mutability, data_type="boolean")

    def count(component: str | JSONDict, name: str, value: int, instance: str | None = None, **extra: Any) -> Variable:
        return _var(component, name, str(value), mutability=ro, data_type="integer", instance=instance, **extra)

    def available(component: str | JSONDict) -> list[Variable]:
        """AvailabilityState and Available, of the station, an EVSE or a connector."""
        availability = "Available,Occupied,Reserved,Unavailable,Faulted"
        state = _var(
            component, "AvailabilityState", "Available", mutability=ro, data_type="OptionList", values_list=availability
        )
        return [state, flag(component, "Available", True, ro)]

    variables: list[Variable] = [
        _var("ChargingStation", "Model", model, mutability=ro),
        _var("ChargingStation", "VendorName", vendor, mutability=ro),
        *available("ChargingStation"),
        count("ChargingStation", "SupplyPhases", phases),
    ]
    per_evse = max_power_w
    for evse in range(1, evses + 1):
        component: JSONDict = {"name": "EVSE", "evse": {"id": evse}}
        power = _var(component, "Power", "0", mutability=ro, data_type="decimal", unit="W", max_limit=per_evse)
        power.attributes["MaxSet"] = f"{per_evse:g}"
        variables += [
            *available(component),
            power,
            count(component, "SupplyPhases", phases),
        ]
        for connector in range(1, connectors_per_evse + 1):
            plug: JSONDict = {"name": "Connector", "evse": {"id": evse, "connectorId": connector}}
            variables += [
                *available(plug),
                _var(plug, "ConnectorType", "cType2", mutability=ro),
                count(plug, "SupplyPhases", phases),
            ]
    energy = "Energy.Active.Import.Register"
    variables += [
        flag("SampledDataCtrlr", "Enabled", True),
        flag("SampledDataCtrlr", "Available", True, ro),
        measurand_list("SampledDataCtrlr", "TxStartedMeasurands", energy),
        measurand_list("SampledDataCtrlr", "TxUpdatedMeasurands", sampled_measurands),
        interval("SampledDataCtrlr", "TxUpdatedInterval", tx_updated_interval),
        measurand_list("SampledDataCtrlr", "TxEndedMeasurands", energy),
        interval("SampledDataCtrlr", "TxEndedInterval", 0),
        flag("AlignedDataCtrlr", "Enabled", True),
        flag("AlignedDataCtrlr", "Available", True, ro),
        measurand_list("AlignedDataCtrlr", "Measurands", energy),
        interval("AlignedDataCtrlr", "Interval", aligned_interval),
        measurand_list("AlignedDataCtrlr", "TxEndedMeasurands", ""),
        interval("AlignedDataCtrlr", "TxEndedInterval", 0),
        flag("SmartChargingCtrlr", "Enabled", True),
        flag("SmartChargingCtrlr", "Available", True, ro),
        count("SmartChargingCtrlr", "ProfileStackLevel", max_stack_level),
        _var(
            "SmartChargingCtrlr", "RateUnit", ",".join(units), mutability=ro, data_type="MemberList", values_list="A,W"
        ),
        count("SmartChargingCtrlr", "PeriodsPerSchedule", max_periods),
        count("SmartChargingCtrlr", "Entries", 0, instance="ChargingProfiles", max_limit=max_profiles),
        _var("OCPPCommCtrlr", "HeartbeatInterval", str(heartbeat_interval), data_type="integer", unit="s", min_limit=1),
        count("OCPPCommCtrlr", "MessageTimeout", 30, instance="Default", unit="s"),
        _var("OCPPCommCtrlr", "NetworkConfigurationPriority", "0", data_type="SequenceList", values_list="0"),
        _var("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "3", data_type="integer", min_limit=0),
        _var("OCPPCommCtrlr", "OfflineThreshold", "60", data_type="integer", unit="s", min_limit=0),
        _var("OCPPCommCtrlr", "MessageAttempts", "3", data_type="integer", instance="TransactionEvent", min_limit=0),
        _var(
            "OCPPCommCtrlr", "MessageAttemptInterval", "60", data_type="integer", instance="TransactionEvent", unit="s"
        ),
        _var("OCPPCommCtrlr", "ResetRetries", "3", data_type="integer", min_limit=0),
        _var("OCPPCommCtrlr", "WebSocketPingInterval", "0", data_type="integer", unit="s", min_limit=0),
        flag("AuthCtrlr", "Enabled", True),
        flag("AuthCtrlr", "AuthorizeRemoteStart", authorize_remote_start),
        flag("AuthCtrlr", "LocalAuthorizeOffline", True),
        flag("AuthCtrlr", "LocalPreAuthorize", False),
        flag("AuthCtrlr", "OfflineTxForUnknownIdEnabled", False),
        flag("LocalAuthListCtrlr", "Enabled", True),
        flag("LocalAuthListCtrlr", "Available", True, ro),
        count("LocalAuthListCtrlr", "Entries", 0, max_limit=local_list_max),
        count("LocalAuthListCtrlr", "ItemsPerMessage", local_list_items_per_message),
        count("LocalAuthListCtrlr", "BytesPerMessage", 65_536),
        count("DeviceDataCtrlr", "ItemsPerMessage", items_per_report, instance="GetReport"),
        count("DeviceDataCtrlr", "ItemsPerMessage", items_per_get_variables, instance="GetVariables"),
        count("DeviceDataCtrlr", "ItemsPerMessage", items_per_get_variables, instance="SetVariables"),
        count("DeviceDataCtrlr", "BytesPerMessage", 65_536, instance="GetReport"),
        count("DeviceDataCtrlr", "BytesPerMessage", 65_536, instance="GetVariables"),
        count("DeviceDataCtrlr", "BytesPerMessage", 65_536, instance="SetVariables"),
        _var("TxCtrlr", "EVConnectionTimeOut", "60", data_type="integer", unit="s", min_limit=0),
        flag("TxCtrlr", "StopTxOnEVSideDisconnect", True),
        flag("TxCtrlr", "StopTxOnInvalidId", True),
        _var(
            "TxCtrlr",
            "TxStartPoint",
            "PowerPathClosed",
            data_type="MemberList",
            values_list="ParkingBayOccupancy,EVConnected,Authorized,DataSigned,PowerPathClosed,EnergyTransfer",
        ),
        _var(
            "TxCtrlr",
            "TxStopPoint",
            "EVConnected,Authorized",
            data_type="MemberList",
            values_list="ParkingBayOccupancy,EVConnected,Authorized,DataSigned,PowerPathClosed,EnergyTransfer",
        ),
    ]
    refusals = dict(refuse.items()) if isinstance(refuse, Mapping) else dict.fromkeys(refuse, "Rejected")
    for key, status in refusals.items():
        if status not in _REFUSALS:
            raise ValueError(f"refuse {key!r} with {status!r}: must be one of {sorted(_REFUSALS)}")
    device_model = DeviceModel(variables, refuse=refusals, reboot_required=set(reboot_required))
    for key in [*refusals, *device_model.reboot_required, *read_only]:
        device_model.require(key)  # KeyError for a key the model does not have
    device_model.make_read_only(read_only)
    return device_model
