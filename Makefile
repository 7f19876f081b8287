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
	scripts/install.sh run

install-test:
	scripts/install.sh test

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py ensure_admin
	$(PY) manage.py package_index --queue --if-missing
	@echo "==> web on http://127.0.0.1:8000/ and a build worker; Ctrl-C stops both"
	.venv/bin/honcho start

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
