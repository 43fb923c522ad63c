# The two commands: `make dashboard` serves the live monitor on the simulator; `make test` runs every test.
# Both create .venv when it is missing and install mdx into it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8866
ARGS   ?=

.PHONY: dashboard test lint bench fuzz screenshot clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "mdx needs Python >= 3.11, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

dashboard: $(VENV)/.installed
	$(BIN)/mdx monitor --port $(PORT) $(ARGS)

test: $(VENV)/.installed-test
	$(BIN)/ruff check mdx tests bench
	$(BIN)/python -m pytest $(ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check mdx tests bench
	$(BIN)/ruff format --check mdx tests bench

bench: $(VENV)/.installed-test
	for script in bench/bench_replay.py bench/bench_bars.py bench/bench_indicators.py bench/bench_signals.py \
	  bench/bench_simulator.py bench/bench_store.py bench/bench_export.py bench/bench_cache.py \
	  bench/bench_venues.py bench/bench_live.py bench/bench_fanout.py; do \
	  echo "== $$script"; $(BIN)/python $$script || exit 1; done
	echo "== bench/bench_ui.py"; $(BIN)/python bench/bench_ui.py refresh --kernel
	$(BIN)/python bench/bench_ui.py browser

fuzz: $(VENV)/.installed-test  # the fuzz suite, long: thousands of examples per property
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -m fuzz -q -p no:cacheprovider --timeout=3600 $(ARGS)

screenshot: $(VENV)/.installed-test
	MDX_SCREENSHOT=docs/monitor.png $(BIN)/python -m pytest tests/test_browser.py -q

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
