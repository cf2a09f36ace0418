"""``python -m tools.simulate URL``: simulated charge points charging vehicles, for operators and demos.

    python -m tools.simulate ws://localhost:9000/ocpp --charge-points 3 --connectors 2

N charge points (ids PREFIX1 … PREFIXN) with C connectors each connect to URL/<id> and run
charging sessions, one after the other, until Ctrl-C (or SIGTERM): that ends running sessions
with StopTransaction and disconnects; a second Ctrl-C stops at once. ``--duration S`` does the
same after S seconds; ``--sessions K`` ends by itself once every connector had K sessions.
On a terminal one status line per charge point is updated in place; otherwise a summary line
is printed every ``--report`` seconds. Exit code 0, or 2 on usage errors.

By default each charge point boots, reports every measurand at each interval and answers
GetConfiguration with two keys. ``--factory-settings`` makes it a charger as delivered: a real
charger's configuration keys, meter values of energy only every ``--interval`` (whole seconds)
until a central system changes ``MeterValuesSampledData`` and ``MeterValueSampleInterval``;
``--refuse``, ``--reboot-required``, ``--supported-measurands`` and ``--max-measurands`` shape
how it takes such changes. ``--never-boot`` connects without a BootNotification, and
``--boot-trigger`` says what TriggerMessage(BootNotification) does.

``--protocol ocpp2.0.1`` makes them OCPP 2.0.1 charging stations (``tools/station201.py``) with C
EVSEs of one connector each: BootNotification, StatusNotification, TransactionEvent Started /
Updated / Ended with meter values every ``SampledDataCtrlr.TxUpdatedInterval`` seconds (``--interval``
rounded up to whole seconds until a CSMS changes it), the measurands of ``TxUpdatedMeasurands``
(every one the simulator reports, energy only with ``--factory-settings``); ``--refuse`` and
``--reboot-required`` then name device-model variables (``SampledDataCtrlr.TxUpdatedInterval``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from tools.chargepoint import BootTrigger
from tools.configuration import SIMULATED_MEASURANDS
from tools.station import ChargerBehaviour, SessionPlan, Station
from tools.station201 import Station201, device_model_for

PROTOCOLS = ("ocpp1.6", "ocpp2.0.1")
AnyStation = Station | Station201

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simulate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", metavar="URL", help="the connector's OCPP endpoint, e.g. ws://localhost:9000/ocpp")
    parser.add_argument("--charge-points", type=int, default=1, metavar="N", help="charge points (default 1)")
    parser.add_argument("--connectors", type=int, default=1, metavar="C", help="connectors each (default 1)")
    parser.add_argument("--id-prefix", default="CP_", help="charge point ids are PREFIX1..PREFIXN (default CP_)")
    parser.add_argument(
        "--sessions",
        type=int,
        default=0,
        metavar="K",
        help="sessions per connector, then exit (0: until Ctrl-C)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds, as Ctrl-C does",
    )
    parser.add_argument("--interval", type=float, default=10.0, metavar="S", help="seconds between meter values")
    parser.add_argument("--samples", type=int, default=12, metavar="M", help="meter values per session (default 12)")
    parser.add_argument("--pause", type=float, default=None, metavar="S", help="idle seconds between sessions")
    parser.add_argument("--password", default=None, help="HTTP Basic password (user name = charge point id)")
    parser.add_argument("--report", type=float, default=10.0, metavar="S", help="seconds between summary lines")
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="ocpp1.6",
        help="OCPP 1.6J charge points, or OCPP 2.0.1 charging stations with C EVSEs each (default ocpp1.6)",
    )
    charger = parser.add_argument_group("the charger's configuration and boot")
    charger.add_argument(
        "--factory-settings",
        action="store_true",
        help="a real charger's configuration keys; meter values of energy only, every --interval "
        "(whole seconds), until the central system changes MeterValuesSampledData and MeterValueSampleInterval",
    )
    charger.add_argument(
        "--refuse",
        action="append",
        default=[],
        metavar="KEY[,KEY]",
        help="configuration keys whose ChangeConfiguration is answered Rejected",
    )
    charger.add_argument(
        "--reboot-required",
        action="append",
        default=[],
        metavar="KEY[,KEY]",
        help="configuration keys whose ChangeConfiguration is answered RebootRequired (in force after a Reset)",
    )
    charger.add_argument(
        "--supported-measurands",
        default=None,
        metavar="LIST",
        help="with --factory-settings: the measurands MeterValuesSampledData may name (default: "
        + ",".join(SIMULATED_MEASURANDS)
        + ")",
    )
    charger.add_argument(
        "--max-measurands",
        type=int,
        default=None,
        metavar="N",
        help="with --factory-settings: MeterValuesSampledDataMaxLength (default 8)",
    )
    charger.add_argument("--never-boot", action="store_true", help="connect without sending a BootNotification")
    charger.add_argument(
        "--boot-trigger",
        choices=[trigger.value for trigger in BootTrigger],
        default=BootTrigger.BOOT.value,
        help="TriggerMessage(BootNotification): boot = Accepted and a BootNotification (Rejected once booted), "
        "reject = Rejected, ignore = Accepted and none, not-implemented = NotImplemented (default boot)",
    )
    return parser


def _names(values: Sequence[str]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def charger_behaviour(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ChargerBehaviour:
    """What kind of charger each simulated charge point is, or exit 2 naming the bad argument."""
    measurands: tuple[str, ...] | None = None
    if args.supported_measurands is not None:
        measurands = tuple(_names([args.supported_measurands]))
        unknown = [name for name in measurands if name not in SIMULATED_MEASURANDS]
        if unknown or not measurands:
            parser.error(
                f"--supported-measurands: {','.join(unknown) or 'empty'}: "
                f"the simulator reports {','.join(SIMULATED_MEASURANDS)}"
            )
    if args.max_measurands is not None and args.max_measurands < 1:
        parser.error("--max-measurands must be at least 1")
    v201 = getattr(args, "protocol", "ocpp1.6") == "ocpp2.0.1"
    if not v201 and not args.factory_settings and (measurands is not None or args.max_measurands is not None):
        parser.error("--supported-measurands and --max-measurands need --factory-settings")
    behaviour = ChargerBehaviour(
        factory_settings=args.factory_settings,
        never_boot=args.never_boot,
        boot_trigger=BootTrigger(args.boot_trigger),
        refuse=frozenset(_names(args.refuse)),
        reboot_required=frozenset(_names(args.reboot_required)),
        supported_measurands=measurands,
        max_measurands=args.max_measurands,
    )
    if v201:
        model = device_model_for(ChargerBehaviour(supported_measurands=measurands), args.connectors, args.interval)
        known, what = model.__contains__, "device-model variable"
        names_known = model.keys
    else:
        store = behaviour.configuration(args.connectors, args.interval)
        known, what = store.__contains__, "configuration key"
        names_known = store.keys
    for option, names in (("--refuse", behaviour.refuse), ("--reboot-required", behaviour.reboot_required)):
        unknown = sorted(name for name in names if not known(name))
        if unknown:
            parser.error(f"{option}: no {what} {', '.join(unknown)}; the keys: {', '.join(names_known)}")
    return behaviour


def behaviour_text(behaviour: ChargerBehaviour) -> str:
    """The start line's words for a charger that is not the default one ('' for the default)."""
    parts = []
    if behaviour.factory_settings:
        parts.append("factory settings")
    if behaviour.refuse:
        parts.append(f"refusing {','.join(sorted(behaviour.refuse))}")
    if behaviour.reboot_required:
        parts.append(f"reboot required for {','.join(sorted(behaviour.reboot_required))}")
    if behaviour.never_boot:
        parts.append(f"never boots (TriggerMessage(BootNotification): {behaviour.boot_trigger.value})")
    return "; " + ", ".join(parts) if parts else ""


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> SessionPlan:
    """The session plan, or exit 2 naming the bad argument."""
    if not args.url.startswith(("ws://", "wss://")):
        parser.error("URL must start with ws:// or wss://")
    for name in ("charge_points", "connectors", "samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.sessions < 0:
        parser.error("--sessions must be 0 (until Ctrl-C) or more")
    if args.duration is not None and not 0 < args.duration <= 366 * 86400:
        parser.error("--duration must be a positive number of seconds")
    if not 0.05 <= args.interval <= 3600 or not 0.1 <= args.report <= 3600:
        parser.error("--interval must be from 0.05 to 3600 s and --report from 0.1 to 3600 s")
    pause = 2 * args.interval if args.pause is None else args.pause
    if pause < 0:
        parser.error("--pause must not be negative")
    return SessionPlan(sessions=args.sessions, interval=args.interval, samples=args.samples, pause=pause)


def station_line(station: AnyStation) -> str:
    """One charge point: its connection state and each connector's status, power, energy, SoC."""
    parts = [f"{station.cp_id:<12}", f"{station.state[:60]:<12}"]
    for connector in station.connectors:
        text = f"{connector.number}:{connector.status}"
        if connector.transaction is not None:
            text += f" {connector.meter.power_w / 1000:5.1f} kW {connector.session_wh / 1000:6.2f} kWh"
            if connector.vehicle is not None:
                text += f" {connector.vehicle.soc:3.0f}%"
        parts.append(f"{text:<34}")
    parts.append(f"sessions {sum(c.sessions_done for c in station.connectors)}")
    if station.errors:
        parts.append(f"errors {station.errors}")
    return "  ".join(parts).rstrip()


def summary_line(stations: Sequence[AnyStation]) -> str:
    connectors = [connector for station in stations for connector in station.connectors]
    connected = sum(station.state == "connected" for station in stations)
    charging = sum(connector.transaction is not None for connector in connectors)
    power = sum(connector.meter.power_w for connector in connectors)
    energy = sum(connector.meter.register_wh - connector.initial_wh for connector in connectors)
    return (
        f"{time.strftime('%H:%M:%S')} {connected}/{len(stations)} charge points connected, "
        f"{charging}/{len(connectors)} connectors charging, {power / 1000:.1f} kW, "
        f"{sum(c.sessions_done for c in connectors)} sessions done, {energy / 1000:.2f} kWh delivered, "
        f"{sum(station.errors for station in stations)} errors"
    )


class Progress:
    """Status lines redrawn in place on a terminal; periodic summary lines otherwise."""

    def __init__(self, stations: Sequence[AnyStation], out: TextIO, report: float) -> None:
        self.stations = stations
        self.out = out
        self.tty = out.isatty()
        self.report = report
        self._drawn = 0

    def draw(self) -> None:
        if not self.tty:
            self.out.write(summary_line(self.stations) + "\n")
            self.out.flush()
            return
        width = shutil.get_terminal_size((120, 24)).columns
        lines = [station_line(station)[: width - 1] for station in self.stations]
        lines.append(summary_line(self.stations)[: width - 1])
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        self.out.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
        self.out.flush()
        self._drawn = len(lines)

    async def run(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(0.5 if self.tty else self.report)


async def simulate(
    args: argparse.Namespace, plan: SessionPlan, out: TextIO, behaviour: ChargerBehaviour | None = None
) -> None:
    behaviour = behaviour or ChargerBehaviour()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    runners: list[asyncio.Task[None]] = []

    def on_signal() -> None:
        if stop.is_set():  # the second Ctrl-C: stop at once
            for runner in runners:
                runner.cancel()
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    url = args.url.rstrip("/")
    ids = [f"{args.id_prefix}{number}" for number in range(1, args.charge_points + 1)]
    stations: list[AnyStation]
    if getattr(args, "protocol", "ocpp1.6") == "ocpp2.0.1":
        stations = [Station201(url, cp_id, args.connectors, plan, stop, args.password, behaviour) for cp_id in ids]
        interval = device_model_for(behaviour, 1, plan.interval).value("SampledDataCtrlr.TxUpdatedInterval")
        kind, every = "OCPP 2.0.1 charging stations", f"{interval} s until configured"
    else:
        stations = [Station(url, cp_id, args.connectors, plan, stop, args.password, behaviour) for cp_id in ids]
        kind = "charge points"
        every = (
            f"{behaviour.configuration(1, plan.interval).value('MeterValueSampleInterval')} s until configured"
            if behaviour.factory_settings
            else f"{plan.interval:g} s"
        )
    parts = "EVSEs" if isinstance(stations[0], Station201) else "connectors"
    print(
        f"simulate: {len(ids)} {kind} x {args.connectors} {parts} -> {url}/<id>, "
        f"{plan.sessions or 'endless'} sessions each, meter values every "
        + every
        + behaviour_text(behaviour)
        + "; "
        + (f"stops after {args.duration:g} s or on Ctrl-C" if args.duration is not None else "Ctrl-C stops"),
        file=sys.stderr,
    )
    progress = Progress(stations, out, args.report)
    display = asyncio.create_task(progress.run(), name="progress")
    runners += [asyncio.create_task(station.run(), name=station.cp_id) for station in stations]
    await asyncio.gather(*runners, return_exceptions=True)
    display.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await display
    progress.draw()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    plan = check(parser, args)
    behaviour = charger_behaviour(parser, args)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(simulate(args, plan, sys.stdout, behaviour))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
