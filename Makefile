# ReaderBench — the two commands of the README are `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo serve test test-sqlite lint check bench clean

install: $(VENV)/.installed

# The CPU build of torch is installed first and pinned (requirements-cpu.txt), so that
# resolving monai never pulls a multi-GB CUDA build. A GPU host: see README, "GPU workers".
$(VENV)/.installed: pyproject.toml requirements-cpu.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-cpu.txt
	$(BIN)/pip install --quiet -c requirements-cpu.txt -e ".[dev]"
	touch $@

demo: install
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py setup_demo
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

serve: install
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py check
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

# The database tests once more on the embedded default (SQLite), whatever DATABASE_URL says.
# A file, not memory, so that tests with several threads or a worker process share it.
test-sqlite: install
	env -u DATABASE_URL READERBENCH_SQLITE_TEST_NAME=$(CURDIR)/var/test-sqlite.sqlite3 \
		$(BIN)/pytest tests/studies tests/readers tests/reports tests/api tests/demo tests/test_home.py \
		tests/test_permissions.py tests/test_settings.py tests/security tests/network $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/bench_import.py --files 500
	$(BIN)/python benchmarks/bench_analysis.py
	$(BIN)/python benchmarks/bench_report.py
	$(BIN)/python benchmarks/bench_reading.py

clean:
	rm -rf var .pytest_cache .ruff_cache
