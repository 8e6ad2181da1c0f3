"""KPI configuration: validation errors name the KPI and the field, loading writes data only."""

from __future__ import annotations

import copy

import duckdb
import pytest
import yaml

from assets.kpi_definitions import load_kpi_definitions
from botmeter.cli import main
from botmeter.settings import (
    DEFAULT_KPI_CONFIG,
    KpiConfigError,
    load_kpi_config,
    validate_kpi_config,
)

VALID = {
    "version": 1,
    "kpis": [
        {
            "name": "containment_rate",
            "description": "Sessions without a ticket over sessions.",
            "grain": "day",
            "numerator": {"count": "sessions", "without": {"event_type": "ticket_created"}},
            "denominator": {"count": "sessions"},
        },
        {
            "name": "premium_payments",
            "description": "Payments of premium plans.",
            "grain": "month",
            "numerator": {
                "count": "events",
                "where": {
                    "event_type": "kpi_event",
                    "kpi_name": "payment_completed",
                    "properties": {"plan": ["gold", "platinum"], "tier": 3, "trial": False},
                },
            },
        },
    ],
}


def config_with(path: str, value, base=VALID) -> dict:
    """A copy of `base` with the dotted `path` (list indexes as numbers) set to `value`;
    the value DELETE removes the key."""
    data = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


DELETE = object()


def test_the_default_config_is_valid_and_ships_the_built_ins():
    config = load_kpi_config(DEFAULT_KPI_CONFIG)
    kpis = config.by_name()
    assert config.version == 1
    assert {"containment_rate", "escalation_rate", "goal_completion_rate"} <= set(kpis)
    containment = kpis["containment_rate"]
    assert (containment.numerator.count, containment.denominator.count) == ("sessions",) * 2
    assert [(f.clause, f.field, f.value) for f in containment.numerator.filters] == [
        ("without", "event_type", "ticket_created")
    ]
    escalation = kpis["escalation_rate"]
    assert [(f.clause, f.value) for f in escalation.numerator.filters] == [
        ("where", "ticket_created")
    ]
    goal = kpis["goal_completion_rate"]
    assert {f.field for f in goal.numerator.filters} == {"event_type", "kpi_name"}
    assert ("event_type", "kpi_event") in {(f.field, f.value) for f in goal.numerator.filters}


def test_valid_config_normalises_property_values_to_json_text():
    config = validate_kpi_config(VALID)
    payments = config.by_name()["premium_payments"]
    assert payments.denominator is None
    props = sorted(
        (f.property_key, f.value) for f in payments.numerator.filters if f.field == "property"
    )
    assert props == [("plan", "gold"), ("plan", "platinum"), ("tier", "3"), ("trial", "false")]


@pytest.mark.parametrize(
    ("path", "value", "kpi", "field", "message"),
    [
        ("kpis.0.name", "Containment Rate", "Containment Rate", "name", "lowercase identifier"),
        ("kpis.0.name", "x; drop table marts.fct_sessions", None, "name", "identifier"),
        ("kpis.1.name", "containment_rate", "containment_rate", "name", "more than once"),
        ("kpis.0.description", DELETE, "containment_rate", "description", "required"),
        ("kpis.0.description", "  ", "containment_rate", "description", "non-empty"),
        ("kpis.0.grain", "week", "containment_rate", "grain", "day, month"),
        ("kpis.0.grain", DELETE, "containment_rate", "grain", "required"),
        ("kpis.0.numerator", DELETE, "containment_rate", "numerator", "required"),
        ("kpis.0.numerator.count", "users", "containment_rate", "numerator.count", "events"),
        ("kpis.0.denominator.count", DELETE, "containment_rate", "denominator.count", "required"),
        ("kpis.0.numerator.filter", {}, "containment_rate", "numerator.filter", "unknown field"),
        ("kpis.0.numerator.without", {}, "containment_rate", "numerator.without", "mapping"),
        (
            "kpis.0.numerator.without.event_type",
            "ticket",
            "containment_rate",
            "numerator.without.event_type",
            "unknown event type",
        ),
        (
            "kpis.1.numerator.where.kpi_name",
            [],
            "premium_payments",
            "numerator.where.kpi_name",
            "empty list",
        ),
        (
            "kpis.1.numerator.where.kpi_name",
            5,
            "premium_payments",
            "numerator.where.kpi_name",
            "a string",
        ),
        (
            "kpis.1.numerator.where.properties",
            {"plan.name": "x"},
            "premium_payments",
            "numerator.where.properties",
            "plain identifier",
        ),
        (
            "kpis.1.numerator.where.properties",
            {"$.plan": "x"},
            "premium_payments",
            "numerator.where.properties",
            "plain identifier",
        ),
        (
            "kpis.1.numerator.where.properties",
            {"plan": 1.5},
            "premium_payments",
            "numerator.where.properties.plan",
            "an integer or a boolean",
        ),
        (
            "kpis.1.numerator.where.properties",
            {"plan": {"a": 1}},
            "premium_payments",
            "numerator.where.properties.plan",
            "an integer or a boolean",
        ),
        (
            "kpis.1.numerator.where.properties",
            {"plan": None},
            "premium_payments",
            "numerator.where.properties.plan",
            "an integer or a boolean",
        ),
        (
            "kpis.1.numerator.where.properties",
            {},
            "premium_payments",
            "numerator.where.properties",
            "non-empty",
        ),
        ("kpis.1.numerator", "events", "premium_payments", "numerator", "mapping"),
        ("kpis.1.colour", "red", "premium_payments", "colour", "unknown field"),
    ],
)
def test_bad_config_names_the_kpi_and_the_field(path, value, kpi, field, message):
    with pytest.raises(KpiConfigError) as info:
        validate_kpi_config(config_with(path, value))
    error = info.value
    assert error.field == field
    if kpi is not None:
        assert error.kpi == kpi
        assert repr(kpi) in str(error)
    assert repr(field) in str(error)
    assert message in str(error)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ([], None, "mapping"),
        ({"kpis": VALID["kpis"]}, "version", "unsupported config version"),
        ({"version": 2, "kpis": VALID["kpis"]}, "version", "unsupported config version"),
        ({"version": True, "kpis": VALID["kpis"]}, "version", "unsupported config version"),
        ({"version": 1, "kpis": []}, "kpis", "non-empty list"),
        ({"version": 1, "kpis": VALID["kpis"], "extra": 1}, "extra", "unknown field"),
        ({"version": 1, "kpis": ["containment_rate"]}, "kpis[0]", "must be a mapping"),
    ],
)
def test_bad_file_structure(data, field, message):
    with pytest.raises(KpiConfigError) as info:
        validate_kpi_config(data)
    assert info.value.field == field
    assert message in str(info.value)


def test_unreadable_and_invalid_yaml_files(tmp_path):
    with pytest.raises(KpiConfigError, match="cannot read"):
        load_kpi_config(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("version: 1\nkpis: [\n", encoding="utf-8")
    with pytest.raises(KpiConfigError, match="not valid YAML"):
        load_kpi_config(bad)


def test_config_hash_ignores_descriptions_and_grains_but_not_filters():
    base = validate_kpi_config(VALID).config_hash
    reworded = config_with("kpis.0.description", "Another wording.")
    regrained = config_with("kpis.1.grain", "day")
    reordered = copy.deepcopy(VALID)
    reordered["kpis"].reverse()
    assert validate_kpi_config(reworded).config_hash == base
    assert validate_kpi_config(regrained).config_hash == base
    assert validate_kpi_config(reordered).config_hash == base
    refiltered = config_with("kpis.1.numerator.where.kpi_name", "payment_failed")
    assert validate_kpi_config(refiltered).config_hash != base
    recounted = config_with("kpis.0.denominator.count", "conversations")
    assert validate_kpi_config(recounted).config_hash != base


HOSTILE = "x'); drop table config.kpi_definitions; --"


def test_load_writes_definitions_and_filters_as_data(tmp_path):
    data = config_with("kpis.1.numerator.where.properties", {"plan": [HOSTILE, "gold"]})
    path = tmp_path / "kpis.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    config = load_kpi_definitions(con, path)
    definitions = con.execute(
        "select kpi_name, grain, numerator_count, denominator_count, config_version, config_hash "
        "from config.kpi_definitions order by kpi_name"
    ).fetchall()
    assert definitions == [
        ("containment_rate", "day", "sessions", "sessions", 1, config.config_hash),
        ("premium_payments", "month", "events", None, 1, config.config_hash),
    ]
    filters = con.execute(
        "select kpi_name, part, clause, field, property_key, value "
        "from config.kpi_filters order by all"
    ).fetchall()
    assert ("premium_payments", "numerator", "where", "property", "plan", HOSTILE) in filters
    assert ("containment_rate", "numerator", "without", "event_type", None, "ticket_created") in (
        filters
    )
    # loading again replaces the configuration
    load_kpi_definitions(con, validate_kpi_config({"version": 1, "kpis": VALID["kpis"][:1]}))
    assert con.execute("select count(*) from config.kpi_definitions").fetchone()[0] == 1
    assert con.execute("select count(*) from config.kpi_filters").fetchone()[0] == 1


def test_a_bad_file_leaves_the_loaded_configuration_untouched(tmp_path):
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    load_kpi_definitions(con, validate_kpi_config(VALID))
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(config_with("kpis.0.grain", "hour")), encoding="utf-8")
    with pytest.raises(KpiConfigError, match="containment_rate"):
        load_kpi_definitions(con, bad)
    assert con.execute("select count(*) from config.kpi_definitions").fetchone()[0] == 2


def test_cli_validates_the_configuration(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BOTMETER_KPI_CONFIG", str(DEFAULT_KPI_CONFIG))
    assert main(["check-config"]) == 0
    assert "containment_rate" in capsys.readouterr().out
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(config_with("kpis.0.grain", "hour")), encoding="utf-8")
    monkeypatch.setenv("BOTMETER_KPI_CONFIG", str(bad))
    assert main(["check-config"]) == 1
    err = capsys.readouterr().err
    assert "'grain'" in err and len(err.strip().splitlines()) == 1
