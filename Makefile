# wslab: two set-up commands.  `make lab` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8888
# JupyterLab refuses to run as root unless told; containers often are root.
ROOTFLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test check lint typecheck bench serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

lab: $(VENV)/.installed-run
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --port=$(PORT) $(ROOTFLAG)

# Everything: the check loop, then every test (slow ones included: notebooks, browser, hub,
# soak, bench).  Under CI=true a test that needs a missing browser, peer or service fails.
test: check
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

# The developer's loop (a few minutes): lint, types, and the tests not marked `slow`.
check: lint typecheck
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

# wslab/protocol is checked strictly; wslab/net with mypy's defaults.
typecheck: $(VENV)/.installed-test
	$(BIN)/mypy --strict wslab/protocol
	$(BIN)/mypy wslab/net

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run_all.py

serve: $(VENV)/.installed-run
	$(BIN)/python -m wslab serve --port 8080

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
