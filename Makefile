# cpwatch: `make demo` runs the diagnosis gallery, `make test` runs the suite.
PYENV_ROOT := $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
# Lambda runs python3.13; develop and test on the same minor version when it is installed.
PYTHON ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python3.13) $(shell command -v python3.13) python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
SCENARIO ?=

.PHONY: venv demo test check-clean clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt functions/cpwatch/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements-dev.txt
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $@

demo: venv
	$(BIN)/python -m tests.demo $(SCENARIO)

test: venv
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build .pytest_cache
