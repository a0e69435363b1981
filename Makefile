# GPT Studio: `make run` sets up .venv and opens the app; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast check-wheel bench clean

setup: $(STAMP)

# Install the CPU build of torch first when no torch is present, so that resolving the
# project's dependencies never pulls a multi-GB CUDA build onto a CPU machine.
$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: setup
	$(VENV)/bin/gptstudio

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

test-fast: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not slow"

# Build the wheel, install it apart from the checkout and check it is complete (no network).
check-wheel: setup
	$(PY) scripts/check_wheel.py

clean:
	rm -rf $(VENV) build *.egg-info
