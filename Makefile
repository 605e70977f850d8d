# careweave: `make demo` runs the product on SQLite; `make test` runs every check on SQLite and PostgreSQL.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_PEOPLE ?= 5000
DEMO_SEED ?= 2026
DEMO_PLACE := .demo/place
export CAREWEAVE_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test lint typecheck pytest bench install serve clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

# The NHS.UK design system's compiled CSS, JS and icons, from the npm registry (served by careweave).
FRONTEND := frontend/node_modules/.package-lock.json
$(FRONTEND): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

install: $(VENV)/.installed $(FRONTEND)

demo: install
	$(BIN)/careweave db upgrade
	$(BIN)/careweave generate --people $(DEMO_PEOPLE) --seed $(DEMO_SEED) --as-of $$(date +%F) --out $(DEMO_PLACE) --overwrite
	$(BIN)/careweave import $(DEMO_PLACE)
	$(BIN)/careweave load-examples
	$(BIN)/careweave sharing load "Demo place shared care record" --example
	$(BIN)/careweave users demo
	$(BIN)/careweave population refresh --full
	$(BIN)/careweave population report --place "the demo place" --out $(DEMO_PLACE)/population-report.html
	$(BIN)/careweave serve --host $(HOST) --port $(PORT)

serve: install
	$(BIN)/careweave serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -n 2 --dist loadgroup

test: lint typecheck pytest

bench: install
	$(BIN)/python -m bench.fhir_store

clean:
	rm -rf $(VENV) $(TOOLS) .demo .pytest_cache .mypy_cache .ruff_cache frontend/node_modules
