"""Charger profiles (processes/gateway/charger_profiles.py): the file format of SETTINGS.md, errors
naming file, line and field, the precedence of the layers, and the shipped table of known quirks.
Also common/toml_lines.py, which finds the lines."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.toml_lines import TomlLines
from common.watched_file import FileContentError
from processes.gateway.charger_profiles import (
    KNOWN_CHARGERS,
    MEASURANDS,
    ChargerProfile,
    ChargerProfiles,
    ModelRule,
    ProfileError,
    load_profiles,
    parse_charge_points_file,
    parse_profiles,
    shipped_profiles,
)

ORIGIN = "OCPP_CHARGE_POINTS_FILE /x/cp.toml"

# The example of SETTINGS.md ("Added in the second round"), verbatim.
SETTINGS_EXAMPLE = """\
[defaults]
phases = 3                 # for W <-> A
voltage = 230              # V per phase
min_current = 6            # A per phase; a limit below it pauses charging
max_current = 32           # A per phase; "no limit" periods use it

[[models]]                 # matched against BootNotification (shell-style patterns)
vendor = "ABB*"
model = "TAC*"
max_stack_level = 0        # use only stack levels up to this
onboarding = false         # leave this model's configuration alone

[charge_points."CP_1"]
phases = 1
rate_unit = "A"            # "A" or "W": overrides what the charge point reports
profile_kind = "Relative"  # "Absolute" (default) or "Relative"
measurands = ["Energy.Active.Import.Register", "Power.Active.Import"]
meter_interval = 10
"""

profiles_strategy = st.builds(
    ChargerProfile,
    phases=st.none() | st.integers(1, 3),
    voltage=st.none() | st.floats(1, 500),
    min_current=st.none() | st.floats(0, 16),
    max_current=st.none() | st.floats(16, 80),
    max_stack_level=st.none() | st.integers(0, 10),
    onboarding=st.none() | st.booleans(),
    rate_unit=st.none() | st.sampled_from(["A", "W"]),
    profile_kind=st.none() | st.sampled_from(["Absolute", "Relative"]),
    measurands=st.none() | st.lists(st.sampled_from(sorted(MEASURANDS)), min_size=1, unique=True).map(tuple),
    meter_interval=st.none() | st.integers(0, 900),
)


def fold(*layers: ChargerProfile) -> ChargerProfile:
    """The expected result of layering, field by field: the last layer that says it wins."""
    values = {}
    for f in fields(ChargerProfile):
        said = [getattr(layer, f.name) for layer in layers if getattr(layer, f.name) is not None]
        values[f.name] = said[-1] if said else None
    return ChargerProfile(**values)


def error_of(text: str, origin: str = ORIGIN) -> str:
    with pytest.raises(ProfileError) as caught:
        parse_profiles(text, origin)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- merging and precedence


@given(profiles_strategy, profiles_strategy)
def test_merged_takes_every_field_the_upper_layer_says(lower: ChargerProfile, upper: ChargerProfile) -> None:
    assert lower.merged(upper) == fold(lower, upper)


@given(profiles_strategy, profiles_strategy, profiles_strategy)
def test_merging_is_associative_and_empty_is_neutral(a: ChargerProfile, b: ChargerProfile, c: ChargerProfile) -> None:
    assert a.merged(b).merged(c) == a.merged(b.merged(c))
    assert a.merged(ChargerProfile()) == a == ChargerProfile().merged(a)


@given(
    base=profiles_strategy,
    defaults=profiles_strategy,
    rules=st.lists(st.tuples(st.booleans(), profiles_strategy), max_size=4),
    own=st.none() | profiles_strategy,
)
def test_resolve_layers_base_defaults_matching_models_in_order_then_the_charge_point(
    base: ChargerProfile, defaults: ChargerProfile, rules: list[tuple[bool, ChargerProfile]], own: ChargerProfile | None
) -> None:
    models = tuple(ModelRule("Acme" if hit else "Other", None, None, profile) for hit, profile in rules)
    profiles = ChargerProfiles(defaults, models, {"CP_1": own} if own is not None else {})
    expected = fold(base, defaults, *(profile for hit, profile in rules if hit), own or ChargerProfile())
    if (
        expected.min_current is not None
        and expected.max_current is not None
        and expected.min_current > expected.max_current
    ):
        expected = expected.merged(ChargerProfile(min_current=expected.max_current))
    assert profiles.resolve("CP_1", "ACME", "Box", "1.0", base) == expected
    assert (
        profiles.resolve("CP_2", "Other", None, None, base).phases
        == fold(base, defaults, *(p for hit, p in rules if not hit)).phases
    )


@pytest.mark.parametrize(
    ("rule", "boot", "matches"),
    [
        (ModelRule("abb", "*tac*", None, ChargerProfile()), ("ABB", "CDT_TACW22::NET_WIFI", None), True),
        (ModelRule("ABB", "TAC*", None, ChargerProfile()), ("ABB", "CDT_TACW22::NET_WIFI", None), False),
        (ModelRule(None, "Elvi", None, ChargerProfile()), ("anyone", "ELVI", None), True),
        (ModelRule("Wall Box*", None, "6.*", ChargerProfile()), ("Wall Box Chargers", "PLP1", "6.7.38"), True),
        (ModelRule("Wall Box*", None, "6.*", ChargerProfile()), ("Wall Box Chargers", "PLP1", "5.17.87"), False),
        (ModelRule("Wall Box*", None, "6.*", ChargerProfile()), ("Wall Box Chargers", "PLP1", None), False),
        (ModelRule("ABB", None, None, ChargerProfile()), (None, "TAC", None), False),
        (ModelRule("", "ACChargePoint", None, ChargerProfile()), ("", "ACChargePoint", None), True),
        (ModelRule("", "ACChargePoint", None, ChargerProfile()), ("Huawei", "ACChargePoint", None), False),
    ],
)
def test_model_patterns_are_shell_style_case_insensitive_and_need_the_value(
    rule: ModelRule, boot: tuple[str | None, str | None, str | None], matches: bool
) -> None:
    assert rule.matches(*boot) is matches


def test_a_minimum_above_the_maximum_is_lowered_to_it_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    profiles = ChargerProfiles(
        models=(ModelRule("Acme", None, None, ChargerProfile(min_current=10), origin="x.toml", line=3),),
        charge_points={"CP_1": ChargerProfile(max_current=8)},
    )
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            resolved = profiles.resolve("CP_1", "Acme", None, None, ChargerProfile())
    assert (resolved.min_current, resolved.max_current) == (8, 8)
    [record] = caplog.records
    assert "CP_1" in record.getMessage() and 'x.toml line 3 (vendor="Acme")' in record.getMessage()


def test_source_of_names_what_applies_in_order() -> None:
    profiles = ChargerProfiles(
        ChargerProfile(phases=3),
        (
            ModelRule("A*", None, None, ChargerProfile(phases=1), origin="k.toml", line=2),
            ModelRule("B*", None, None, ChargerProfile(phases=2), origin="k.toml", line=9),
            ModelRule(None, "M", "1.*", ChargerProfile(phases=2), origin="cp.toml", line=4),
        ),
        {"CP 1": ChargerProfile(voltage=240)},
    )
    assert profiles.source_of("CP 1", "Acme", "m", "1.2") == (
        "[defaults]",
        'k.toml line 2 (vendor="A*")',
        'cp.toml line 4 (model="M" firmware="1.*")',
        '[charge_points."CP 1"]',
    )
    assert ChargerProfiles().source_of("CP 1", None, None, None) == ()


# --------------------------------------------------------------------------- the format


def test_the_example_of_settings_md_reads_as_written() -> None:
    profiles = parse_profiles(SETTINGS_EXAMPLE, ORIGIN)
    assert profiles.defaults == ChargerProfile(phases=3, voltage=230, min_current=6, max_current=32)
    [rule] = profiles.models
    assert (rule.vendor, rule.model, rule.firmware, rule.source, rule.line) == ("ABB*", "TAC*", None, None, 7)
    assert rule.profile == ChargerProfile(max_stack_level=0, onboarding=False)
    assert dict(profiles.charge_points) == {
        "CP_1": ChargerProfile(
            phases=1,
            rate_unit="A",
            profile_kind="Relative",
            measurands=("Energy.Active.Import.Register", "Power.Active.Import"),
            meter_interval=10,
        )
    }
    assert isinstance(profiles.defaults.voltage, float)
    resolved = profiles.resolve("CP_1", "ABB", "TAC-W22", None, ChargerProfile(voltage=400))
    assert (resolved.phases, resolved.voltage, resolved.max_stack_level, resolved.onboarding) == (1, 230, 0, False)


def test_firmware_and_source_are_read_and_the_empty_file_says_nothing() -> None:
    [rule] = parse_profiles(
        '[[models]]\nmodel = "X*"\nfirmware = "2.*"\nsource = "manual"\nphases = 1\n', ORIGIN
    ).models
    assert (rule.model, rule.firmware, rule.source, rule.origin) == ("X*", "2.*", "manual", ORIGIN)
    assert parse_profiles("# nothing yet\n", ORIGIN) == ChargerProfiles()


def test_model_entries_know_their_line_however_their_header_is_spelled() -> None:
    usual = '[[models]]  # first\nvendor = "A"\n\n[[models]]\nvendor = "B"\n'
    assert [rule.line for rule in parse_profiles(usual, ORIGIN).models] == [1, 4]
    unusual = '[[models]]  # first\nvendor = "A"\n\n[[ "models" ]]\nvendor = "B"\n'
    assert [rule.line for rule in parse_profiles(unusual, ORIGIN).models] == [1, 4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[defaults]\nphases = 3\n\n[charge_points."CP_1"]\nvoltage = 230\n\n\nphases = 4\n',
         'line 8: charge_points."CP_1".phases: must be 1, 2 or 3, not 4'),
        ("[defaults]\nphases = true\n", "line 2: defaults.phases: must be a whole number, not true"),
        ("[defaults]\nphases = 1.5\n", "line 2: defaults.phases: must be a whole number, not 1.5"),
        ('[defaults]\nvoltage = "230"\n', 'line 2: defaults.voltage: must be a number, not "230"'),
        ("[defaults]\nvoltage = 0\n", "line 2: defaults.voltage: must be above 0, not 0"),
        ("[defaults]\nvoltage = inf\n", "line 2: defaults.voltage: must be a number, not inf"),
        ("[defaults]\nmin_current = -1\n", "line 2: defaults.min_current: must be at least 0, not -1"),
        ("[defaults]\nmax_current = 0\n", "line 2: defaults.max_current: must be above 0, not 0"),
        ("[defaults]\nmin_current = 16\nmax_current = 10\n",
         "line 3: defaults.max_current: must be at least min_current (16), not 10"),
        ("[defaults]\nmin_current = 10\n[charge_points.A]\nmax_current = 8\n",
         'line 4: charge_points."A".max_current: must be at least min_current of [defaults] (10), not 8'),
        ('[defaults]\nmax_current = 8\n[[models]]\nvendor = "X"\nmin_current = 10\n',
         "line 5: models[1].min_current: must be at most max_current of [defaults] (8), not 10"),
        ("[defaults]\nmax_stack_level = -1\n", "line 2: defaults.max_stack_level: must be 0 or more, not -1"),
        ("[defaults]\nmeter_interval = -5\n", "line 2: defaults.meter_interval: must be 0 or more, not -5"),
        ('[defaults]\nonboarding = "no"\n', 'line 2: defaults.onboarding: must be true or false, not "no"'),
        ('[defaults]\nrate_unit = "kW"\n', 'line 2: defaults.rate_unit: must be "A" or "W", not "kW"'),
        ('[defaults]\nprofile_kind = "absolute"\n',
         'line 2: defaults.profile_kind: must be "Absolute" or "Relative", not "absolute"'),
        ("[defaults]\nmeasurands = []\n", "line 2: defaults.measurands: must be a non-empty array"),
        ('[defaults]\nmeasurands = "Voltage"\n', "line 2: defaults.measurands: must be a non-empty array"),
        ('[defaults]\nmeasurands = ["Voltage", "Power.Active.Imports"]\n',
         'line 2: defaults.measurands: "Power.Active.Imports" is not an OCPP 1.6 measurand'
         " (did you mean Power.Active.Import?)"),
        ('[defaults]\nmeasurands = ["Voltage", 3]\n', "line 2: defaults.measurands: 3 is not an OCPP 1.6 measurand"),
        ('[defaults]\nmeasurands = ["Voltage", "Voltage"]\n', "line 2: defaults.measurands: lists a measurand twice"),
        ("[defaults]\nmax_curent = 16\n", "line 2: defaults.max_curent: unknown field (did you mean max_current?)"),
        ('[defaults]\nvendor = "X"\n', "line 2: defaults.vendor: unknown field; expected one of phases, voltage,"),
        ("[defalts]\nphases = 1\n", "line 1: defalts: unknown table (did you mean defaults?)"),
        ("defaults = 3\n", "line 1: defaults: must be a table [defaults], not 3"),
        ("models = 3\n", "line 1: models: must be [[models]] tables, not 3"),
        ("models = [3]\n", "line 1: models[1]: must be a [[models]] table, not 3"),
        ("[charge_points]\nCP_1 = 3\n", 'line 2: charge_points."CP_1": must be a table with a non-empty id, not 3'),
        ('[charge_points.""]\nphases = 1\n', 'line 1: charge_points."": must be a table with a non-empty id'),
        ('[[models]]\nvendor = "A"\n[[models]]\nvendor = "B"\n\n[[models]]\nmodel = "C"\ncolour = "red"\n',
         "line 8: models[3].colour: unknown field"),
        ('[[models]]\nvendor = "A"\n[[models]]\nphases = 1\n',
         "line 3: models[2]: needs vendor or model (patterns on the BootNotification's chargePointVendor,"),
        ("[[models]]\nvendor = 3\n", "line 2: models[1].vendor: must be a text, not 3"),
        ('[charge_points."a.b \\"c\\""]\nphases = 9\n', 'line 2: charge_points."a.b \\"c\\"".phases: must be 1, 2'),
        ('[charge_points]\n"CP 9" = { phases = 7 }\n', 'line 2: charge_points."CP 9".phases: must be 1, 2 or 3'),
        ("charge_points.CP_3.phases = 5\n", 'line 1: charge_points."CP_3".phases: must be 1, 2 or 3, not 5'),
        ("[defaults]\nphases = \n", "line 2 column 10: TOML syntax: Invalid value"),
        ("[defaults]\nmeasurands = [\n", "line 2: TOML syntax: "),
        ("[defaults]\nphases = 9\nvoltage = -1\nrate_unit = 1\n",
         "line 2: defaults.phases: must be 1, 2 or 3, not 9 (and 2 more problems after it)"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_with_file_line_and_field(text: str, expected: str) -> None:
    assert error_of(text).startswith(f"{ORIGIN} {expected}")


def test_profile_errors_carry_their_parts_and_are_file_content_errors() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profiles('\n[charge_points."CP_1"]\nphases = 4\n', ORIGIN)
    error = caught.value
    assert isinstance(error, FileContentError) and isinstance(error, ValueError)
    assert (error.origin, error.line, error.field, error.problem) == (
        ORIGIN, 3, 'charge_points."CP_1".phases', "must be 1, 2 or 3, not 4"
    )  # fmt: skip


@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused_in_one_line(text: str) -> None:
    try:
        parse_profiles(text, ORIGIN)
    except ProfileError as error:
        assert "\n" not in str(error) and str(error).startswith(f"{ORIGIN}")


# --------------------------------------------------------------------------- files, the shipped table


def test_the_operators_file_extends_and_overrides_the_shipped_table(tmp_path: Path) -> None:
    path = tmp_path / "cp.toml"
    path.write_text('[defaults]\nphases = 1\n[[models]]\nvendor = "abb"\nmax_stack_level = 2\n', encoding="utf-8")
    profiles = load_profiles(path)
    assert profiles.models[: len(shipped_profiles().models)] == shipped_profiles().models
    assert profiles.models[-1].origin == f"OCPP_CHARGE_POINTS_FILE {path}"
    abb = profiles.resolve("TACW1", "ABB", "CDT_TACW22::NET_WIFI", "x::V1.8.21", ChargerProfile(phases=3))
    assert (abb.phases, abb.max_stack_level) == (1, 2)
    assert abb.measurands == shipped_profiles().resolve("T", "ABB", "CDT_TACW11", None, ChargerProfile()).measurands
    assert load_profiles(None) == shipped_profiles()


def test_reading_the_file_checks_encoding_and_existence(tmp_path: Path) -> None:
    path = tmp_path / "cp.toml"
    with pytest.raises(ProfileError, match=f"^OCPP_CHARGE_POINTS_FILE {path}: cannot read it: No such file"):
        load_profiles(path)
    with pytest.raises(ProfileError, match=f"^OCPP_CHARGE_POINTS_FILE {path}: not UTF-8 text"):
        parse_charge_points_file(b"[defaults]\nphases = \xff\n", path)
    bom = "\ufeff[defaults]\nphases = 2\n".encode()
    assert parse_charge_points_file(bom, path).defaults.phases == 2
    assert parse_charge_points_file("[defaults]\nphases = 2\n", path).defaults.phases == 2
    with pytest.raises(ProfileError, match=rf"^OCPP_CHARGE_POINTS_FILE {path} line 1: defaults.phases"):
        parse_charge_points_file(b"defaults.phases = 0\n", path)


def test_every_shipped_entry_has_a_source_with_a_url_says_something_and_only_models() -> None:
    document = tomllib.loads(KNOWN_CHARGERS.read_text(encoding="utf-8"))
    assert set(document) == {"models"}
    profiles = shipped_profiles()
    assert len(profiles.models) == len(document["models"]) >= 5
    for rule in profiles.models:
        assert rule.source is not None and "https://" in rule.source, rule.label
        assert rule.profile != ChargerProfile(), rule.label
        assert rule.origin == "known_chargers.toml"


def test_the_shipped_table_needs_sources() -> None:
    with pytest.raises(ProfileError, match=r"line 1: models\[1\].source: every entry of the shipped table needs"):
        parse_profiles('[[models]]\nvendor = "X"\nphases = 1\n', "known_chargers.toml", require_source=True)


@pytest.mark.parametrize(
    ("boot", "expected"),
    [  # BootNotifications as the sources quote them
        (("ABB", "CDT_TACW22::NET_WIFI", "TAC3Z9119006710273::V1.8.21"), {"max_stack_level": 0, "measurands": 5}),
        (("EV-BOX", "G4E-WBW-M7500E", "P0424B0424v0.220706_W2.2.0"), {"measurands": 4}),
        (("Wall Box Chargers", "PLP1-0-2-4", "6.7.38"), {"profile_kind": "Relative"}),
        (("Wall Box Chargers", "PLP1-0-2-4", "5.17.87"), {"max_stack_level": 0}),
        (("Easee", "Home", None), {"meter_interval": 30, "profile_kind": "Absolute"}),
        (("", "ACChargePoint", None), {"rate_unit": "W"}),
        (("Acme", "Anything", "1.0"), {}),
    ],
)
def test_the_shipped_quirks_reach_the_chargers_they_name(
    boot: tuple[str, str, str | None], expected: dict[str, object]
) -> None:
    resolved = shipped_profiles().resolve("CP", *boot, base=ChargerProfile())
    said = {k: len(v) if isinstance(v, tuple) else v for k, v in resolved.said().items()}
    assert said == expected
    if boot[0] == "EV-BOX":  # the Elvi's nonsensical measurands are not asked for
        assert not {"Current.Offered", "Power.Offered", "SoC"} & set(resolved.measurands or ())


# --------------------------------------------------------------------------- common/toml_lines.py


def test_toml_lines_finds_headers_keys_array_entries_and_falls_back_to_the_enclosing_table() -> None:
    lines = TomlLines(
        '# [commented] = 1\n[a]\nx = 1\n"q = r" = 2\n[[arr]]\nk = 1\n[[arr]]\n[arr.sub]\nk = 2\n'
        '[t."]b[" . c]  # comment ]\nd.e = { f = 1 }\n'
    )
    assert lines.of(("a",)) == 2
    assert lines.of(("a", "x")) == 3
    assert lines.of(("a", "q = r")) == 4
    assert lines.of(("arr", 0)) == 5 and lines.of(("arr", 0, "k")) == 6
    assert lines.of(("arr", 1)) == 7 and lines.of(("arr", 1, "sub", "k")) == 9
    assert lines.of(("t", "]b[", "c")) == 10
    assert lines.of(("t", "]b[", "c", "d", "e", "f")) == 11
    assert lines.of(("a", "missing")) == 2
    assert lines.of(("nowhere",)) == 1
    assert lines.of(("commented",)) == 1
