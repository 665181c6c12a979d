# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install the app's dependencies, start the app (http://localhost:8501)
#   make test   also install test tools and (Debian, as root) Chromium, then run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8501
PYTEST_ARGS ?=

.PHONY: run test test-fast lint bench browser clean wheelhouse docker-base screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# Ray (requirements-ray.txt) is optional for running the app; the tests of its job backend need it.
$(VENV)/.dev-deps: requirements-dev.txt requirements-ray.txt $(VENV)/.deps
	$(BIN)/pip install --quiet -r requirements-dev.txt -r requirements-ray.txt
	touch $@

# Jobs, results and checkpoints survive a restart in ./state (git-ignored); ACTVIZ_STATE_DIR= keeps them in memory.
ACTVIZ_STATE_DIR ?= $(CURDIR)/state
run: $(VENV)/.deps
	@echo "actviz: open http://localhost:$(PORT) in a browser (students on the same network: http://<this machine's address>:$(PORT))."
	@echo "actviz: stop with Ctrl+C; another port: make run PORT=8600"
	ACTVIZ_STATE_DIR="$(ACTVIZ_STATE_DIR)" $(BIN)/python -m ui.launch --server.port $(PORT)

# The README's screenshots (docs/screens/), taken by the readability browser tests.
screenshots: $(VENV)/.dev-deps browser
	bash scripts/screenshots.sh

browser:
	@bash scripts/ensure-chromium.sh

test: $(VENV)/.dev-deps browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything except the real-browser tests (quicker while editing).
test-fast: $(VENV)/.dev-deps
	$(BIN)/python -m pytest -m "not browser" $(PYTEST_ARGS)

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .

bench: $(VENV)/.deps
	$(BIN)/python -m actviz bench

# Offline image builds (Dockerfile's WHEELHOUSE): every wheel of requirements.txt, torch's CPU build
# from PyTorch's index.  Where pip already finds the CPU wheel (CI here), `make wheelhouse TORCH_INDEX=`.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
wheelhouse: wheelhouse/.complete
wheelhouse/.complete: requirements.txt | $(BIN)/python
	$(BIN)/pip download --quiet --dest wheelhouse $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -r requirements.txt
	@ls wheelhouse/torch-*+cpu-*.whl >/dev/null 2>&1 || { echo "wheelhouse/ has no CPU torch wheel" >&2; exit 1; }
	touch $@

# A local Debian bookworm + Python 3.11 base image, for engines that cannot pull python:3.11-slim.
docker-base:
	@bash scripts/docker-base.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
