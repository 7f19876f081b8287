# The two commands (see README): `make run` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
# Tests run against the PostgreSQL and Redis on this machine (see README, "Configuration").
TEST_ENV := DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/15 \
	CELERY_RESULT_BACKEND=redis://127.0.0.1:6379/15 \
	GENPACK_DATA_DIR=$(CURDIR)/var/test \
	GENPACK_REQUIRE_BUILD_HOST=1

.PHONY: run test test-fast install install-test lint

install:
	@scripts/install.sh run

install-test:
	@scripts/install.sh test

# Quiet: the set-up steps print only what they change; the last lines are the URL and the
# login, printed by the Procfile's `ready` once the web server answers. More of the servers'
# logs: GENPACK_RUN_LOG_LEVEL=info LOG_LEVEL=INFO make run.
run: install
	@$(PY) manage.py migrate --noinput -v0
	@$(PY) manage.py seed -v0
	@$(PY) manage.py collectstatic --noinput -v0
	@$(PY) manage.py package_index --queue --if-missing -v0
	@echo "==> starting the web server and a build worker"
	@LOG_LEVEL=$${LOG_LEVEL:-WARNING} .venv/bin/honcho start --no-prefix

test: install-test
	scripts/services-up.sh
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

# While iterating: everything except image builds and QEMU boots.
test-fast: install-test
	scripts/services-up.sh
	$(TEST_ENV) $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install-test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
