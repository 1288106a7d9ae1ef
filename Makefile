# Two commands for a fresh machine (see README): `make lab` and `make test`.
# Everything the lab needs is installed here, into .venv, from the pinned requirements.txt.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: setup lab demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

lab: setup
	$(PY) -m lab_servers demo

demo: setup
	$(PY) -m lab_servers demo

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/handshake.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
