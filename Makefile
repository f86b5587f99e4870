# vde — two commands on a fresh machine:
#   make demo   installs everything and runs the demo on the embedded SQLite default
#   make test   installs everything (Python, npm, Chromium, Cassandra) and runs every test
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-deps cassandra test test-cluster check lint format demo bench clean

setup: $(STAMP) src/vde/web/static/vendor/.installed

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Front-end libraries come from npm (package-lock.json) and are served locally, never from a CDN.
src/vde/web/static/vendor/.installed: package.json package-lock.json scripts/vendor_assets.sh
	npm ci --no-audit --no-fund --loglevel=error
	bash scripts/vendor_assets.sh
	touch $@

# Debian packages the tests need (Chromium for the browser tests); a no-op when present.
system-deps:
	bash scripts/system_deps.sh

# Downloads (once, cached in ~/.m2) and unpacks the pinned Apache Cassandra node for the tests.
cassandra: setup
	$(BIN)/python scripts/cassandra_node.py install

lint: setup
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

format: setup
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

# Tests run on every core (pytest-xdist, one test file per worker at a time; the workers
# share one Cassandra node, each in its own keyspace). PYTEST_JOBS=0 runs them in one process.
# Files go out heaviest first, in the order tests/conftest.py gives them (--no-loadscope-reorder).
PYTEST_JOBS ?= auto
test: setup system-deps cassandra lint
	$(BIN)/python -m pytest -n $(PYTEST_JOBS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# A 3-node Cassandra cluster on 127.0.0.1-3 (512M heaps): the storage contract suite and a
# sharded sync with one node killed, at replication factor 3 and LOCAL_QUORUM; prints each
# node's start-up time and memory. tests/cluster is never collected by `make test`.
test-cluster: setup cassandra
	$(BIN)/python tests/cluster/run.py $(PYTEST_ARGS)

demo: setup
	$(BIN)/vde demo

bench: setup cassandra
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) node_modules src/vde/web/static/vendor .pytest_cache build *.egg-info
