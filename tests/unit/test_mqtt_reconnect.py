"""When the link tries the broker again, and what it logs meanwhile (pure: no sockets)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from common.mqtt.reconnect import AFTER_LOSS_JITTER, GONE_JITTER, GONE_RETRY, OutageLog, ReconnectPolicy

unit_floats = st.floats(0, 1, exclude_max=True)


@given(st.lists(unit_floats, min_size=1, max_size=200), st.floats(0.1, 3600))
def test_a_gone_broker_is_tried_every_half_second_or_so_however_long_and_whatever_the_cap(
    draws: list[float], cap: float
) -> None:
    values = iter(draws)
    policy = ReconnectPolicy(cap, lambda: next(values))
    pauses = [policy.gone() for _ in draws]
    assert all(GONE_RETRY <= pause <= GONE_RETRY * (1 + GONE_JITTER) <= 0.75 for pause in pauses)


def test_a_refusing_broker_is_backed_off_from_doubling_up_to_the_cap_never_longer() -> None:
    policy = ReconnectPolicy(30, lambda: 0.0)
    assert [policy.refused() for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    jittered = ReconnectPolicy(30, lambda: 0.999)
    pauses = [jittered.refused() for _ in range(8)]
    assert all(pause <= 30 for pause in pauses) and pauses[-1] >= 0.75 * 30
    assert ReconnectPolicy(0.5, lambda: 0.0).refused() == 0.5  # a cap below the first delay holds


def test_a_connection_that_worked_starts_afresh() -> None:
    policy = ReconnectPolicy(30, lambda: 0.5)
    for _ in range(6):
        policy.refused()
    assert policy.accepted() == AFTER_LOSS_JITTER * 0.5
    assert policy.refused() == 1 * (1 - 0.25 * 0.5)
    assert policy.gone() == GONE_RETRY * (1 + GONE_JITTER * 0.5)  # gone never backs off anyway


def outage_log() -> tuple[OutageLog, list[str], list[str]]:
    warnings: list[str] = []
    debugs: list[str] = []
    return OutageLog("broker:1883", warnings.append, debugs.append), warnings, debugs


def test_one_warning_per_outage_not_one_per_try() -> None:
    log, warnings, debugs = outage_log()
    log.lost("connection lost", 100.0)
    for n in range(50):
        log.gone("refused", 100.5 + n)
    assert warnings == ["Lost the MQTT broker broker:1883 (connection lost); reconnecting"]
    assert len(debugs) == 50
    assert log.connected(160.0) == 60.0
    log.gone("refused", 200.0)  # a new outage warns again
    log.gone("refused", 200.6)
    assert warnings[1:] == ["MQTT broker broker:1883 unreachable (refused); retrying every 0.5 s"]
    assert log.connected(201.0) == 1.0
    assert log.connected(202.0) is None  # connected without an outage


def test_a_refusal_warns_once_per_reason() -> None:
    log, warnings, _ = outage_log()
    for reason in ["Not authorized", "Not authorized", "Not authorized", "Server unavailable", "Server unavailable"]:
        log.refused(reason, 1.0)
    assert [w.split(": ", 1)[1] for w in warnings] == [
        "Not authorized; retrying with back-off",
        "Server unavailable; retrying with back-off",
    ]
