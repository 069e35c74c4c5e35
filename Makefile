# wslab: two set-up commands.  `make lab` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8888
# Tests run in parallel worker processes (pytest-xdist): most fast tests wait on sockets,
# timers and child processes, not the CPU, so more workers than cores pays (measured on 2
# cores: the fast tests 380 s serially, 167 s with 4 workers, 123 s with 6, the CPU then
# busy).  The slow ones (notebooks, JupyterLab, Chromium) keep 2 cores busy with 3 workers.
# JOBS=0 runs them in this process.
JOBS      ?= 6
SLOW_JOBS ?= 3
# JupyterLab refuses to run as root unless told; containers often are root.
ROOTFLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
# The npm packages some tests use (the Node ws peer, JupyterHub's proxy), installed without
# root into this git-ignored folder; tests/sysdeps.py lists them.
NODE_CACHE := .cache/node
# A Python of version $(1) that really runs (a pyenv shim without that version is skipped).
find_python = $(firstword $(foreach p,python$(1) $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python$(1)),$(shell $(p) -c 'import sys; print(sys.executable)' 2>/dev/null)))
# The oldest supported Python (pyproject's requires-python; Tornado 6.6 needs 3.11) and the
# newest one these machines have.
PYOLDEST ?= $(call find_python,3.11)
PYNEWEST ?= $(call find_python,3.13)

.PHONY: lab test check fast-tests lint typecheck bench serve clean node-peers system-check \
        test-versions test-newest test-floor test-venvs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when pyproject.toml or setup.py changes.
$(VENV)/.installed-run: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

lab: $(VENV)/.installed-run
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --port=$(PORT) $(ROOTFLAG)

# Everything: the check loop, then every test (slow ones included: notebooks, browser, hub,
# soak, bench, packaging).  What cannot be installed without root is reported first, with the
# apt line that brings it; under CI=true a missing program fails the run there.
test: system-check check
	$(BIN)/python -m pytest -m slow -n $(SLOW_JOBS) --durations=15 $(PYTEST_ARGS)

# The npm packages, when npm exists (no root needed); a failure is reported by system-check.
node-peers:
	@missing="$$($(PYTHON) tests/sysdeps.py --npm)"; \
	if [ -n "$$missing" ] && command -v npm >/dev/null; then \
	  echo "make: npm install $$missing into $(NODE_CACHE)"; \
	  mkdir -p $(NODE_CACHE); \
	  npm install --prefix $(NODE_CACHE) --no-audit --no-fund --loglevel=error $$missing \
	    || echo "make: npm install failed" >&2; \
	fi

system-check: node-peers
	@$(PYTHON) tests/sysdeps.py

# The developer's loop (a few minutes): lint, types, and the tests not marked `slow`.
check: lint typecheck fast-tests

# The tests not marked `slow`, with $(VENV)'s Python (the version runs set VENV).
fast-tests: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not slow" -n $(JOBS) $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

# wslab/protocol is checked strictly; wslab/net with mypy's defaults.
typecheck: $(VENV)/.installed-test
	$(BIN)/mypy --strict wslab/protocol
	$(BIN)/mypy wslab/net

# Every supported version, besides `make test` on the default Python: the fast tests on the
# newest Python, and on the oldest Python with the lowest supported dependencies (every
# run-time `>=` floor of pyproject.toml, Tornado's among them), each in its own git-ignored
# venv (made once, remade when pyproject.toml changes).
test-versions: test-newest test-floor

# The two version venvs alone (.ci/run builds them while `make test` runs).
test-venvs: .venv-py313/.installed .venv-floor/.installed

# $(1) venv, $(2) its Python, $(3) what it is, $(4) extra pip arguments
define versioned_venv
	@test -n "$(2)" || { echo "make: $(1) needs $(3), which is not installed" >&2; exit 1; }
	rm -rf $(1)
	$(2) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet -e '.[test]' $(4)
	$(1)/bin/python -m pip check
	touch $(1)/.installed $(1)/.installed-test
endef

.venv-py313/.installed: pyproject.toml setup.py
	$(call versioned_venv,.venv-py313,$(PYNEWEST),Python 3.13)

.venv-floor/.installed: pyproject.toml setup.py tests/floors.py
	@mkdir -p .cache
	$(PYTHON) tests/floors.py > .cache/floors.txt
	$(call versioned_venv,.venv-floor,$(PYOLDEST),Python 3.11,-c .cache/floors.txt)
	.venv-floor/bin/python tests/floors.py --check

test-newest: .venv-py313/.installed
	@$(MAKE) --no-print-directory fast-tests VENV=.venv-py313

test-floor: .venv-floor/.installed
	@$(MAKE) --no-print-directory fast-tests VENV=.venv-floor

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run_all.py

serve: $(VENV)/.installed-run
	$(BIN)/python -m wslab serve --port 8080

clean:
	rm -rf $(VENV) .venv-py313 .venv-floor build *.egg-info .pytest_cache
