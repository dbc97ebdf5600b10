# The commands people type. `make test` is what CI runs (.ci/run).
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
SOURCES := src tests bench examples tools

.PHONY: test test-oldest lint typecheck pytest bench bench-otel demo demo-mcp docs clean

$(PYTHON):
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --upgrade "pip>=25.1"

# Reinstall when the project's metadata changes; `--group dev` needs pip >= 25.1.
$(STAMP): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e ".[fastapi,mcp,otel,redis]" --group dev
	touch $(STAMP)

test: lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff format --check $(SOURCES)
	$(VENV)/bin/ruff check $(SOURCES)

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	rm -f .coverage .coverage.*
	$(PYTHON) -m coverage run -m pytest
	$(PYTHON) -m coverage combine --quiet
	$(PYTHON) -m coverage report

# The suite with every runtime dependency pinned to the floor pyproject.toml declares, on each
# Python version it claims that this machine has (.venv-oldest/<version>); no coverage gate.
test-oldest: $(STAMP)
	tools/test_oldest.sh $(PYTHON)

BENCH_STAMP := $(VENV)/.bench-stamp

# The bench group (matplotlib, fastapi-azure-auth) only here, so `make test` stays lean.
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --group bench
	touch $(BENCH_STAMP)

# `make bench BENCH_ARGS=--quick` for a smoke run (a minute or two); `--help` lists the rest.
BENCH_ARGS ?=
bench: $(BENCH_STAMP)
	$(PYTHON) -m bench $(BENCH_ARGS)

# OpenTelemetry's overhead (absent, unconfigured, configured), and docs/operations.png drawn
# from a key rollover and an outage on a simulated clock.
bench-otel: $(BENCH_STAMP)
	$(PYTHON) -m bench.telemetry
	$(PYTHON) -m bench.timeline

DOCS_STAMP := $(VENV)/.docs-stamp

# The docs group (mkdocs) only here, so `make test` stays lean.
$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --group docs
	touch $(DOCS_STAMP)

# The site in site/: strict, so a broken link, a bad reference or a public name without a
# docstring (tools/docs_hooks.py) fails the build.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

# The example API against a local issuer on loopback: no tenant, no network.
demo: $(STAMP)
	$(PYTHON) -m examples.fastapi_api.demo

# The example MCP server against a local issuer, driven by the MCP SDK's own OAuth client.
demo-mcp: $(STAMP)
	$(PYTHON) -m examples.mcp_server.demo

clean:
	rm -rf $(VENV) .venv-oldest site .coverage .mypy_cache .ruff_cache .pytest_cache .hypothesis

.PHONY: fuzz soak

# Fuzz the intake for longer than `make test` does: FUZZ_EXAMPLES per test and event loop.
FUZZ_EXAMPLES ?= 5000
fuzz: $(STAMP)
	AAD_GUARD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PYTHON) -m pytest tests/security/test_fuzz.py \
		-q --hypothesis-show-statistics

# A million requests while keys rotate and the provider fails; memory in bench/results/.
soak: $(STAMP)
	$(PYTHON) -m bench.soak
