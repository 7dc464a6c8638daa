# driftstream: the two commands a new machine needs are `make demo` and `make test`.
# Both build the virtualenv, fetch the Kafka jars from Maven Central and install
# redis-server with apt when missing (see the stream/localstack/ package).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The C extensions (native/, built by setup.py: the parse and the sketch updates) are part
# of the install: edits to them re-install too.
NATIVE := setup.py $(wildcard native/*.c native/*.h)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(NATIVE) | sha1sum | cut -c1-12)

.PHONY: install test unit lint demo stack-up stack-down stack-status bench clean

$(STAMP): pyproject.toml $(NATIVE)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@$(BIN)/python -c 'import stream.contract._native, stream.core.sketch._native, stream.core.sketch._codec' 2>/dev/null \
	  || echo "make install: the C extensions (parse, sketch updates, sketch encoding) did not build (no C" \
	  "compiler?): the pure-Python parse and numpy sketch updates run instead, same results," \
	  "~2x slower per event; install gcc and run make install again" >&2
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

## The whole suite: lint, types, architecture contracts, unit, integration and e2e
## tests against a real Kafka + Redis that the session fixture starts.
test: install
	$(BIN)/python -m stream.localstack prepare
	$(BIN)/python -m pytest

unit: install
	$(BIN)/python -m pytest tests/unit stream/core

demo: install
	$(BIN)/driftstream demo

stack-up: install
	$(BIN)/driftstream stack up
stack-down: install
	$(BIN)/driftstream stack down
stack-status: install
	$(BIN)/driftstream stack status

bench: install
	$(BIN)/python benchmarks/bench_sketch.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
	find stream -name "_native*.so" -delete -o -name "_codec*.so" -delete
