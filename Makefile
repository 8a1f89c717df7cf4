# Two commands on a fresh machine (Python 3.11+ and make): `make demo`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PORT   ?= 3000

.PHONY: install demo test test-random test-each-file test-unit test-slow lint bench clean

# uv (from PyPI, into the venv) installs the project in seconds; where uv cannot be had or
# fails, pip does the same install.
UV_VERSION = 0.13.9

$(BIN)/soleflip-bi: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@if $(BIN)/pip install --quiet 'uv==$(UV_VERSION)' 2>/dev/null && \
	    $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'; then :; else \
	  echo "uv unavailable: installing with pip"; \
	  $(BIN)/pip install --quiet --upgrade pip && $(BIN)/pip install --quiet -e '.[dev]'; \
	fi
	touch $@

install: $(BIN)/soleflip-bi

## demo: embedded PostgreSQL + demo data + all views + Dagster UI on http://localhost:$(PORT)
demo: install
	$(BIN)/soleflip-bi demo --port $(PORT)

## test: the test suite against the embedded PostgreSQL and real Dagster, in file order
test: install
	$(BIN)/pytest -m "not slow" -p no:randomly

## test-random: the same tests shuffled (pytest-randomly; repeat one with SEED=<printed seed>)
test-random: install
	$(BIN)/pytest -m "not slow" $(if $(SEED),--randomly-seed=$(SEED))

## test-each-file: every test file alone, in a pytest of its own on a new embedded server
## in a new data directory (none leans on another, or on what an earlier file left)
test-each-file: install
	@failed=""; for file in soleflip_bi_tests/test_*.py soleflip_bi_tests/unit/test_*.py; do \
	  dir=$$(mktemp -d /tmp/soleflip-each-file.XXXXXX); \
	  SOLEFLIP_EMBEDDED_DIR=$$dir $(BIN)/pytest -q -m "not slow" -p no:randomly "$$file" \
	    >/dev/null 2>&1; status=$$?; \
	  SOLEFLIP_EMBEDDED_DIR=$$dir $(BIN)/soleflip-bi db stop >/dev/null 2>&1; rm -rf "$$dir"; \
	  if [ $$status = 0 ] || [ $$status = 5 ]; then echo "ok      $$file"; \
	  else echo "FAILED  $$file"; failed="$$failed $$file"; fi; \
	done; [ -z "$$failed" ] || { echo "failed alone:$$failed"; exit 1; }

## test-unit: the fast tier, pure logic with no database (soleflip_bi_tests/unit)
test-unit: install
	$(BIN)/pytest -p no:randomly soleflip_bi_tests/unit

## test-slow: the long fault and load scenarios (docs/RELIABILITY.md)
test-slow: install
	$(BIN)/pytest -m slow -p no:randomly

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
