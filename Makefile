# Every target creates .venv and installs the pinned dependencies (requirements.lock) first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

export RESYNC_DATABASE_URL ?= sqlite:///var/resync.db

.PHONY: install chromium run run-legacy run-new run-sim test lint db-upgrade db-seed bench bench-quick soak propagation browser clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --config-settings editable_mode=compat -e .
	@touch $(STAMP)

install: $(STAMP)

db-upgrade: $(STAMP)
	$(PY) -m migrations upgrade

db-seed: db-upgrade
	$(PY) -m migrations seed

run-sim: $(STAMP)
	$(PY) -m tws_sim --port 8100

# The legacy app alone under gunicorn on :8001, with the simulator on :8100.
run-legacy: db-seed
	$(PY) -m tws_sim --port 8100 & sim=$$!; trap "kill $$sim" EXIT INT TERM; \
	$(VENV)/bin/gunicorn -c legacy_flask/gunicorn.conf.py --bind 127.0.0.1:8001 --workers 2 \
	  --threads 4 "legacy_flask:create_app()"

# The FastAPI app alone under uvicorn on :8002, with the simulator on :8100 (uvloop and httptools;
# no access log: the app writes its own line per request). X-Forwarded-For is
# believed only from RESYNC_FORWARDED_ALLOW_IPS (empty: from nobody, uvicorn's proxy headers off).
run-new: db-seed
	$(PY) -m tws_sim --port 8100 & sim=$$!; trap "kill $$sim" EXIT INT TERM; \
	$(VENV)/bin/uvicorn --factory resync_fastapi.main:create_app --host 127.0.0.1 --port 8002 --no-access-log \
	  $${RESYNC_FORWARDED_ALLOW_IPS:+--forwarded-allow-ips "$$RESYNC_FORWARDED_ALLOW_IPS"} \
	  $${RESYNC_FORWARDED_ALLOW_IPS:---no-proxy-headers}

# The main job: the simulator and the strangler proxy (both apps) on :8000.
run: db-seed
	$(PY) -m tws_sim --port 8100 & sim=$$!; trap "kill $$sim" EXIT INT TERM; \
	$(VENV)/bin/resync-strangler serve --host 127.0.0.1 --port 8000

# Debian's Chromium for the dashboard's browser tests (never a tool's own browser download).
# Installs with apt-get when run as root; otherwise says how, and the browser tests skip
# (outside CI) or fail (CI=true).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "chromium is missing: sudo apt-get install -y chromium (browser tests need it)"; fi; }

test: lint chromium
	$(PY) -m pytest

# The dashboard's browser tests alone (headless Debian Chromium driven by Playwright).
browser: $(STAMP) chromium
	$(PY) -m pytest tests/proxy/admin/dashboard -m browser

# Lint, types and the layering of proxy/ (import-linter's contracts in pyproject.toml) are part
# of the build: make test runs this first.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy legacy_flask resync_fastapi resync_scenarios proxy tws_sim migrations loadtest
	$(VENV)/bin/lint-imports

# The Locust benchmark (server on core 0, Locust and the simulator on core 1): every serving mode,
# scenario and database, the latency sweep and the burst, about 30 minutes; BENCH_ARGS passes
# options, e.g. make bench BENCH_ARGS="--databases sqlite --sweep 20,100 --burst uvicorn".
bench: $(STAMP)
	$(PY) -m loadtest.bench $(BENCH_ARGS)

# A few minutes of the same: SQLite, the bare servers, short runs, one sweep point, one burst.
bench-quick: $(STAMP)
	$(PY) -m loadtest.bench --databases sqlite --systems gunicorn,uvicorn --scenarios agents,jobs \
	  --duration 10 --sweep 100 --sweep-duration 10 --burst uvicorn --label quick $(BENCH_ARGS)

# Ten minutes through one proxy worker at 70 % of its measured capacity, one route on legacy, one
# on new, one in shadow: failed requests and resident memory growth after warm-up (issue 13).
# SOAK_ARGS passes options, e.g. SOAK_ARGS="--duration-seconds 1200"; the older memory soak
# (legacy and new phases in turn until 100,000 requests): make soak SOAK_SHAPE=phases.
SOAK_SHAPE ?= mixed
soak: $(STAMP)
	$(PY) -m loadtest.soak --shape $(SOAK_SHAPE) $(SOAK_ARGS)

# Flip propagation across hosts under load (issue 13): 100 flips per store, 2 namespaced hosts x 2
# workers on PostgreSQL and Redis, one host x 2 workers on SQLite, a few minutes; needs root and
# ip netns. PROPAGATION_ARGS passes options, e.g. make propagation PROPAGATION_ARGS="--stores redis".
propagation: $(STAMP)
	$(PY) -m loadtest.propagation $(PROPAGATION_ARGS)

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache
