# `make train` and `make test` each install what they need into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install train test benchmark lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

# extra Hydra overrides: make train ARGS="attention=on"
train: install
	$(BIN)/python train.py $(ARGS)

# the import contracts of pyproject.toml first (a second), then the suite, one process per core
test: install
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n auto --dist loadgroup

# training throughput, pipeline against model alone: make benchmark ARGS="trainer=gpu"
benchmark: install
	$(BIN)/python scripts/benchmark.py $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
