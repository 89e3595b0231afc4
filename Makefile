# Two commands on a fresh machine: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test fuzz typecheck bench compare load scale clean redis-server docs docs-serve package-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/s2s-guard demo

test: $(STAMP) redis-server
	$(BIN)/python -m pytest

# The Redis tests start their own redis-server processes on loopback ports (one server, a cluster
# made with redis-cli from redis-tools, a sentinel: redis-server --sentinel); install them when
# missing (apt-get, sudo only when not root). Without apt the Redis tests are skipped, not failed.
redis-server:
	@{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || { \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO="sudo -n"; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	      --no-install-recommends redis-server redis-tools >/dev/null; } \
	  || echo "redis-server could not be installed: the Redis tests will be skipped"; }

# In-process ASGI benchmark against the baselines (Authlib is installed here only).
bench: $(STAMP)
	$(BIN)/python -m pip install -q authlib
	$(BIN)/python benchmarks/bench.py

# This checkout against an earlier commit, side by side in one run (BASE=<commit>, default HEAD).
BASE ?= HEAD
compare: $(STAMP)
	$(BIN)/python benchmarks/compare.py --base $(BASE) --uvicorn 10000

# Load and fault scenarios on loopback (a few minutes; report in benchmarks/RESULTS.md). wrk drives
# the throughput runs when apt can install it, httpx clients otherwise; without redis-server the Redis
# scenario is skipped, not failed.
load: $(STAMP) redis-server
	@command -v wrk >/dev/null 2>&1 || { \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO="sudo -n"; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	      --no-install-recommends wrk >/dev/null; } \
	  || echo "wrk could not be installed: load from httpx clients"; }
	$(BIN)/python benchmarks/load.py $(LOAD_ARGS)

# Identity-provider calls and connections as uvicorn workers scale out (N = 1, 2, 4, 8), memory vs one
# shared redis-server, JWT and introspected tokens, cold burst (a few minutes; SCALE_ARGS="--workers 1 2";
# --hosts 2: two uvicorn groups as two hosts, --cluster: also a three-master Redis Cluster, --steady 3).
scale: $(STAMP) redis-server
	$(BIN)/python benchmarks/scale.py $(SCALE_ARGS)

# Property tests with the long hypothesis profile (thousands of examples each, a few minutes).
fuzz: $(STAMP)
	S2S_FUZZ=1 $(BIN)/python -m pytest tests/fuzz -q

typecheck: $(STAMP)
	$(BIN)/mypy

# The documentation site in site/ (MkDocs Material; the API reference comes from the docstrings).
# --strict: a broken link, a missing page or an unresolvable API reference fails the build.
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install -q -e '.[docs]'
	touch $(DOCS_STAMP)

# The configuration reference is generated from the schema first (tests/test_config_reference.py
# fails when the committed page is stale or a key has no description).
docs: $(DOCS_STAMP)
	$(BIN)/python -m s2s_guard.config.reference docs/configuration.md
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# Build the sdist and, from it, the wheel (as pip would); install the wheel into a clean venv and
# run it from outside the checkout, so a module or file missing from the package fails here.
PKG := build/package-check
PKG_STAMP := $(VENV)/.installed-package
$(PKG_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install -q -e '.[package]'
	touch $(PKG_STAMP)

package-check: $(PKG_STAMP)
	rm -rf $(PKG) && mkdir -p $(PKG)
	$(BIN)/python -m build --outdir $(PKG)/dist . > $(PKG)/build.log 2>&1 || { cat $(PKG)/build.log; exit 1; }
	@! grep -i -B1 -A3 'deprecat' $(PKG)/build.log || { echo "package-check: the build warns of a deprecation (above)"; exit 1; }
	$(BIN)/python .ci/check_dist.py $(PKG)/dist
	$(PYTHON) -m venv $(PKG)/venv
	$(PKG)/venv/bin/python -m pip install -q $(PKG)/dist/*.whl
	cd $(PKG) && venv/bin/python -c 'import s2s_guard, s2s_guard.client, s2s_guard.testing; print("import s2s_guard", s2s_guard.__version__)'
	cd $(PKG) && venv/bin/s2s-guard --help > /dev/null && echo "s2s-guard --help: ok"

clean:
	rm -rf $(VENV) build dist site *.egg-info
