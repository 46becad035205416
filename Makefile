# Two entry points (see README): `make run` (the main job) and `make test` (the suite).
# Both create or reuse the virtual environment in $(VENV) and install the project into it.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

.PHONY: install run test slow lint
install: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) -m recipes.finetune

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

slow: $(VENV)/.installed
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check kerasopt recipes tests benchmarks
