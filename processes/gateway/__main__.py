"""``python -m processes.gateway``: settings -> logging -> sockets -> run loop -> exit code."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from common.binding import refuse_taken_endpoint, refuse_taken_port
from common.process import load_settings, refuse_early, run_program
from common.settings import GatewaySettings, SettingsError, load_gateway

PROCESS = "gateway"


def load(env: Mapping[str, str]) -> GatewaySettings:
    """The settings, and the charge points and id tags files checked with them (a bad one stops
    the gateway at start with its line and field; later, a bad change is refused and the last good
    one stays)."""
    from processes.gateway.charger_profiles import ProfileError, load_profiles
    from processes.gateway.id_tags import IdTagsError, load_id_tags

    settings = load_gateway(env)
    path = settings.onboarding.charge_points_file
    problems = []
    try:
        load_profiles(Path(path) if path is not None else None)
    except ProfileError as error:
        problems.append(str(error))
    id_tags = settings.authorization.id_tags_file
    if id_tags is not None:
        try:
            load_id_tags(Path(id_tags))
        except IdTagsError as error:
            problems.append(str(error))
    if problems:
        raise SettingsError(problems) from None
    return settings


def refuse_taken(settings: GatewaySettings) -> None:
    refuse_taken_port(settings.ocpp_host, settings.ocpp_port, "OCPP_PORT")
    refuse_taken_endpoint(settings.bus.events_endpoint, "BUS_EVENTS_ENDPOINT")
    refuse_taken_endpoint(settings.bus.commands_endpoint, "BUS_COMMANDS_ENDPOINT")


def main() -> int:
    # A taken port stops the gateway before the second its imports take (supervisord's startsecs).
    first = load_settings(PROCESS, load_gateway)
    refuse_early(PROCESS, first.debug, lambda: refuse_taken(first))
    settings = load_settings(PROCESS, load)  # and the files, once the ports are known to be free

    import ocpp.messages

    from processes.gateway.gateway import Gateway

    # Validate inline: the library's default thread hop costs more than the validation.
    ocpp.messages.ASYNC_VALIDATION = False
    return run_program(PROCESS, settings, settings.debug, Gateway, fast_loop=True)


if __name__ == "__main__":
    raise SystemExit(main())
