# GPT Studio: `make run` sets up .venv and opens the app; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast check-wheel bench clean

setup: $(STAMP)

# torch is installed first when none is present, from TORCH_INDEX when it is set: e.g.
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu      (CPU only, small)
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cu128    (CUDA 12.8)
# Unset (the default), pip's own index decides (see README, "Platforms and torch builds").
TORCH_INDEX ?=
TORCH_SPEC ?= torch==2.13.0
TORCH_FROM := $(if $(strip $(TORCH_INDEX)),--index-url $(TORCH_INDEX),)

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet $(TORCH_FROM) "$(TORCH_SPEC)"
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
