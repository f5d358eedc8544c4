# Two commands are all a newcomer needs (see README):
#   make run    set up, then run the main job: intact, Parkinsonian and medicated circuits
#               in Frank's probabilistic selection task, compared on paired seeds, with
#               the spike rasters exported to NWB (runs/main)
#   make test   set up, then build the docs (strict), lint and run the fast test suite
PYTHON := $(shell scripts/find-python)
VENV   := .venv
BIN    := $(VENV)/bin
JOBS   ?= 2

.PHONY: setup run distal test test-long test-targets bench bench-docs figures docs lint clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "no Python >= 3.12 found (see scripts/find-python)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/dopasim compare probabilistic-selection --scenario intact \
	    --scenario parkinson:loss=0.75 --scenario parkinson:loss=0.75+medicated \
	    --seeds 2 --jobs $(JOBS) --out runs/main --overwrite --export nwb $(ARGS)

# Izhikevich 2007's distal-reward experiment (1 h simulated; also in make bench)
distal: setup
	$(BIN)/dopasim run distal-reward $(ARGS)

test: setup docs
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n auto --dist loadfile $(ARGS)

test-long: setup
	$(BIN)/python -m pytest -q -m long -n $(JOBS) --dist loadfile -rA $(ARGS)

test-targets: setup
	$(BIN)/python -m pytest -q -m targets $(ARGS)

$(VENV)/.bench: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	@touch $@

# the distal-reward network (1k and 10k) beside plain Brian2 and NEST (one thread,
# deliver_interval 1000), then the reward circuit cold and cached against dopasim 0.5.0
# (BENCH_REF: commit 2e9a989, checked out to /tmp/dopasim-2e9a989; empty: none); one core
# each, one after the other. ARGS go to the first, RC_ARGS to the second; every row goes
# to BENCH_JSON, which make bench-docs turns into docs/benchmarks.md (see that page)
BENCH_JSON ?= runs/bench/$(shell date +%F).jsonl
BENCH_REF  ?= git:2e9a989
bench: $(VENV)/.bench
	$(BIN)/python benchmarks/bench_distal_reward.py --scaled --json $(BENCH_JSON) $(ARGS)
	$(BIN)/python benchmarks/bench_reward_circuit.py --cold --json $(BENCH_JSON) \
	    $(if $(BENCH_REF),--against $(BENCH_REF)) $(RC_ARGS)

bench-docs: setup
	$(BIN)/python scripts/bench_to_docs.py $(BENCH_JSON)

figures: setup
	$(BIN)/python scripts/make_figures.py

# the reference manual (docs/, mkdocs.yml); --strict fails on a broken link. SITE=DIR keeps it
docs: setup
	$(BIN)/python -m mkdocs build --strict -q -d $(or $(SITE),/tmp/dopasim-site)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
