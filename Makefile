# The project's verbs. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test fuzz chaos serve worker scheduler lint bench profile services migrate clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e . --group dev
	@touch $(STAMP)

install: $(STAMP)

services:
	@./scripts/services.sh

demo: $(STAMP)
	$(BIN)/python -m scripts.demo

test: $(STAMP) services
	$(BIN)/pytest $(PYTEST_ARGS)

# The schemathesis pass of `make test`, with many more examples per operation.
FUZZ_EXAMPLES ?= 500
fuzz: $(STAMP) services
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/fuzz $(PYTEST_ARGS)

# The fault scenarios of `make test` (tests marked chaos), long: 1,000 orders under 100
# SIGKILLs, longer outages, more orders and crashes in the others.
CHAOS_ORDERS ?= 1000
CHAOS_KILLS ?= 100
chaos: $(STAMP) services
	CHAOS_LONG=1 CHAOS_ORDERS=$(CHAOS_ORDERS) CHAOS_KILLS=$(CHAOS_KILLS) $(BIN)/pytest tests/e2e -m chaos -s $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

migrate: $(STAMP)
	$(BIN)/inkwell db upgrade

serve: $(STAMP)
	$(BIN)/uvicorn api.asgi:app --host 0.0.0.0 --port $${PORT:-8000} --no-access-log

# The Procfile's worker and scheduler types, every queue in one worker group (set
# DATABASE_URL and REDIS_URL first; `make serve` runs the API beside them).
worker: $(STAMP)
	dramatiq_worker_timeout=$${WORKER_POLL_MS:-100} $(BIN)/dramatiq workers.broker workers.actors --processes $${WORKER_PROCESSES:-2} --threads $${WORKER_THREADS:-8}

scheduler: $(STAMP)
	$(BIN)/inkwell scheduler

# Every benchmark beside its same-run baseline (~15 min); `make bench BENCH="webhooks scale"`
# runs some and keeps the others' last figures. Writes bench/results/latest.{json,md,png}.
BENCH ?=
bench: $(STAMP) services
	$(BIN)/python -m bench.run $(BENCH)

# The pipeline benchmark with py-spy on one worker process: bench/results/profile-pipeline.txt.
profile: $(STAMP) services
	$(BIN)/python -m bench.run --profile

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
