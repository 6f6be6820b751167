# The two commands a newcomer needs: `make demo` and `make test`. Both set everything up first.
PY := .venv/bin/python
SHARED ?= ../shared
export REPERFORM_SHARED_MEDIA ?= $(abspath $(SHARED))/media

.PHONY: setup demo test test-fast lint bench bench-long lock mouth-model clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m reperform.cli demo

lint: setup
	$(PY) -m ruff check src tests benchmarks scripts
	.venv/bin/lint-imports

test: lint
	$(PY) -m pytest -n auto --dist loadscope --no-loadscope-reorder

test-fast: setup
	$(PY) -m pytest -m "not e2e and not browser and not redis"

bench: setup
	$(PY) benchmarks/run.py --contact-sheets

# One 10-minute 1080p job across 1 and 2 workers, locally and on Celery (about an hour on 2 cores;
# not part of `make bench`): writes benchmarks/sections/long_video.md, which `make bench` includes.
bench-long: setup
	$(PY) -m benchmarks.long_video --minutes 10

# Rebuild the learned mouth trajectory (src/reperform/motion/data/) from ../shared/media, after
# changing its features, the speech stage or the tracker; prints held-out (leave-one-clip-out) scores.
mouth-model: setup
	$(PY) -m benchmarks.mouth_model --write

# Re-resolve every package (runtime + dev, all platforms, hash-pinned) from pyproject.toml's ranges.
# Run it after changing a dependency in pyproject.toml, or to take newer releases on purpose;
# commit requirements.lock with the change and let `make test` prove the new set.
lock:
	@test -x .venv/bin/uv || { python3 -m venv .venv && .venv/bin/pip install -q uv; }
	.venv/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	    --generate-hashes --quiet -o requirements.lock

clean:
	rm -rf .venv .pytest_cache build *.egg-info
