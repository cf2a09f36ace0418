"""Who may charge (processes/gateway/authorization.py): the answer to every combination of listed or
unknown tag, status, expiry, parent and a transaction elsewhere (hypothesis, against the rules of
docs/authorization.md written out once more here), the local list the file makes, and that a
charge point offline answering from that list (tools/local_list.py) agrees with the connector."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from common.schemas import V16, passes
from processes.gateway.authorization import (
    ACCEPTED,
    CONCURRENT_TX,
    EXPIRED,
    INVALID,
    Authorizer,
    IdTagInfo,
    decide,
    local_list,
    ocpp_time,
)
from processes.gateway.id_tags import STATUSES, IdTag, IdTags, of, tag_key
from tests.support.depth import examples
from tools.local_list import LocalAuthorizationList

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)

#: Few names, so that parents are often listed, tags collide in case, and so on.
names = st.sampled_from(["CARD1", "card1", "CARD2", "FLEET", "fleet", "X"])
moments = st.one_of(
    st.none(),
    st.sampled_from([NOW]),  # exactly now: expired (expiry <= now)
    st.integers(-(10**6), 10**6).map(lambda seconds: NOW + dt.timedelta(seconds=seconds)),
    # another offset: compared as moments, not as text
    st.integers(-(10**6), 10**6).map(
        lambda seconds: (NOW + dt.timedelta(seconds=seconds)).astimezone(dt.timezone(dt.timedelta(hours=2)))
    ),
)
tags_strategy = st.lists(
    st.builds(IdTag, names, st.sampled_from(STATUSES), moments, st.one_of(st.none(), names)), max_size=5
).map(lambda tags: of(*tags))


def expected(tags: IdTags, id_tag: str, now: dt.datetime, elsewhere: bool) -> IdTagInfo:
    """The rules, written out as docs/authorization.md says them."""
    tag = next((t for t in tags.tags.values() if t.id_tag.lower() == id_tag.lower()), None)
    if tag is None:
        return IdTagInfo("Invalid")
    parent = None
    if tag.parent is not None and tag.parent.lower() != tag.id_tag.lower():
        parent = next((t for t in tags.tags.values() if t.id_tag.lower() == tag.parent.lower()), None)
    expiries = [e for e in (tag.expiry, parent.expiry if parent else None) if e is not None]
    expiry = min(expiries) if expiries else None
    if tag.status != "Accepted":
        status = tag.status
    elif parent is not None and parent.status != "Accepted":
        status = parent.status
    elif expiry is not None and expiry <= now:
        status = "Expired"
    elif elsewhere:
        status = "ConcurrentTx"
    else:
        status = "Accepted"
    return IdTagInfo(status, expiry, tag.parent)


@settings(max_examples=examples(500), deadline=None)
@given(tags_strategy, names, moments, st.booleans())
def test_every_combination_of_tag_status_expiry_parent_and_concurrency(
    tags: IdTags, id_tag: str, now: dt.datetime | None, elsewhere: bool
) -> None:
    now = now or NOW
    info = decide(tags, id_tag, now, charging_elsewhere=elsewhere)
    assert info == expected(tags, id_tag, now, elsewhere)
    # Id tags are case-insensitive (OCPP IdToken).
    assert decide(tags, id_tag.swapcase(), now, charging_elsewhere=elsewhere) == info
    # The answer is a valid OCPP 1.6 IdTagInfo in every answer that carries one.
    wire = {"idTagInfo": info.wire()}
    assert passes("Authorize", wire, response=True, version=V16)
    assert passes("StartTransaction", {**wire, "transactionId": 1}, response=True, version=V16)
    assert passes("StopTransaction", wire, response=True, version=V16)
    # Time only ever takes an acceptance away, never gives one.
    later = decide(tags, id_tag, now + dt.timedelta(days=400), charging_elsewhere=elsewhere)
    if info.status != ACCEPTED:
        assert later.status == info.status or (info.status == CONCURRENT_TX and later.status == EXPIRED)
    # ConcurrentTx only for a tag that would be accepted, and only when it charges elsewhere.
    alone = decide(tags, id_tag, now)
    assert (info.status == CONCURRENT_TX) == (elsewhere and alone.status == ACCEPTED)


@settings(max_examples=examples(200), deadline=None)
@given(tags_strategy, names)
def test_an_unknown_tag_is_invalid_and_nothing_else(tags: IdTags, name: str) -> None:
    id_tag = name + "-UNKNOWN"
    assert decide(tags, id_tag, NOW, charging_elsewhere=True) == IdTagInfo(INVALID)
    assert IdTagInfo(INVALID).payload() == {"status": "Invalid"}


def test_the_statuses_of_the_issue_one_by_one() -> None:
    tags = of(
        IdTag("GOOD", parent="FLEET-1", expiry=NOW + dt.timedelta(days=1)),
        IdTag("LOST", status="Blocked"),
        IdTag("OLD", expiry=NOW - dt.timedelta(seconds=1)),
        IdTag("GONE", status="Expired"),
        IdTag("BANNED", status="Invalid"),
        IdTag("FLEET-2", status="Blocked"),
        IdTag("MEMBER", parent="FLEET-2"),
    )
    statuses = {tag: decide(tags, tag, NOW).status for tag in ("GOOD", "LOST", "OLD", "GONE", "BANNED", "MEMBER", "?")}
    assert statuses == {
        "GOOD": "Accepted",
        "LOST": "Blocked",
        "OLD": "Expired",
        "GONE": "Expired",
        "BANNED": "Invalid",
        "MEMBER": "Blocked",  # its parent's entry is blocked
        "?": "Invalid",
    }
    assert decide(tags, "good", NOW).payload() == {
        "status": "Accepted",
        "expiry_date": "2026-12-02T12:00:00Z",
        "parent_id_tag": "FLEET-1",
    }
    assert decide(tags, "GOOD", NOW, charging_elsewhere=True).status == "ConcurrentTx"


def test_the_authorizer_asks_about_other_transactions_only_for_a_tag_it_would_accept() -> None:
    asked: list[str] = []

    def elsewhere(answer: bool) -> bool:
        asked.append("asked")
        return answer

    authorizer = Authorizer(of(IdTag("A"), IdTag("B", status="Blocked")), clock=lambda: NOW)
    assert authorizer.start("B", lambda: elsewhere(True)).status == "Blocked"
    assert authorizer.start("nobody", lambda: elsewhere(True)).status == "Invalid"
    assert asked == []
    assert authorizer.start("a", lambda: elsewhere(True)).status == "ConcurrentTx"
    assert authorizer.start("A", lambda: elsewhere(False)).status == "Accepted"
    assert len(asked) == 2
    authorizer.tags = of(IdTag("A", status="Blocked"))  # the file changed
    assert authorizer.authorize("A").status == "Blocked"


def test_ocpp_time_is_utc_with_z() -> None:
    assert ocpp_time(dt.datetime(2027, 6, 30, 2, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == "2027-06-30T00:00:00Z"
    assert ocpp_time(dt.datetime(2027, 6, 30, 0, 0, 0, 250000, tzinfo=dt.UTC)) == "2027-06-30T00:00:00.250Z"


@settings(max_examples=examples(200), deadline=None)
@given(tags_strategy)
def test_the_local_list_holds_every_tag_once_with_its_standing_accepted_ones_first(tags: IdTags) -> None:
    entries = local_list(tags)
    assert list(entries) == sorted(entries, key=lambda key: (entries[key]["idTagInfo"]["status"] != "Accepted", key))
    assert set(entries) == {tag_key(tag.id_tag) for tag in tags.tags.values()}
    payload = {"listVersion": 1, "updateType": "Full", "localAuthorizationList": list(entries.values())}
    assert passes("SendLocalList", payload, version=V16)
    for key, data in entries.items():  # the file's word on each tag, whatever the time
        far_past = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        assert data["idTagInfo"] == decide(tags, key, far_past).wire()


@settings(max_examples=examples(500), deadline=None)
@given(tags_strategy, names, moments)
def test_a_charge_point_offline_answers_from_its_local_list_as_the_connector_would(
    tags: IdTags, id_tag: str, now: dt.datetime | None
) -> None:
    """The fleet keeps charging (and lost cards stay blocked) while the connector is away."""
    now = now or NOW
    charger = LocalAuthorizationList()
    payload = {"listVersion": 7, "updateType": "Full", "localAuthorizationList": list(local_list(tags).values())}
    assert charger.update(payload) == "Accepted"
    offline = charger.authorize(id_tag, now)
    online = decide(tags, id_tag, now)
    if online.status == INVALID and tags.get(id_tag) is None:
        assert offline is None  # not on the list: the charge point's own rule for unknown tags
    else:
        assert offline is not None
        assert offline["status"] == online.status
