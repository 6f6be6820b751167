# The two commands a newcomer needs: `make demo` and `make test`. Both set everything up first.
PY := .venv/bin/python
SHARED ?= ../shared
export REPERFORM_SHARED_MEDIA ?= $(abspath $(SHARED))/media

.PHONY: setup demo test test-fast lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m reperform.cli demo

lint: setup
	$(PY) -m ruff check src tests benchmarks scripts
	.venv/bin/lint-imports

test: lint
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not e2e and not browser and not redis"

bench: setup
	$(PY) benchmarks/run.py --contact-sheets

clean:
	rm -rf .venv .pytest_cache build *.egg-info
