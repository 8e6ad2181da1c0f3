# The two set-up commands of the README: `make demo` and `make test`.
# Both create the project's virtual environment (.venv, from uv.lock) when needed.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
LINT_WAREHOUSE := $(CURDIR)/target/lint.duckdb

.PHONY: setup setup-spark demo test test-fast lint unit bench docs ui

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

setup: $(if $(findstring .tools,$(UV)),.tools/bin/uv)
	$(UV) sync --frozen --quiet
	BOTMETER_WAREHOUSE=$(LINT_WAREHOUSE) .venv/bin/dbt parse --quiet --profiles-dir dbt_project

# The Spark engine's own environment (dbt-spark, local Spark; Java 17+): docs/spark.md.
setup-spark: $(if $(findstring .tools,$(UV)),.tools/bin/uv)
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/.venv-spark $(UV) sync --frozen --quiet --project dbt_project/spark

demo: setup
	.venv/bin/botmeter demo

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	BOTMETER_WAREHOUSE=$(LINT_WAREHOUSE) .venv/bin/sqlfluff lint models --processes 2

# The whole suite (CI): unit and integration tests, two workers; the Spark engine's test
# needs its environment.
unit: setup setup-spark
	.venv/bin/pytest -n 2 --dist loadfile tests/unit tests/integration

test: lint unit

# The fast subset while developing: tests/unit only (under two minutes).
test-fast: setup
	.venv/bin/pytest -n 2 --dist loadfile

bench: setup
	.venv/bin/python -m benchmarks.run

docs: setup
	.venv/bin/botmeter docs --serve

ui: setup
	.venv/bin/botmeter ui
