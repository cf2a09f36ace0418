"""The id tags file (processes/gateway/id_tags.py): the format of SETTINGS.md, and every refusal
naming the file, the line and the field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.watched_file import FileContentError
from processes.gateway.id_tags import IdTag, IdTagsError, load_id_tags, parse_id_tags, parse_id_tags_file
from tests.support.depth import examples

ORIGIN = "OCPP_ID_TAGS_FILE /x/tags.toml"

# The example of SETTINGS.md ("Added in the second round"), verbatim.
SETTINGS_EXAMPLE = """\
[id_tags."04A2B3C4D5"]
status = "Accepted"        # Accepted | Blocked | Expired | Invalid
expiry = 2027-06-30T00:00:00Z
parent = "FLEET-1"         # parentIdTag
"""


def refusal(text: str) -> str:
    with pytest.raises(IdTagsError) as refused:
        parse_id_tags(text, ORIGIN)
    return str(refused.value)


def test_the_example_of_the_settings_contract() -> None:
    tags = parse_id_tags(SETTINGS_EXAMPLE, ORIGIN)
    assert len(tags) == 1
    assert tags.get("04a2b3c4d5") == IdTag("04A2B3C4D5", "Accepted", dt.datetime(2027, 6, 30, tzinfo=dt.UTC), "FLEET-1")


def test_every_field_is_optional_and_status_defaults_to_accepted() -> None:
    tags = parse_id_tags('[id_tags."CARD"]\n[id_tags."LOST"]\nstatus = "Blocked"\n', ORIGIN)
    assert tags.get("CARD") == IdTag("CARD")
    assert tags.get("lost") == IdTag("LOST", "Blocked")
    assert len(parse_id_tags("", ORIGIN)) == 0  # nobody may charge
    assert len(parse_id_tags("[id_tags]\n", ORIGIN)) == 0


def test_an_expiry_keeps_its_offset() -> None:
    tags = parse_id_tags('[id_tags."A"]\nexpiry = 2027-06-30T02:00:00+02:00\n', ORIGIN)
    tag = tags.get("A")
    assert tag is not None and tag.expiry == dt.datetime(2027, 6, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "line", "field", "problem"),
    [
        ('[id_tags."A"]\nstatus = "Stolen"\n', 2, 'id_tags."A".status', 'must be "Accepted", "Blocked", "Expired"'),
        ('[id_tags."A"]\nstatus = "accepted"\n', 2, 'id_tags."A".status', 'not "accepted"'),
        ('[id_tags."A"]\nexpiry = 2027-06-30T00:00:00\n', 2, 'id_tags."A".expiry', "a date and time without offset"),
        ('[id_tags."A"]\nexpiry = 2027-06-30\n', 2, 'id_tags."A".expiry', "a date without time"),
        ('[id_tags."A"]\nexpiry = "2027-06-30T00:00:00Z"\n', 2, 'id_tags."A".expiry', "with its offset"),
        ('[id_tags."A"]\nparent = 7\n', 2, 'id_tags."A".parent', "must be a text, not 7"),
        ('[id_tags."A"]\nparent = "123456789012345678901"\n', 2, 'id_tags."A".parent', "at most 20 characters"),
        ('[id_tags."A"]\nexpires = 2027-06-30T00:00:00Z\n', 2, 'id_tags."A".expires', "did you mean expiry?"),
        ('[id_tags."123456789012345678901"]\n', 1, 'id_tags."123456789012345678901"', "at most 20 characters"),
        ('[id_tags.""]\n', 1, 'id_tags.""', "must not be empty"),
        ('[id_tags]\n"A" = 1\n', 2, 'id_tags."A"', "must be a table"),
        ('[id_tags."Card"]\n\n[id_tags."CARD"]\n', 3, 'id_tags."CARD"', 'the same id tag as "Card"'),
        ('[idtags."A"]\n', 1, "idtags", "unknown table (did you mean id_tags?)"),
        ("id_tags = 3\n", 1, "id_tags", "must be tables"),
    ],
)
def test_a_bad_file_is_refused_with_line_and_field(text: str, line: int, field: str, problem: str) -> None:
    message = refusal(text)
    assert message.startswith(f"{ORIGIN} line {line}: {field}: ")
    assert problem in message


def test_a_syntax_error_has_its_line_and_column() -> None:
    message = refusal('[id_tags."A"]\nstatus = Accepted\n')
    assert message.startswith(f"{ORIGIN} line 2 column 10: TOML syntax: ")


def test_the_first_problem_is_shown_and_the_others_counted() -> None:
    message = refusal('[id_tags."A"]\nstatus = "x"\n[id_tags."B"]\nparent = 1\nfoo = 2\n')
    assert message.startswith(f'{ORIGIN} line 2: id_tags."A".status')
    assert message.endswith("(and 2 more problems after it)")


def test_bytes_that_are_not_utf8_and_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IdTagsError, match="not UTF-8 text"):
        parse_id_tags_file(b'[id_tags."\xff"]\n', tmp_path / "tags.toml")
    with pytest.raises(IdTagsError, match="cannot read it"):
        load_id_tags(tmp_path / "missing.toml")
    (tmp_path / "tags.toml").write_text(SETTINGS_EXAMPLE)
    assert len(load_id_tags(tmp_path / "tags.toml")) == 1
    assert isinstance(IdTagsError("o", 1, None, "p"), FileContentError)  # the watcher logs it as it is


@settings(max_examples=examples(300), deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused_with_one_line(text: str) -> None:
    try:
        parse_id_tags(text, ORIGIN)
    except IdTagsError as error:
        assert "\n" not in str(error)
        assert str(error).startswith(f"{ORIGIN} line ")
