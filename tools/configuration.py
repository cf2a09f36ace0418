"""The configuration keys of a simulated OCPP 1.6 charge point, with a real charger's answers.

Pure (no sockets, no clocks), so tests drive it directly::

    store = factory_configuration(2, refuse={"MeterValueSampleInterval"}, reboot_required={"HeartbeatInterval"})
    store.get_configuration()                                     # {"configurationKey": [every key], "unknownKey": []}
    store.change_configuration("MeterValuesSampledData", "Energy.Active.Import.Register,SoC")  # "Accepted"
    store.change_configuration("MeterValueSampleInterval", "15")  # "Rejected": refused
    store.change_configuration("HeartbeatInterval", "60")         # "RebootRequired": in force after store.reboot()
    store.change_requests["MeterValuesSampledData"]               # 1

ChangeConfiguration is answered as OCPP 1.6 section 5.3 says: ``NotSupported`` for a key the store
does not hold, ``Rejected`` for a read-only key, a value that does not fit the key (not a whole
number ≥ 0 for an interval, not ``true``/``false`` for a flag, a measurand list with a measurand
outside ``supported_measurands`` or longer than its ``...MaxLength`` key) or a key in ``refuse``;
``RebootRequired`` for a key in ``reboot_required``, else ``Accepted``.

A ``RebootRequired`` value is stored at once and GetConfiguration reports it (as chargers that
persist their configuration do, e.g. MicroOcpp: the spec's "setting has been changed, but change
will be available after reboot"); what the charge point *uses* (:meth:`ConfigurationStore.effective`)
stays the old value until :meth:`ConfigurationStore.reboot` (a Reset, or a BootNotification the
charge point sends by itself). So a connector that compares GetConfiguration with what it wants sends
nothing again after the reboot.

Key names are matched without regard to case (OCPP's ``CiString``); answers use the store's spelling.
"""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from tools.ocppj import DEFAULT_CONFIGURATION, JSONDict

__all__ = [
    "CONFIGURATION_STATUSES",
    "FACTORY_MAX_MEASURANDS",
    "MEASURANDS",
    "SIMULATED_MEASURANDS",
    "ConfigurationStore",
    "EffectiveValues",
    "factory_configuration",
]

#: Every measurand of OCPP 1.6 (the MeterValues schema's enum).
MEASURANDS: Final = (
    "Energy.Active.Export.Register",
    "Energy.Active.Import.Register",
    "Energy.Reactive.Export.Register",
    "Energy.Reactive.Import.Register",
    "Energy.Active.Export.Interval",
    "Energy.Active.Import.Interval",
    "Energy.Reactive.Export.Interval",
    "Energy.Reactive.Import.Interval",
    "Power.Active.Export",
    "Power.Active.Import",
    "Power.Offered",
    "Power.Reactive.Export",
    "Power.Reactive.Import",
    "Power.Factor",
    "Current.Import",
    "Current.Export",
    "Current.Offered",
    "Voltage",
    "Frequency",
    "Temperature",
    "SoC",
    "RPM",
)

#: The measurands the simulated station (``tools/station.py``) can report.
SIMULATED_MEASURANDS: Final = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "SoC",
    "Current.Offered",
    "Power.Offered",
)

#: ChangeConfiguration.conf statuses.
CONFIGURATION_STATUSES: Final = ("Accepted", "Rejected", "RebootRequired", "NotSupported")

#: Keys whose value is a whole number of seconds or items (≥ 0).
INTEGER_KEYS: Final = frozenset(
    {
        "ClockAlignedDataInterval",
        "ConnectionTimeOut",
        "HeartbeatInterval",
        "MeterValueSampleInterval",
        "ResetRetries",
        "TransactionMessageAttempts",
        "TransactionMessageRetryInterval",
        "WebSocketPingInterval",
        "BlinkRepeat",
        "LightIntensity",
        "MinimumStatusDuration",
    }
)
#: Keys whose value is ``true`` or ``false`` (any case).
BOOLEAN_KEYS: Final = frozenset(
    {
        "AllowOfflineTxForUnknownId",
        "AuthorizationCacheEnabled",
        "AuthorizeRemoteTxRequests",
        "LocalAuthListEnabled",
        "LocalAuthorizeOffline",
        "LocalPreAuthorize",
        "StopTransactionOnEVSideDisconnect",
        "StopTransactionOnInvalidId",
        "UnlockConnectorOnEVSideDisconnect",
        "ConnectorSwitch3to1PhaseSupported",
    }
)
#: Keys holding a comma-separated list of measurands.
MEASURAND_KEYS: Final = frozenset(
    {"MeterValuesSampledData", "MeterValuesAlignedData", "StopTxnSampledData", "StopTxnAlignedData"}
)
PHASE_ROTATIONS: Final = frozenset({"NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR"})

#: SupportedFeatureProfiles of :func:`factory_configuration`.
FEATURE_PROFILES: Final = "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"

#: MeterValuesSampledDataMaxLength (and the other list lengths) of :func:`factory_configuration`.
FACTORY_MAX_MEASURANDS: Final = 8

_REFUSALS: Final = frozenset({"Rejected", "NotSupported"})


@dataclass
class _Key:
    key: str  # the store's spelling
    value: str | None
    readonly: bool


class EffectiveValues(abc.ABC):
    """The value a charger uses now (:meth:`effective`, a 1.6 key's or a 2.0.1 variable's) read as
    a number or a list."""

    #: Whether ``-5`` reads as a whole number (2.0.1's device model) or as none (1.6's keys).
    signed_ints: ClassVar[bool] = False

    @abc.abstractmethod
    def effective(self, key: str) -> str | None:
        """The value in force, None when absent."""

    def effective_int(self, key: str) -> int | None:
        """:meth:`effective` as a whole number, None when absent or not one."""
        value = (self.effective(key) or "").strip()
        return int(value) if (value.lstrip("-") if self.signed_ints else value).isdigit() else None

    def effective_list(self, key: str) -> list[str] | None:
        """:meth:`effective` as a comma-separated list (``[]`` for an empty value), None when absent."""
        value = self.effective(key)
        if value is None:
            return None
        return [item.strip() for item in value.split(",") if item.strip()]


class ConfigurationStore(EffectiveValues):
    """OCPP 1.6 configuration keys (value, read-only) and how a real charger answers for them.

    ``entries``: ``{"key", "value", "readonly"}`` dicts, GetConfiguration's shape; by default the
    simulator's long-standing two keys (``DEFAULT_CONFIGURATION``); :func:`factory_configuration`
    builds a real charger's set. ``supported_measurands``: what the ``*SampledData`` and
    ``*AlignedData`` keys may name (default: all of OCPP 1.6). ``refuse``: keys whose every change is
    refused, answered ``Rejected`` (a set) or the status a mapping gives (``Rejected`` or
    ``NotSupported``). ``reboot_required``: keys whose changes take effect only after a reboot.
    ``minimums``: the smallest value an integer key takes (e.g. ``{"MeterValueSampleInterval": 30}``).
    ``refuse``, ``reboot_required`` and ``minimums`` are public and may be changed while running.
    """

    def __init__(
        self,
        entries: Iterable[JSONDict] = DEFAULT_CONFIGURATION,
        *,
        supported_measurands: Iterable[str] = MEASURANDS,
        refuse: Mapping[str, str] | Iterable[str] = (),
        reboot_required: Iterable[str] = (),
        minimums: Mapping[str, int] | None = None,
    ) -> None:
        self._keys: dict[str, _Key] = {}
        #: Values in force that differ from the stored ones: the old value of a RebootRequired change.
        self._in_force: dict[str, str | None] = {}
        for entry in entries:
            self.set(str(entry["key"]), entry.get("value"), readonly=bool(entry.get("readonly", False)))
        self.supported_measurands: set[str] = set(supported_measurands)
        self.refuse: dict[str, str] = {}
        for key, status in refuse.items() if isinstance(refuse, Mapping) else ((k, "Rejected") for k in refuse):
            if status not in _REFUSALS:
                raise ValueError(f"refuse {key!r} with {status!r}: must be one of {sorted(_REFUSALS)}")
            self.refuse[key] = status
        self.reboot_required: set[str] = set(reboot_required)
        self.minimums: dict[str, int] = dict(minimums or {})
        #: ChangeConfiguration requests per key (the store's spelling; as sent for unknown keys), whatever the answer.
        self.change_requests: Counter[str] = Counter()
        #: (key, value, status) of every ChangeConfiguration, in order.
        self.history: list[tuple[str, str, str]] = []

    # ------------------------------------------------------------------ reading

    def _find(self, key: str) -> _Key | None:
        return self._keys.get(key.casefold())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) is not None

    @property
    def keys(self) -> list[str]:
        """The keys, in the store's spelling and order."""
        return [entry.key for entry in self._keys.values()]

    def value(self, key: str) -> str | None:
        """The stored value (what GetConfiguration reports), None for an unknown key or an unset value."""
        entry = self._find(key)
        return entry.value if entry is not None else None

    def effective(self, key: str) -> str | None:
        """The value the charge point uses now: the stored one, or the old one while a RebootRequired change waits."""
        entry = self._find(key)
        if entry is None:
            return None
        return self._in_force.get(entry.key, entry.value)

    @property
    def pending(self) -> dict[str, str | None]:
        """Keys changed with ``RebootRequired`` whose new value is not in force yet: key -> new value."""
        return {key: self._keys[key.casefold()].value for key in self._in_force}

    def entries(self) -> list[JSONDict]:
        """Every key as GetConfiguration reports it."""
        return [self._entry(entry) for entry in self._keys.values()]

    @staticmethod
    def _entry(entry: _Key) -> JSONDict:
        reported: JSONDict = {"key": entry.key, "readonly": entry.readonly}
        if entry.value is not None:
            reported["value"] = entry.value
        return reported

    # ------------------------------------------------------------------ OCPP

    def get_configuration(self, keys: Iterable[str] | None = None) -> JSONDict:
        """The GetConfiguration.conf payload: every key when ``keys`` is empty or None, else the
        known ones of ``keys`` (in their order, once each) and the others in ``unknownKey``."""
        requested = list(keys or [])
        if not requested:
            return {"configurationKey": self.entries(), "unknownKey": []}
        known: dict[str, JSONDict] = {}
        unknown: list[str] = []
        for key in requested:
            entry = self._find(key)
            if entry is None:
                if key not in unknown:
                    unknown.append(key)
            elif entry.key not in known:
                known[entry.key] = self._entry(entry)
        return {"configurationKey": list(known.values()), "unknownKey": unknown}

    def change_configuration(self, key: str, value: str) -> str:
        """The ChangeConfiguration.conf status; an ``Accepted`` or ``RebootRequired`` value is stored."""
        entry = self._find(key)
        name = entry.key if entry is not None else key
        self.change_requests[name] += 1
        status = self._change(entry, value)
        self.history.append((name, value, status))
        return status

    def _change(self, entry: _Key | None, value: str) -> str:
        if entry is None:
            return "NotSupported"
        refusal = self._lookup(self.refuse, entry.key)
        if refusal is not None:
            return str(refusal)
        if entry.readonly or not self.valid(entry.key, value):
            return "Rejected"
        if self._lookup_set(self.reboot_required, entry.key):
            in_force = self._in_force.get(entry.key, entry.value)
            entry.value = value
            if value == in_force:  # what is in force already (or changed back before the reboot)
                self._in_force.pop(entry.key, None)
            else:
                self._in_force[entry.key] = in_force
            return "RebootRequired"
        entry.value = value
        self._in_force.pop(entry.key, None)  # an immediate change supersedes a pending one
        return "Accepted"

    def reboot(self) -> dict[str, str | None]:
        """The charge point (re)boots: pending RebootRequired values come into force; returns them."""
        applied = self.pending
        self._in_force.clear()
        return applied

    # ------------------------------------------------------------------ values

    def valid(self, key: str, value: str) -> bool:
        """Whether ``value`` fits ``key`` (the store's spelling)."""
        if key in INTEGER_KEYS:
            text = value.strip()
            if not text.isdigit() or not text.isascii():
                return False
            minimum = self._lookup(self.minimums, key)
            return minimum is None or int(text) >= minimum
        if key in BOOLEAN_KEYS:
            return value.strip().lower() in ("true", "false")
        if key in MEASURAND_KEYS:
            return self._valid_measurands(key, value)
        if key == "ConnectorPhaseRotation":
            return self._valid_phase_rotation(value)
        return True

    def max_length(self, key: str) -> int | None:
        """How many items a list key takes: its own ``<key>MaxLength``, for a measurand list else
        ``MeterValuesSampledDataMaxLength``; None when the store sets no limit."""
        candidates = [f"{key}MaxLength"]
        if key in MEASURAND_KEYS:
            candidates.append("MeterValuesSampledDataMaxLength")
        for candidate in candidates:
            limit = self.value(candidate)
            if limit is not None and limit.strip().isdigit():
                return int(limit)
        return None

    def _valid_measurands(self, key: str, value: str) -> bool:
        if not value.strip():
            return True  # an empty list: nothing sampled
        items = [item.strip() for item in value.split(",")]
        if any(item not in self.supported_measurands for item in items):
            return False
        limit = self.max_length(key)
        return limit is None or len(items) <= limit

    def _valid_phase_rotation(self, value: str) -> bool:
        items = [item.strip() for item in value.split(",")]
        for item in items:
            connector, _, rotation = item.partition(".")
            if not connector.isdigit() or rotation not in PHASE_ROTATIONS:
                return False
        limit = self.max_length("ConnectorPhaseRotation")
        return limit is None or len(items) <= limit

    @staticmethod
    def _lookup(table: Mapping[str, Any], key: str) -> Any:
        folded = key.casefold()
        return next((value for name, value in table.items() if name.casefold() == folded), None)

    @staticmethod
    def _lookup_set(names: Iterable[str], key: str) -> bool:
        folded = key.casefold()
        return any(name.casefold() == folded for name in names)

    # ------------------------------------------------------------------ set-up

    def set(self, key: str, value: str | None, *, readonly: bool = False) -> None:
        """Add a key or overwrite one (set-up, as a firmware would: no checks, not counted, in force at once)."""
        existing = self._find(key)
        name = existing.key if existing is not None else key
        self._keys[key.casefold()] = _Key(name, value, readonly)
        self._in_force.pop(name, None)

    def remove(self, key: str) -> None:
        """Drop a key (KeyError when the store does not hold it)."""
        entry = self._keys.pop(key.casefold())
        self._in_force.pop(entry.key, None)


def factory_configuration(
    connectors: int = 1,
    *,
    meter_interval: int = 60,
    sampled_data: str = "Energy.Active.Import.Register",
    max_measurands: int = FACTORY_MAX_MEASURANDS,
    rate_units: str = "Current",
    max_stack_level: int = 8,
    phases: int = 3,
    heartbeat_interval: int = 300,
    supported_measurands: Iterable[str] = SIMULATED_MEASURANDS,
    refuse: Mapping[str, str] | Iterable[str] = (),
    reboot_required: Iterable[str] = (),
    minimums: Mapping[str, int] | None = None,
) -> ConfigurationStore:
    """A charger as it leaves the factory: the Core keys, local list and smart charging keys, and
    meter values of energy only (``sampled_data``) every ``meter_interval`` seconds. A single-phase
    charger (``phases=1``) reports ``ConnectorPhaseRotation`` ``NotApplicable`` for every connector."""
    if connectors < 1:
        raise ValueError("a charge point has at least one connector")
    if phases not in (1, 3):
        raise ValueError("a charger has 1 or 3 phases")
    wiring = "RST" if phases == 3 else "NotApplicable"
    rotation = ",".join(f"{number}.{wiring}" for number in range(connectors + 1))
    energy = "Energy.Active.Import.Register"
    read_only: list[tuple[str, str]] = [
        ("NumberOfConnectors", str(connectors)),
        ("SupportedFeatureProfiles", FEATURE_PROFILES),
        ("GetConfigurationMaxKeys", "50"),
        ("ChargeProfileMaxStackLevel", str(max_stack_level)),
        ("ChargingScheduleAllowedChargingRateUnit", rate_units),
        ("ChargingScheduleMaxPeriods", "24"),
        ("MaxChargingProfilesInstalled", "10"),
        ("ConnectorSwitch3to1PhaseSupported", "false"),
        ("MeterValuesSampledDataMaxLength", str(max_measurands)),
        ("MeterValuesAlignedDataMaxLength", str(max_measurands)),
        ("StopTxnSampledDataMaxLength", str(max_measurands)),
        ("StopTxnAlignedDataMaxLength", str(max_measurands)),
        ("ConnectorPhaseRotationMaxLength", str(connectors + 1)),
        ("LocalAuthListMaxLength", "1000"),
        ("SendLocalListMaxLength", "100"),
    ]
    writable: list[tuple[str, str]] = [
        ("HeartbeatInterval", str(heartbeat_interval)),
        ("MeterValuesSampledData", sampled_data),
        ("MeterValueSampleInterval", str(meter_interval)),
        ("ClockAlignedDataInterval", "0"),
        ("MeterValuesAlignedData", energy),
        ("StopTxnSampledData", energy),
        ("StopTxnAlignedData", ""),
        ("ConnectorPhaseRotation", rotation),
        ("AuthorizeRemoteTxRequests", "false"),
        ("LocalAuthorizeOffline", "true"),
        ("LocalPreAuthorize", "false"),
        ("LocalAuthListEnabled", "true"),
        ("AuthorizationCacheEnabled", "false"),
        ("AllowOfflineTxForUnknownId", "false"),
        ("ConnectionTimeOut", "60"),
        ("ResetRetries", "3"),
        ("StopTransactionOnEVSideDisconnect", "true"),
        ("StopTransactionOnInvalidId", "true"),
        ("UnlockConnectorOnEVSideDisconnect", "true"),
        ("TransactionMessageAttempts", "3"),
        ("TransactionMessageRetryInterval", "60"),
        ("WebSocketPingInterval", "0"),
    ]
    entries = [{"key": key, "value": value, "readonly": True} for key, value in read_only]
    entries += [{"key": key, "value": value, "readonly": False} for key, value in writable]
    return ConfigurationStore(
        entries,
        supported_measurands=supported_measurands,
        refuse=refuse,
        reboot_required=reboot_required,
        minimums=minimums,
    )
