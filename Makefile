# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Python 3.11 is required (the PyTorch wheel the autograder's examples use is built for it).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-fast lint typecheck check-deploy bench faults clean

# Modules whose types mypy checks (django-stubs, djangorestframework-stubs); the list only grows.
TYPED ?= courseapp/services.py courseapp/selectors.py courseapp/calculations.py courseapp/access.py \
	courseapp/ical.py projects/calculations.py projects/access.py \
	courseapp/throttling.py courseapp/body_limits.py courseapp/pagination.py courseapp/text.py \
	courseapp/errors.py courseapp/api_errors.py courseapp/numbers.py courseapp/csvfiles.py \
	courseapp/demo.py courseapp/templatetags/site_format.py courseapp/management/commands/load_demo.py \
	$(wildcard projects/runner/*.py) $(wildcard projects/services/*.py) \
	projects/selectors.py projects/serializers.py projects/files.py projects/visibility.py \
	projects/trials.py projects/views_files.py projects/views_harness.py \
	$(wildcard grading/services/*.py) grading/selectors.py grading/calculations.py grading/access.py \
	grading/apis.py grading/exports.py grading/options.py grading/presenters.py grading/policies.py \
	$(wildcard quizzes/services/*.py) quizzes/selectors.py quizzes/calculations.py quizzes/access.py \
	quizzes/sync.py quizzes/demo.py \
	courseapp/models.py courseapp/tasks.py courseapp/middleware.py courseapp/parsers.py courseapp/tokens.py \
	courseapp/error_pages.py courseapp/celery.py courseapp/templatetags/course_editing.py \
	courseapp/management/commands/import_roster.py \
	grading/models.py grading/management/commands/import_grades.py \
	projects/models.py projects/tasks.py projects/storage.py projects/datasets.py projects/environments.py \
	projects/gpus.py projects/management/commands/dataset_add.py \
	projects/management/commands/grade_submission.py projects/management/commands/harness_env.py \
	quizzes/models.py quizzes/tasks.py quizzes/middleware.py quizzes/parsers.py quizzes/serializers.py \
	quizzes/calendar.py quizzes/editor.py quizzes/grade_link.py quizzes/review.py quizzes/rich_text.py \
	quizzes/templatetags/quiz_format.py \
	lti/models.py lti/access.py lti/calculations.py lti/keys.py lti/platform_http.py lti/selectors.py \
	lti/services.py lti/tasks.py lti/management/commands/lti_rotate_key.py \
	courseapp/settings.py courseapp/storage.py courseapp/editing.py projects/calendar.py projects/lifecycle.py \
	quizzes/gift.py quizzes/moodle_xml.py quizzes/bank_import.py quizzes/forms.py grading/forms.py \
	grading/demo.py courseapp/token_views.py courseapp/admin.py projects/admin.py \
	courseapp/request_types.py projects/apis.py projects/dataset_apis.py grading/management/commands/export_grades.py \
	projects/demo.py quizzes/apis.py courseapp/apis.py projects/views.py quizzes/views.py \
	courseapp/views.py courseapp/editing_views.py grading/views.py courseapp/forms.py lti/views.py lti/launches.py \
	lti/apis.py grading/serializers.py lti/serializers.py courseapp/serializers.py \
	courseapp/urls.py courseapp/course_urls.py grading/urls.py lti/urls.py projects/urls.py quizzes/urls.py \
	courseapp/apps.py grading/apps.py lti/apps.py projects/apps.py quizzes/apps.py lti/admin.py \
	courseapp/asgi.py courseapp/wsgi.py manage.py scripts/check_compose.py scripts/devserver.py grading/admin.py \
	lti/middleware.py lti/toolconf.py lti/passback.py lti/roster.py

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

lint: install typecheck
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy $(TYPED)

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
	$(PY) bench/environments.py
	$(PY) bench/edge.py

## Faults under load (worker kill, Redis and PostgreSQL outages) on private PostgreSQL/Redis; exits 1 on a violation.
faults: install
	$(PY) bench/faults.py

clean:
	rm -rf var/broker var/results var/test-db.sqlite3* staticfiles
