"""``python -m tools.busctl``: watch the connector's ZeroMQ bus and send it commands.

    busctl tail [--prefix event.] [--cp ID] [--json]    decoded bus messages, as they come
    busctl status                                       connected charge points (gateway ``status``)
    busctl call CP ACTION [PAYLOAD_JSON] [--timeout S]  an OCPP call to a charge point (gateway ``call``)

Endpoints come from BUS_EVENTS_ENDPOINT / BUS_COMMANDS_ENDPOINT (environment, then ``.env``),
as for the processes, or from ``--events`` / ``--commands``. Exit codes: 0 ok, 1 the gateway
answered with an error (or is unreachable), 2 usage or settings error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import zmq
import zmq.asyncio

from common.bus import BusError, ErrorCode, Reply, decode
from common.command_client import CommandClient
from common.endpoints import EndpointError, resolve_endpoint
from common.logs import now_ms
from common.settings import PROJECT_ROOT, BusSettings, SettingsError, environment, load_bus
from tools.busview import DEFAULT_PREFIXES, as_json, as_line, matches, status_text

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments or settings: exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    endpoints = argparse.ArgumentParser(add_help=False)
    endpoints.add_argument("--events", default=argparse.SUPPRESS, help="events endpoint (BUS_EVENTS_ENDPOINT)")
    endpoints.add_argument("--commands", default=argparse.SUPPRESS, help="commands endpoint (BUS_COMMANDS_ENDPOINT)")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON even on a terminal")

    parser = argparse.ArgumentParser(prog="busctl", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--events", default=None, help="events endpoint (default: BUS_EVENTS_ENDPOINT)")
    parser.add_argument("--commands", default=None, help="commands endpoint (default: BUS_COMMANDS_ENDPOINT)")
    parser.add_argument("--json", action="store_true", default=False, help="JSON output even on a terminal")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tail = commands.add_parser("tail", parents=[endpoints, output], help="print bus messages as they come")
    tail.add_argument(
        "--prefix",
        action="append",
        default=None,
        help="topic prefix to subscribe to, repeatable (default: event. raw. log.; '' for everything)",
    )
    tail.add_argument("--cp", action="append", default=[], help="only messages of this charge point (repeatable)")
    tail.add_argument("--count", type=int, default=0, help="stop after this many messages (default: never)")

    commands.add_parser("status", parents=[endpoints, output], help="connected charge points and their connectors")

    call = commands.add_parser("call", parents=[endpoints, output], help="send an OCPP call to a charge point")
    call.add_argument("cp", metavar="CP", help="charge point id")
    call.add_argument("action", metavar="ACTION", help="OCPP action, e.g. Reset, TriggerMessage")
    call.add_argument(
        "payload", metavar="PAYLOAD_JSON", nargs="?", default=None, help="OCPP-J payload (camelCase; default {})"
    )
    call.add_argument("--timeout", type=float, default=None, help="seconds to wait for the answer (default 30)")
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; options may also stand between ACTION and PAYLOAD_JSON (``call CP_1
    SetChargingProfile --timeout 10 '{...}'``), which argparse alone refuses: it gives the
    optional PAYLOAD_JSON up once an option follows ACTION."""
    args, extra = parser.parse_known_args(argv)
    if args.command == "call" and args.payload is None and len(extra) == 1 and not extra[0].startswith("-"):
        args.payload, extra = extra[0], []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")  # exits with 2
    return args


def bus_settings(args: argparse.Namespace) -> BusSettings:
    """The bus settings of the processes, with the endpoints given on the command line."""
    try:
        bus = load_bus(environment())
    except SettingsError as error:
        raise UsageError("; ".join(error.problems)) from None
    try:
        events = bus.events_endpoint if args.events is None else resolve_endpoint(args.events, PROJECT_ROOT)
        commands = bus.commands_endpoint if args.commands is None else resolve_endpoint(args.commands, PROJECT_ROOT)
    except EndpointError as error:
        raise UsageError(f"--events/--commands: {error}") from None
    return BusSettings(
        events_endpoint=events,
        commands_endpoint=commands,
        heartbeat_interval=bus.heartbeat_interval,
        request_timeout=bus.request_timeout,
        replay_batch=bus.replay_batch,
    )


def wants_json(args: argparse.Namespace, stream: TextIO) -> bool:
    return bool(args.json) or not stream.isatty()


def parse_payload(text: str) -> dict[str, Any]:
    try:
        payload = json.loads(text)
    except ValueError as error:
        raise UsageError(f"PAYLOAD_JSON is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise UsageError("PAYLOAD_JSON must be a JSON object")
    return payload


# -- tail ---------------------------------------------------------------------------------


def tail(args: argparse.Namespace, bus: BusSettings, out: TextIO) -> int:
    """Print every matching bus message until Ctrl-C, SIGTERM or ``--count``."""
    prefixes = DEFAULT_PREFIXES if args.prefix is None else tuple(args.prefix)
    as_text = not wants_json(args, out)
    width = shutil.get_terminal_size((160, 24)).columns
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    context = zmq.Context()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVHWM, 100_000)
    for prefix in prefixes:
        socket.setsockopt(zmq.SUBSCRIBE, prefix.encode())
    socket.connect(bus.events_endpoint)
    print(f"busctl: tailing {bus.events_endpoint} ({' '.join(repr(p) for p in prefixes)})", file=sys.stderr)
    printed = 0
    try:
        while not stopping and (args.count <= 0 or printed < args.count):
            if not socket.poll(200):
                continue
            frames = socket.recv_multipart()
            try:
                message = decode(frames)
            except BusError as error:
                print(f"busctl: undecodable message on {frames[0][:80]!r}: {error}", file=sys.stderr)
                continue
            if not matches(message, args.cp):
                continue
            out.write((as_line(message, width) if as_text else as_json(frames[0], message)) + "\n")
            out.flush()
            printed += 1
    finally:
        socket.close(linger=0)
        context.term()
    return EXIT_OK


# -- commands -----------------------------------------------------------------------------


async def request(bus: BusSettings, command: str, args: dict[str, Any], timeout: float) -> Reply:  # noqa: ASYNC109
    """One command. The client's socket refuses to queue while it is not connected, and a new
    socket needs a moment to connect: retry that refusal for up to BUS_REQUEST_TIMEOUT."""
    context = zmq.asyncio.Context()
    client = CommandClient(context, bus.commands_endpoint, timeout)
    deadline = time.monotonic() + bus.request_timeout
    try:
        while True:
            reply = await client.request(command, args, timeout)
            if reply.error != ErrorCode.GATEWAY_UNAVAILABLE or time.monotonic() > deadline:
                return reply
            await asyncio.sleep(0.05)
    finally:
        await client.close()
        context.term()


def report_failure(reply: Reply) -> int:
    print(f"error: {reply.error}: {reply.reason}", file=sys.stderr)
    return EXIT_ERROR


def status(args: argparse.Namespace, bus: BusSettings, out: TextIO) -> int:
    reply = asyncio.run(request(bus, "status", {}, bus.request_timeout))
    if not reply.ok:
        return report_failure(reply)
    if wants_json(args, out):
        out.write(json.dumps(reply.result, ensure_ascii=False, default=str) + "\n")
    else:
        out.write(status_text(reply.result, now_ms()) + "\n")
    return EXIT_OK


def call(args: argparse.Namespace, bus: BusSettings, out: TextIO) -> int:
    payload = parse_payload("{}" if args.payload is None else args.payload)
    if args.timeout is not None and not 0 < args.timeout <= 3600:
        raise UsageError("--timeout must be a number of seconds from 0 to 3600")
    timeout = 30.0 if args.timeout is None else args.timeout
    reply = asyncio.run(request(bus, "call", {"cp": args.cp, "action": args.action, "payload": payload}, timeout))
    if not reply.ok:
        return report_failure(reply)
    indent = None if wants_json(args, out) else 2
    out.write(json.dumps(reply.result, ensure_ascii=False, indent=indent, default=str) + "\n")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)  # exits with 2 on usage errors
    stream = sys.stdout if out is None else out
    try:
        bus = bus_settings(args)
        handler = {"tail": tail, "status": status, "call": call}[args.command]
        return handler(args, bus, stream)
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"busctl: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `busctl tail | head`
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
