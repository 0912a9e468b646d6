# The two commands: `make run` (collect) and `make test` (the whole suite). Both set up .venv.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
ARGS    ?=

.PHONY: run test test-dates test-scale lint demo bench chaos clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/nsechain collect $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/pytest $(ARGS)

# The suite under libfaketime (Debian package faketime) at moments that used to break it, IST:
# the whole suite at the most hostile one (a leap day, after the bundled holiday lists end,
# in market hours), the date-sensitive modules at the six others (CI time: ~5 + 6 x ~1.5 min).
# Monotonic time stays real (FAKETIME_DONT_FAKE_MONOTONIC=1): timeouts and budgets still work;
# tests/faketime/sitecustomize.py works around libfaketime breaking time.sleep on Python 3.11+.
# The browser tests (marker `browser`) are left out: Chromium and Playwright's driver inherit
# LD_PRELOAD and stall under libfaketime (their pages read a simulator pinned to 2026-11-25
# anyway; `make test` runs them). So is the soak slice (marker `throughput`): under libfaketime
# every child's time calls cost more, its simulated answers time out more (74-119 timeouts for
# 5 slow faults) and it misses its 99 % recovery target whatever the date; `make test` runs it.
# CI runs `make test` first: the whole suite at the real date.
DATES_FULL   := 2028-02-29T11:00
DATES_MODULE := 2026-12-03T11:00 2026-12-03T03:00 2026-12-06T12:00 2026-12-25T11:00 \
                2026-12-31T15:00 2027-03-10T11:00
DATE_TESTS   := tests/test_calendar.py tests/test_universe.py tests/test_targets.py \
                tests/test_plan.py tests/test_faults.py tests/test_e2e.py tests/test_manager.py \
                tests/test_web.py tests/test_query_totals.py tests/test_sim_compat.py \
                tests/test_disk.py tests/test_sim_clock.py tests/test_clock.py tests/test_crash.py
FAKE = PYTHONPATH=$(CURDIR)/tests/faketime FAKETIME_DONT_FAKE_MONOTONIC=1 faketime "$$(echo $$at | tr T ' '):00 +0530"

test-dates: $(STAMP)
	@command -v faketime >/dev/null || { echo "test-dates needs libfaketime: apt-get install faketime" >&2; exit 2; }
	@set -e; for at in $(DATES_FULL); do echo "== $$at IST: whole suite"; \
	  $(FAKE) $(BIN)/pytest -q -p no:cacheprovider -m 'not live and not slow and not browser and not scale and not throughput' $(ARGS); done
	@set -e; for at in $(DATES_MODULE); do echo "== $$at IST: date-sensitive modules"; \
	  $(FAKE) $(BIN)/pytest -q -p no:cacheprovider $(DATE_TESTS) $(ARGS); done

# Ray Data reads the lake (examples/ray_pcr.py) on a 2-node local Ray cluster inside a
# loopback-only network namespace the test creates (root, iproute2), against the desk's PCR.
# The scale extra (ray[data]) is installed here only: never a core dependency, never in `make test`.
test-scale: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,lake,lake-test,scale]'
	$(BIN)/pytest -m scale -p no:cacheprovider $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --fix src tests bench examples
	$(BIN)/ruff format src tests bench examples

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
	$(BIN)/python bench/bench_flat.py
	$(BIN)/python bench/bench_shortfall.py

# The long durability runs: 50+ SIGKILLs, the fault soak, and the slow-marked tests.
chaos: $(STAMP)
	$(BIN)/python -m nsechain.chaos crashloop --kills 50
	$(BIN)/python -m nsechain.chaos crashloop --kills 20 --readers 20 --seed 2
	$(BIN)/pytest -m slow -s $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
