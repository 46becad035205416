# Two entry points (see README): `make run` (the main job) and `make test` (the suite).
# Both create or reuse the virtual environment in $(VENV) and install the project into it.
# `make docs` builds the documentation site into site/ (strict: any warning fails).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

.PHONY: install run test slow lint docs serve-docs
install: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) -m recipes.finetune --overwrite

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

slow: $(VENV)/.installed
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

# One line length (pyproject's [tool.ruff]) for the linter and the formatter.
lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# mkdocs-material prints a banner about its successor; TensorFlow's C++ logs go to stderr.
DOCS_ENV := NO_MKDOCS_2_WARNING=1 TF_CPP_MIN_LOG_LEVEL=3

docs: $(VENV)/.installed
	$(DOCS_ENV) $(PY) -m mkdocs build --strict

serve-docs: $(VENV)/.installed
	$(DOCS_ENV) $(PY) -m mkdocs serve --dev-addr 127.0.0.1:8000

