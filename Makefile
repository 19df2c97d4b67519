# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Python 3.11 is required (the PyTorch wheel the autograder's examples use is built for it).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-fast lint check-deploy bench faults clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## Migrate, load the CENG 501 demo course, serve the site with a real Celery worker and beat.
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) scripts/devserver.py --host $(HOST) --port $(PORT)

## The whole test suite (embedded defaults; CI exports DATABASE_URL, CELERY_BROKER_URL, REQUIRE_SERVICES=1).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

## Everything but the browser and real-worker tests, for a quick loop.
test-fast: install
	$(PY) -m pytest -m "not browser and not worker" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

check-deploy: install
	DJANGO_ENV=production DJANGO_SECRET_KEY=check-deploy-$$(date +%s)-not-a-real-secret-0123456789abcdef \
	DJANGO_ALLOWED_HOSTS=example.org DATABASE_URL=postgres://check@127.0.0.1/check \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/0 $(PY) manage.py check --deploy --fail-level WARNING

## Benchmarks print their figures (they need PostgreSQL and Redis on 127.0.0.1; see README).
bench: install
	$(PY) bench/sandbox.py
	$(PY) bench/gradebook.py
	$(PY) bench/autograder.py
	$(PY) bench/quiz_rush.py

## Faults under load (worker kill, Redis and PostgreSQL outages) on private PostgreSQL/Redis; exits 1 on a violation.
faults: install
	$(PY) bench/faults.py

clean:
	rm -rf var/broker var/results var/test-db.sqlite3* staticfiles
