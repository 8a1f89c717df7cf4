# Two commands on a fresh machine (Python 3.11+ and make): `make demo`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PORT   ?= 3000

.PHONY: install demo test test-unit test-slow lint bench clean

$(BIN)/soleflip-bi: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/soleflip-bi

## demo: embedded PostgreSQL + demo data + all views + Dagster UI on http://localhost:$(PORT)
demo: install
	$(BIN)/soleflip-bi demo --port $(PORT)

## test: the test suite against the embedded PostgreSQL and real Dagster
test: install
	$(BIN)/pytest -m "not slow"

## test-unit: the fast tier, pure logic with no database (soleflip_bi_tests/unit)
test-unit: install
	$(BIN)/pytest soleflip_bi_tests/unit

## test-slow: the long fault and load scenarios (docs/RELIABILITY.md)
test-slow: install
	$(BIN)/pytest -m slow

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	. $(BIN)/activate && dg check defs

## bench: refresh and query benchmarks at 1,106 / 100k / 1M orders (docs/BENCHMARKS.md)
bench: install
	$(BIN)/python -m soleflip_bi_tests.benchmarks.run $(BENCH_ARGS)

clean:
	-$(BIN)/soleflip-bi db stop
	rm -rf .embedded .dagster_home .tmp_dagster_home_*
