# Developer entry points. Everything runs from the local .venv.
VENV := .venv
BIN  := $(VENV)/bin
# Extra pytest arguments, e.g. `make test ARGS='-k audit -x'`.
ARGS ?=

.PHONY: venv run check test bench schema clean

venv: $(VENV)/.installed

$(BIN)/python:
	python3 -m venv $(VENV)

# The stamp makes `make venv` cheap: pip runs again only when a pyproject.toml changes. The SDK (sdk/)
# is a distribution of its own; its tests run with the server's.
$(VENV)/.installed: pyproject.toml sdk/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]' -e './sdk[mcp,langchain]'
	touch $@

# The embedded default: SQLite file + in-process memory:// broker.
run: venv
	export AIM_DATABASE_URL=$${AIM_DATABASE_URL:-sqlite://./aim.db}; \
	$(BIN)/aimctl migrate && $(BIN)/aimctl serve

# Lint, import order, formatting and types, before any test runs.
check: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The checks, then the suite twice: on a throwaway PostgreSQL + Redis, then on SQLite + memory://.
test: check
	scripts/test-services.sh -- $(ARGS)

bench: venv
	scripts/test-services.sh --bench -- $(ARGS)

schema: venv
	@$(BIN)/aimctl schema

# Keeps .venv and aim.db (your local data); `rm -rf .venv` for a full reset.
clean:
	rm -rf build dist *.egg-info .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
