# The two commands: `make run` (collect) and `make test` (the whole suite). Both set up .venv.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
ARGS    ?=

.PHONY: run test lint demo bench chaos clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/nsechain collect $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

# Simulator + collector over the whole universe for a short accelerated session, then a summary.
demo: $(STAMP)
	$(BIN)/nsechain demo $(ARGS)

# Figures side by side; nothing asserted. The peer parsers are a bench-only extra.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/bench_parse.py
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_sim.py
	$(BIN)/python bench/bench_collect.py
	$(BIN)/python bench/bench_analytics.py
	$(BIN)/python bench/bench_desk.py

# The long durability runs: 50+ SIGKILLs, the fault soak, and the slow-marked tests.
chaos: $(STAMP)
	$(BIN)/python -m nsechain.chaos crashloop --kills 50
	$(BIN)/pytest -m slow -s $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
