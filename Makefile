# Two entry points (see README): `make run` (the main job) and `make test` (the suite).
# Both create or reuse the virtual environment in $(VENV) and install the project into it.
# `make docs` builds the documentation site into site/ (strict: any warning fails).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# The suites run on every core (pytest-xdist, from the dev extra): whole files per worker, so a
# module's fixtures are built once; `make test PYTEST_WORKERS=0` runs in this process alone.
# The 30 slowest tests are printed at the end of each run.
PYTEST_WORKERS ?= auto
PYTEST_SUITE := -n $(PYTEST_WORKERS) --dist loadfile --durations=30

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

.PHONY: install run test test-jax import-check backend-matrix slow lint docs serve-docs wheel-test
install: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) -m recipes.finetune --overwrite

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_SUITE) $(PYTEST_ARGS)

# The portable tests again on the JAX backend (CPU JAX from the dev extra). pytest exits 5 when
# no test is selected, which make turns into a failure: "no tests ran" fails CI.
test-jax: $(VENV)/.installed
	KERAS_BACKEND=jax $(PY) -m pytest -m portable $(PYTEST_SUITE) $(PYTEST_ARGS)

# `import kerasopt` on JAX in a small environment WITHOUT TensorFlow: keras, jax and numpy,
# kerasopt installed with --no-deps. It proves the import graph on a machine like the GPU ones.
JAX_VENV ?= .venv-jax-only
import-check:
	python3 -m venv $(JAX_VENV)
	$(JAX_VENV)/bin/python -m pip install --quiet "keras>=3.3" "jax[cpu]" numpy
	$(JAX_VENV)/bin/python -m pip install --quiet --no-deps -e .
	cd /tmp && KERAS_BACKEND=jax $(abspath $(JAX_VENV))/bin/python -c "import sys, kerasopt; \
	from kerasopt import callbacks, curriculum, diagnostics, distill, distributed, ensembles, export, initializers, layers, optimizers, pretraining, schedules, second_order, transfer; \
	assert 'tensorflow' not in sys.modules; print('import kerasopt on jax without TensorFlow: ok')"

# Regenerate docs/guides/backends.md from test outcomes: the `reference`-marked tests run on
# TensorFlow, then the portable ones on JAX, each writing JUnit XML that the generator reads.
backend-matrix: $(VENV)/.installed
	$(PY) -m tests.backends.matrix --run --write docs/guides/backends.md

# The package as a user gets it (tests/test_wheel.py): `python -m build`, the wheel installed into
# a fresh virtual environment (not editable), the `kerasopt` command run outside the checkout.
wheel-test: $(VENV)/.installed
	$(PY) -m pytest -m slow -s tests/test_wheel.py $(PYTEST_ARGS)

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

