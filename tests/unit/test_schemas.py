"""The compiled schema check (common/schemas.py) against the authority, the ``ocpp``
library's jsonschema Draft 4 validators: the same verdict for payloads generated from every
OCPP 1.6 schema the gateway checks with it, valid ones and ones broken in every way a
charge point could break them (wrong types, integral floats, huge integers, strings one
character too long, astral characters, lone surrogates, missing and extra fields)."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.messages import get_validator

from common.schemas import SCHEMA_DIRS, V16, compiled, passes
from processes.gateway.frames import CALL, CALLRESULT
from tests.support.depth import examples

#: Checked by the library with decimal.Decimal (multipleOf 0.1): calls the central system
#: sends, and one answer to such a call; the gateway never asks ``passes`` about them.
DECIMAL_SCHEMAS = {"SetChargingProfile", "RemoteStartTransaction", "GetCompositeScheduleResponse"}
SCHEMAS = SCHEMA_DIRS[V16]
NAMES = sorted(path.stem for path in SCHEMAS.glob("*.json") if path.stem not in DECIMAL_SCHEMAS)


def check(name: str, payload: Any) -> bool:
    """``passes`` for a schema file name (``Authorize``, ``AuthorizeResponse``)."""
    return passes(name.removesuffix("Response"), payload, response=name.endswith("Response"))


def library_validator(name: str) -> Any:
    if name.endswith("Response"):
        return get_validator(CALLRESULT, name.removesuffix("Response"), "1.6")
    return get_validator(CALL, name, "1.6")


def schema_of(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8-sig"))
    return loaded


texts = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(["\ud800", "\U0001f600", ""])
junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0.0, 1.0, -1.0, 1.5, 1e300, 2.0**64])
    | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=6,
)


def values(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for ``schema``: mostly valid ones, some near its limits, a few of any JSON at all."""
    if "$ref" in schema:  # "#/definitions/..." of the security extension's schemas
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return values(target, root)
    kind = schema.get("type")
    wrong: st.SearchStrategy[Any] = junk
    if "enum" in schema:
        valid: st.SearchStrategy[Any] = st.sampled_from(schema["enum"])
        wrong = texts | junk
    elif kind == "object":
        return objects(schema, root)
    elif kind == "array":
        item = values(schema.get("items", {}), root)
        low = schema.get("minItems", 0)
        valid = st.lists(item, min_size=low, max_size=low + 2)
        wrong = st.lists(item, max_size=max(low - 1, 0)) | junk
    elif kind == "string":
        limit = schema.get("maxLength", 30)
        alphabet = st.sampled_from("aZ9 \U0001f600é")
        valid = st.text(alphabet, max_size=min(limit, 20)) | st.builds(lambda char: char * limit, alphabet)
        wrong = st.builds(lambda char: char * (limit + 1), alphabet) | st.sampled_from(["\ud800"]) | junk
    elif kind == "integer":
        valid = st.integers(min_value=-(2**70), max_value=2**70)
        wrong = st.sampled_from([1.0, -0.0, True, "1"]) | junk
    elif kind == "number":
        valid = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**70), 2**70)
        wrong = st.sampled_from([True, "1.5", None]) | junk
    elif kind == "boolean":
        valid = st.booleans()
        wrong = st.sampled_from([0, 1, "true"]) | junk
    else:
        valid = junk
    return st.one_of(*[valid] * 7, wrong)


def objects(schema: dict[str, Any], root: dict[str, Any] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Objects of ``schema``: its properties, each there or not (required ones mostly), and
    now and then one it does not have."""
    root = schema if root is None else root
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    fields = {
        name: st.tuples(
            st.sampled_from([True] * 15 + [False]) if name in required else st.booleans(), values(sub, root)
        )
        for name, sub in properties.items()
    }
    extra = st.sampled_from([{}] * 7 + [{"extra": 1}, {"vendorExtension": "x"}])

    def build(chosen: dict[str, tuple[bool, Any]], more: dict[str, Any]) -> dict[str, Any]:
        return {**{name: value for name, (present, value) in chosen.items() if present}, **more}

    return st.builds(build, st.fixed_dictionaries(fields), extra)


@functools.cache
def payloads(name: str) -> st.SearchStrategy[Any]:
    """Payloads for a schema, built once (not for every example): objects of it, or any JSON."""
    return objects(schema_of(name)) | junk


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_compiled_check_agrees_with_the_library(name: str, data: st.DataObject) -> None:
    payload = data.draw(payloads(name))
    assert check(name, payload) == library_validator(name).is_valid(payload), payload


@pytest.mark.parametrize("name", NAMES)
def test_generated_payloads_include_valid_and_invalid_ones(name: str) -> None:
    """The comparison above means something only if both verdicts occur."""
    verdicts: set[bool] = set()

    @settings(max_examples=examples(200, quick_at_least=60), deadline=None, database=None)
    @given(objects(schema_of(name)))
    def collect(payload: dict[str, Any]) -> None:
        verdicts.add(library_validator(name).is_valid(payload))

    collect()
    assert verdicts == {True, False}


def test_unknown_schemas_and_unconvertible_values_defer_to_the_library() -> None:
    assert compiled("NoSuchAction") is None
    assert passes("NoSuchAction", {}) is False
    nested: list[Any] = []
    for _ in range(50_000):
        nested = [nested]
    assert passes("DataTransfer", {"vendorId": "v", "data": nested}) is False  # not a string, however deep
    unconvertible = {"vendorId": object()}
    check = compiled("DataTransfer")
    assert check is not None
    with pytest.raises(ValueError):
        check.is_valid(unconvertible)
    assert passes("DataTransfer", unconvertible) is False  # no exception: jsonschema decides
    assert passes("Heartbeat", {}) is True
