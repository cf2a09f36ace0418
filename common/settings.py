"""Settings of every process, read once from the environment with `.env` as defaults.

Each process calls one ``load_*`` function in its ``main()``. Every problem found is
collected and raised together as a :class:`SettingsError` whose lines each name the
variable, the value and what was expected. Library code never exits; ``main()`` does.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from common.endpoints import DEFAULT_COMMANDS_ENDPOINT, DEFAULT_EVENTS_ENDPOINT, EndpointError, resolve_endpoint
from common.security import parse_charge_point_ids, parse_htpasswd, server_tls_context

#: The measurands of OCPP 1.6 (section 7.31); 2.0.1 has the same names. Spelled out, not taken from
#: the library's enum: importing ``ocpp.v16`` costs every process a third of a second at start
#: (tests/unit/test_settings_second_round.py holds the two equal).
MEASURANDS = frozenset(
    {
        "Current.Export",
        "Current.Import",
        "Current.Offered",
        "Energy.Active.Export.Register",
        "Energy.Active.Import.Register",
        "Energy.Reactive.Export.Register",
        "Energy.Reactive.Import.Register",
        "Energy.Active.Export.Interval",
        "Energy.Active.Import.Interval",
        "Energy.Reactive.Export.Interval",
        "Energy.Reactive.Import.Interval",
        "Frequency",
        "Power.Active.Export",
        "Power.Active.Import",
        "Power.Factor",
        "Power.Offered",
        "Power.Reactive.Export",
        "Power.Reactive.Import",
        "RPM",
        "SoC",
        "Temperature",
        "Voltage",
    }
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ENV_FILE = PROJECT_ROOT / ".env"

#: Exit code of a process stopped by a bad setting or a port it cannot bind (EX_CONFIG of
#: sysexits.h). It ends the process within supervisord's ``startsecs``, so supervisord tries it
#: ``startretries`` more times with growing back-off and then marks it FATAL.
EXIT_BAD_SETTINGS = 78


class SettingsError(Exception):
    """One or more settings are invalid; ``problems`` holds one line per variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a `.env` file: ``NAME=value`` lines, ``#`` comments, optional quotes."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw_line in path.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def environment(environ: Mapping[str, str] | None = None, env_file: Path | None = DEFAULT_ENV_FILE) -> dict[str, str]:
    """The effective environment: `.env` values as defaults, the real environment wins."""
    merged = read_env_file(env_file) if env_file is not None else {}
    merged.update(os.environ if environ is None else environ)
    return merged


T = TypeVar("T")


class _Reader:
    """Reads typed values from an environment mapping, collecting every problem."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        """The value, or None when unset or empty (empty means 'use the default')."""
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def _parse(self, name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except ValueError:
            self.problems.append(f"{name}={value!r} is invalid: expected {expected}")
            return default

    def text(self, name: str, default: str) -> str:
        return self._parse(name, default, str, "text")

    def optional_text(self, name: str) -> str | None:
        return self.raw(name)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        def parse(value: str) -> int:
            number = int(value)
            if not low <= number <= high:
                raise ValueError(value)
            return number

        return self._parse(name, default, parse, f"an integer from {low} to {high}")

    def number(self, name: str, default: float, low: float, high: float) -> float:
        def parse(value: str) -> float:
            number = float(value)
            if not low <= number <= high:  # also rejects nan
                raise ValueError(value)
            return number

        return self._parse(name, default, parse, f"a number from {low:g} to {high:g}")

    def flag(self, name: str) -> bool:
        """BEMCom's convention: exactly the string TRUE switches a flag on."""
        return self.env.get(name) == "TRUE"

    def file(self, name: str) -> str | None:
        value = self.raw(name)
        if value is not None and not Path(value).is_file():
            self.problems.append(f"{name}={value!r} is invalid: expected a readable file")
        return value

    def endpoint(self, name: str, default: str) -> str:
        """A bus endpoint (common/endpoints.py): loopback tcp:// or ipc://, relative ipc://
        paths resolved against the project directory."""
        value = self.raw(name) or default
        try:
            return resolve_endpoint(value, PROJECT_ROOT)
        except EndpointError as error:
            self.problems.append(f"{name}={value!r} is invalid: {error}")
            return value

    def htpasswd(self, name: str) -> dict[str, str] | None:
        """An htpasswd file of bcrypt entries: charge point id -> hash."""
        path = self.file(name)
        if path is None or not Path(path).is_file():
            return None
        try:
            return parse_htpasswd(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            self.problems.append(f"{name}={path!r} is invalid: {error}")
            return None

    def charge_point_ids(self, name: str) -> frozenset[str] | None:
        """Comma-separated ids, or (a value with a ``/``) a file of one id per line: its ids."""
        value = self.raw(name)
        if value is None:
            return None
        if "/" in value:
            return self._charge_point_ids_file(name, value)
        ids = frozenset(part.strip() for part in value.split(",") if part.strip())
        if not ids:
            self.problems.append(f"{name}={value!r} is invalid: expected comma-separated ids")
            return None
        return ids

    def _charge_point_ids_file(self, name: str, value: str) -> frozenset[str] | None:
        try:
            return parse_charge_point_ids(Path(value).read_bytes())
        except OSError as error:
            self.problems.append(f"{name}={value!r} is invalid: expected a readable file ({error.strerror or error})")
        except ValueError as error:
            self.problems.append(f"{name}={value!r} is invalid: {error}")
        return None

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        """One of ``choices``, in any case (the value as ``choices`` spells it)."""
        value = self.raw(name)
        if value is None:
            return default
        found = next((choice for choice in choices if choice.lower() == value.lower()), None)
        if found is None:
            self.problems.append(f"{name}={value!r} is invalid: expected {' or '.join(choices)}")
            return default
        return found

    def switch(self, name: str) -> bool:
        """On unless exactly FALSE (TRUE or unset: on); anything else is a problem."""
        value = self.raw(name)
        if value not in (None, "TRUE", "FALSE"):
            self.problems.append(f"{name}={value!r} is invalid: expected TRUE or FALSE")
        return value != "FALSE"

    def measurands(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """A comma-separated list of OCPP measurands, in order of preference, without repeats."""
        return self._names(name, default, MEASURANDS, "is not an OCPP measurand")

    def protocols(self, name: str, default: tuple[str, ...], known: Sequence[str]) -> tuple[str, ...]:
        """A comma-separated list of websocket subprotocols, in order of preference, without repeats."""
        return self._names(name, default, known, f"; expected one or more of {', '.join(known)}")

    def _names(self, name: str, default: tuple[str, ...], known: Collection[str], why: str) -> tuple[str, ...]:
        """A comma-separated list of ``known`` names, in order, without repeats; ``why`` follows
        the unknown ones in the problem."""
        value = self.raw(name)
        if value is None:
            return default
        names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
        unknown = [item for item in names if item not in known]
        if unknown or not names:
            shown = ", ".join(unknown) if unknown else "nothing"
            separator = "" if why.startswith(";") else " "
            self.problems.append(f"{name}={value!r} is invalid: {shown}{separator}{why}")
            return default
        return names

    def actuator_kinds(self, name: str, known: Sequence[str]) -> frozenset[str]:
        value = self.raw(name)
        if value is None:
            return frozenset(known)
        try:
            kinds = parse_ocpp_config(value, known)
        except ValueError as error:
            self.problems.append(f"{name}={value!r} is invalid: {error}")
            return frozenset(known)
        return kinds

    def finish(self) -> None:
        if self.problems:
            raise SettingsError(self.problems)


def parse_ocpp_config(value: str, known: Sequence[str]) -> frozenset[str]:
    """OCPP_CONFIG: a JSON object keyed by actuator names, a JSON list, or a comma list, of the
    ``known`` names (the bridge's actuator table)."""
    text = value.strip()
    names: list[str]
    if text.startswith(("{", "[")):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"expected JSON, {error}") from None
        if isinstance(parsed, dict):
            names = [str(key) for key in parsed]
        elif isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            names = parsed
        else:
            raise ValueError("expected a JSON object or a JSON list of actuator names")
    else:
        names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown actuator {', '.join(unknown)}; expected names from {', '.join(known)}")
    return frozenset(names) if names else frozenset(known)


@dataclass(frozen=True)
class TlsSettings:
    cert_file: str
    key_file: str
    client_ca_file: str | None

    def context(self) -> ssl.SSLContext:
        return server_tls_context(self.cert_file, self.key_file, self.client_ca_file)


@dataclass(frozen=True)
class BusSettings:
    events_endpoint: str
    commands_endpoint: str
    heartbeat_interval: float
    request_timeout: float
    replay_batch: int


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    tls_ca_file: str | None
    keepalive: int
    reconnect_max_delay: float
    max_pending: int


#: The websocket subprotocols of the OCPP versions served (OCPP_PROTOCOLS), in the default order of preference.
OCPP_PROTOCOLS = ("ocpp1.6", "ocpp2.0.1")

#: OCPP_METER_MEASURANDS' default: what an energy manager needs of a charging session.
DEFAULT_METER_MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "SoC",
)


@dataclass(frozen=True)
class OnboardingSettings:
    """The configuration pass after each boot (processes/gateway/onboarding.py)."""

    #: OCPP_ONBOARDING: exactly FALSE turns it off (per charge point: the charge points file).
    enabled: bool = True
    #: OCPP_METER_MEASURANDS, in order of preference (a charge point taking fewer keeps the first).
    measurands: tuple[str, ...] = DEFAULT_METER_MEASURANDS
    #: OCPP_METER_INTERVAL, OCPP_CLOCK_ALIGNED_INTERVAL: seconds, 0 leaves the charge point's own.
    meter_interval: int = 15
    clock_aligned_interval: int = 0
    #: OCPP_BOOT_WAIT: seconds after a connect without a BootNotification before asking for one.
    boot_wait: float = 10.0
    #: OCPP_CHARGE_POINTS_FILE: per charge point and per model settings (TOML), or None.
    charge_points_file: str | None = None
    #: OCPP_ONBOARDING_CALLS_PER_SECOND: onboarding's calls, all charge points together.
    calls_per_second: float = 200.0


#: OCPP_AUTHORIZE's values.
AUTHORIZE_ALL = "all"
AUTHORIZE_LISTED = "listed"


@dataclass(frozen=True)
class AuthorizationSettings:
    """Who may charge (processes/gateway/authorization.py, docs/authorization.md)."""

    #: OCPP_ID_TAGS_FILE: the id tags (TOML), or None.
    id_tags_file: str | None = None
    #: OCPP_AUTHORIZE: "all" (every id tag accepted) or "listed" (the file answers).
    mode: str = AUTHORIZE_ALL
    #: OCPP_LOCAL_LIST: keep the charge points' local authorization lists equal to the file.
    local_list: bool = True


@dataclass(frozen=True)
class FailsafeSettings:
    """The failsafe limit (processes/gateway/failsafe.py, the bridge's leases)."""

    #: OCPP_FAILSAFE_POWER: W per charge point while BEMCom is unreachable; None: off.
    power: float | None = None
    #: OCPP_FAILSAFE_AFTER: seconds without BEMCom before the failsafe is put in force.
    after: float = 60.0
    #: CHARGING_VOLTAGE, CHARGING_PHASES: for a charge point that takes amperes only.
    voltage: float = 230.0
    phases: int = 3
    #: OCPP_FAILSAFE_LEASE: seconds BEMCom's limits hold without renewal (renewed every fifth).
    lease: float = 300.0


def _failsafe(reader: _Reader, voltage: float | None = None, phases: int | None = None) -> FailsafeSettings:
    """``voltage`` and ``phases``: CHARGING_VOLTAGE and CHARGING_PHASES where the caller read them."""
    text = reader.raw("OCPP_FAILSAFE_POWER")
    power = None if text is None else reader.number("OCPP_FAILSAFE_POWER", 0.0, 0, 10_000_000)
    return FailsafeSettings(
        power=power,
        after=reader.number("OCPP_FAILSAFE_AFTER", 60.0, 1, 86400),
        voltage=voltage if voltage is not None else reader.number("CHARGING_VOLTAGE", 230.0, 1, 1000),
        phases=phases if phases is not None else reader.integer("CHARGING_PHASES", 3, 1, 3),
        lease=reader.number("OCPP_FAILSAFE_LEASE", 300.0, 5, 86400),
    )


@dataclass(frozen=True)
class GatewaySettings:
    connector_name: str
    debug: bool
    bus: BusSettings
    ocpp_host: str
    ocpp_port: int
    heartbeat_interval: int
    call_timeout: float
    journal_path: str
    journal_max_events: int
    max_frame_bytes: int
    allowed_charge_points: frozenset[str] | None
    max_connections: int = 20_000
    max_calls_per_second: int = 20
    #: charge point id -> bcrypt hash (OCPP_AUTH_FILE); None: no authentication.
    credentials: Mapping[str, str] | None = field(default=None, repr=False)
    tls: TlsSettings | None = None
    #: SEND_RAW_MESSAGE_TO_DB: raw frames are journaled (for the raw logger) only when they go
    #: to BEMCom; they are on the bus either way.
    journal_raw_frames: bool = True
    onboarding: OnboardingSettings = field(default_factory=lambda: OnboardingSettings())
    failsafe: FailsafeSettings = field(default_factory=lambda: FailsafeSettings())
    authorization: AuthorizationSettings = field(default_factory=lambda: AuthorizationSettings())
    #: OCPP_ALLOWED_CHARGE_POINTS naming a file (re-read when it changes), or None.
    allowed_charge_points_file: str | None = None
    #: OCPP_AUTH_FILE (re-read when it changes), or None.
    auth_file: str | None = None
    #: OCPP_PROTOCOLS: the websocket subprotocols served, in order of preference.
    protocols: tuple[str, ...] = OCPP_PROTOCOLS

    @property
    def security_profile(self) -> int:
        """The OCPP security profile in use (0: none, plain ws:// without authentication)."""
        if self.tls is not None and self.tls.client_ca_file is not None:
            return 3
        if self.tls is not None:
            return 2 if self.credentials is not None else 0
        return 1 if self.credentials is not None else 0


@dataclass(frozen=True)
class BridgeSettings:
    connector_name: str
    debug: bool
    bus: BusSettings
    mqtt: MqttSettings
    actuator_kinds: frozenset[str]
    bemcom_heartbeat_interval: float
    call_timeout: float
    charging_voltage: float
    charging_phases: int
    #: OCPP_LIMIT_GRACE: seconds after an accepted limit before ``limit_obeyed`` is judged.
    limit_grace: float = 60.0
    #: Where limits become leases (OCPP_FAILSAFE_POWER set) and how long the bridge waits.
    failsafe: FailsafeSettings = field(default_factory=lambda: FailsafeSettings())
    #: JOURNAL_PATH: the bridge keeps its last limits next to the gateway's journal.
    journal_path: str = str(PROJECT_ROOT / "var" / "gateway.sqlite3")


@dataclass(frozen=True)
class RawLoggerSettings:
    connector_name: str
    debug: bool
    bus: BusSettings
    mqtt: MqttSettings
    send_raw_message_to_db: bool


def _connector_name(reader: _Reader) -> str:
    name = reader.text("CONNECTOR_NAME", "ocpp-connector")
    if any(char in name for char in "+#/") or not name:
        reader.problems.append(f"CONNECTOR_NAME={name!r} is invalid: expected a name without '/', '+' or '#'")
    return name


def _bus(reader: _Reader) -> BusSettings:
    return BusSettings(
        events_endpoint=reader.endpoint("BUS_EVENTS_ENDPOINT", DEFAULT_EVENTS_ENDPOINT),
        commands_endpoint=reader.endpoint("BUS_COMMANDS_ENDPOINT", DEFAULT_COMMANDS_ENDPOINT),
        heartbeat_interval=reader.number("BUS_HEARTBEAT_INTERVAL", 1.0, 0.05, 60),
        request_timeout=reader.number("BUS_REQUEST_TIMEOUT", 5.0, 0.1, 300),
        replay_batch=reader.integer("BUS_REPLAY_BATCH", 500, 1, 100_000),
    )


def _mqtt(reader: _Reader) -> MqttSettings:
    username = reader.optional_text("MQTT_USERNAME")
    password = reader.optional_text("MQTT_PASSWORD")
    if password is not None and username is None:
        reader.problems.append("MQTT_PASSWORD is set but MQTT_USERNAME is not: expected both")
    return MqttSettings(
        host=reader.text("MQTT_BROKER_HOST", "localhost"),
        port=reader.integer("MQTT_BROKER_PORT", 1883, 1, 65535),
        username=username,
        password=password,
        tls_ca_file=reader.file("MQTT_TLS_CA_FILE"),
        keepalive=reader.integer("MQTT_KEEPALIVE", 30, 5, 3600),
        reconnect_max_delay=reader.number("MQTT_RECONNECT_MAX_DELAY", 30.0, 0.1, 3600),
        # MQTT message ids are 16 bits: in flight at once they must stay distinct (with room for
        # the publications of the message that reaches the limit).
        max_pending=reader.integer("MQTT_MAX_PENDING", 10_000, 10, 50_000),
    )


def _tls(reader: _Reader) -> TlsSettings | None:
    cert = reader.file("OCPP_TLS_CERT_FILE")
    key = reader.file("OCPP_TLS_KEY_FILE")
    client_ca = reader.file("OCPP_TLS_CLIENT_CA_FILE")
    if (cert is None) != (key is None):
        reader.problems.append(
            "OCPP_TLS_CERT_FILE and OCPP_TLS_KEY_FILE must be set together: "
            f"OCPP_TLS_CERT_FILE={cert!r}, OCPP_TLS_KEY_FILE={key!r}"
        )
        return None
    if cert is None or key is None:
        if client_ca is not None:
            reader.problems.append(
                f"OCPP_TLS_CLIENT_CA_FILE={client_ca!r} needs TLS:"
                " expected OCPP_TLS_CERT_FILE and OCPP_TLS_KEY_FILE too"
            )
        return None
    tls = TlsSettings(cert, key, client_ca)
    if all(Path(name).is_file() for name in (cert, key, *([client_ca] if client_ca else []))):
        try:
            tls.context()
        except (OSError, ssl.SSLError) as error:
            reader.problems.append(
                f"OCPP_TLS_CERT_FILE={cert!r}, OCPP_TLS_KEY_FILE={key!r}, OCPP_TLS_CLIENT_CA_FILE={client_ca!r}"
                f" do not load: expected a PEM certificate (chain), its PEM key and a PEM CA ({error})"
            )
    return tls


def load_gateway(env: Mapping[str, str]) -> GatewaySettings:
    reader = _Reader(env)
    settings = GatewaySettings(
        connector_name=_connector_name(reader),
        debug=reader.flag("DEBUG"),
        bus=_bus(reader),
        ocpp_host=reader.text("OCPP_HOST", "0.0.0.0"),  # noqa: S104 - charge points connect from the site network
        ocpp_port=reader.integer("OCPP_PORT", 9000, 1, 65535),
        heartbeat_interval=reader.integer("OCPP_HEARTBEAT_INTERVAL", 300, 1, 86400),
        call_timeout=reader.number("OCPP_CALL_TIMEOUT", 30.0, 0.1, 3600),
        journal_path=reader.text("JOURNAL_PATH", str(PROJECT_ROOT / "var" / "gateway.sqlite3")),
        journal_max_events=reader.integer("JOURNAL_MAX_EVENTS", 200_000, 100, 100_000_000),
        max_frame_bytes=reader.integer("OCPP_MAX_FRAME_BYTES", 1024 * 1024, 1024, 16 * 1024 * 1024),
        allowed_charge_points=reader.charge_point_ids("OCPP_ALLOWED_CHARGE_POINTS"),
        max_connections=reader.integer("OCPP_MAX_CONNECTIONS", 20_000, 1, 1_000_000),
        max_calls_per_second=reader.integer("OCPP_MAX_CALLS_PER_SECOND", 20, 1, 100_000),
        credentials=reader.htpasswd("OCPP_AUTH_FILE"),
        tls=_tls(reader),
        journal_raw_frames=reader.flag("SEND_RAW_MESSAGE_TO_DB"),
        onboarding=_onboarding(reader),
        authorization=_authorization(reader),
        allowed_charge_points_file=_allowed_file(reader),
        auth_file=reader.raw("OCPP_AUTH_FILE"),
        failsafe=_failsafe(reader),
        protocols=reader.protocols("OCPP_PROTOCOLS", OCPP_PROTOCOLS, OCPP_PROTOCOLS),
    )
    reader.finish()
    return settings


def _allowed_file(reader: _Reader) -> str | None:
    value = reader.raw("OCPP_ALLOWED_CHARGE_POINTS")
    return value if value is not None and "/" in value else None


def _authorization(reader: _Reader) -> AuthorizationSettings:
    id_tags_file = reader.file("OCPP_ID_TAGS_FILE")
    mode = reader.choice("OCPP_AUTHORIZE", AUTHORIZE_ALL, (AUTHORIZE_ALL, AUTHORIZE_LISTED))
    if mode == AUTHORIZE_LISTED and id_tags_file is None:
        reader.problems.append(
            "OCPP_AUTHORIZE='listed' needs OCPP_ID_TAGS_FILE: expected the file of the id tags that may charge"
        )
    return AuthorizationSettings(id_tags_file=id_tags_file, mode=mode, local_list=reader.switch("OCPP_LOCAL_LIST"))


def _onboarding(reader: _Reader) -> OnboardingSettings:
    switch = reader.raw("OCPP_ONBOARDING")
    if switch not in (None, "TRUE", "FALSE"):
        reader.problems.append(f"OCPP_ONBOARDING={switch!r} is invalid: expected TRUE or FALSE")
    return OnboardingSettings(
        enabled=switch != "FALSE",
        measurands=reader.measurands("OCPP_METER_MEASURANDS", DEFAULT_METER_MEASURANDS),
        meter_interval=reader.integer("OCPP_METER_INTERVAL", 15, 0, 86400),
        clock_aligned_interval=reader.integer("OCPP_CLOCK_ALIGNED_INTERVAL", 0, 0, 86400),
        boot_wait=reader.number("OCPP_BOOT_WAIT", 10.0, 0.1, 3600),
        charge_points_file=reader.file("OCPP_CHARGE_POINTS_FILE"),
        calls_per_second=reader.number("OCPP_ONBOARDING_CALLS_PER_SECOND", 200.0, 1, 100_000),
    )


def load_bridge(env: Mapping[str, str], actuators: Sequence[str]) -> BridgeSettings:
    """The bridge's settings; ``actuators``: the names of its actuator table (which ``OCPP_CONFIG``
    selects from; ``processes/bridge/settings.py`` passes them)."""
    reader = _Reader(env)
    settings = BridgeSettings(
        connector_name=_connector_name(reader),
        debug=reader.flag("DEBUG"),
        bus=_bus(reader),
        mqtt=_mqtt(reader),
        actuator_kinds=reader.actuator_kinds("OCPP_CONFIG", actuators),
        bemcom_heartbeat_interval=reader.number("BEMCOM_HEARTBEAT_INTERVAL", 30.0, 0.1, 3600),
        call_timeout=reader.number("OCPP_CALL_TIMEOUT", 30.0, 0.1, 3600),
        charging_voltage=(voltage := reader.number("CHARGING_VOLTAGE", 230.0, 1, 1000)),
        charging_phases=(phases := reader.integer("CHARGING_PHASES", 3, 1, 3)),
        limit_grace=reader.number("OCPP_LIMIT_GRACE", 60.0, 0, 86400),
        failsafe=_failsafe(reader, voltage, phases),
        journal_path=reader.text("JOURNAL_PATH", str(PROJECT_ROOT / "var" / "gateway.sqlite3")),
    )
    reader.finish()
    return settings


def load_rawlogger(env: Mapping[str, str]) -> RawLoggerSettings:
    reader = _Reader(env)
    settings = RawLoggerSettings(
        connector_name=_connector_name(reader),
        debug=reader.flag("DEBUG"),
        bus=_bus(reader),
        mqtt=_mqtt(reader),
        send_raw_message_to_db=reader.flag("SEND_RAW_MESSAGE_TO_DB"),
    )
    reader.finish()
    return settings


def load_bus(env: Mapping[str, str]) -> BusSettings:
    """Only the bus settings, for tools that tap the bus (``tools.busctl``)."""
    reader = _Reader(env)
    settings = _bus(reader)
    reader.finish()
    return settings
