"""Fixtures for every test: personas for each role, seeded profiles, real worker processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from builds.hosts import build_host_announce
from builds.models import BuildHost
from genpack_site import roles
from hardware_profiles.seed import profiles_seed
from tests.factories import UserFactory
from tests.harness import broker_env, celery_client, mirror_serve, mirror_tree, redis_flush

TEST_REDIS_URL = os.environ.get("GENPACK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session", autouse=True)
def _static_files_collected() -> None:
    """Templates use hashed static names (as in production): collect them once per run."""
    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """PBKDF2's million rounds cost ~0.3 s per persona; tests check who may do what, not how
    Django hashes (logging in with a real password still goes through the same code)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def seeded(db: None) -> None:
    roles.roles_sync()
    profiles_seed()


@pytest.fixture
def build_host(db: None) -> BuildHost:
    """A build host for amd64 and arm64 that announced itself a moment ago, as a worker does
    at start: for tests that queue builds without starting a worker process. It never beats
    again, so it goes offline after GENPACK_BUILD_HOST_STALE_SECONDS."""
    return build_host_announce(
        name="fixture@build-host",
        architectures=["amd64", "arm64"],
        queues=["celery", "amd64", "arm64"],
    )


@pytest.fixture
def mirror_dists(tmp_path: Path) -> Path:
    """The fixture archive laid out as a Debian mirror (tests/harness.py)."""
    return mirror_tree(tmp_path)


@pytest.fixture
def mirror(mirror_dists: Path) -> Iterator[str]:
    """The fixture archive served over real HTTP on 127.0.0.1, as a Debian mirror."""
    with mirror_serve(mirror_dists.parent.parent.parent) as url:
        yield url


def _persona(name: str, role: str | None) -> Client:
    groups = [Group.objects.get(name=role)] if role else []
    user = UserFactory(username=name, groups=groups, is_staff=role == roles.ADMIN)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def product_manager(seeded: None) -> Client:
    return _persona("pam", roles.PRODUCT_MANAGER)


@pytest.fixture
def technician(seeded: None) -> Client:
    return _persona("tom", roles.FIELD_TECHNICIAN)


@pytest.fixture
def admin_client_role(seeded: None) -> Client:
    return _persona("ada", roles.ADMIN)


@pytest.fixture
def outsider(seeded: None) -> Client:
    """Logged in, but with no role at all."""
    return _persona("olga", None)


@pytest.fixture
def anonymous(seeded: None) -> Client:
    return Client()


@pytest.fixture
def redis_celery() -> Iterator[tuple[Celery, dict[str, str]]]:
    """A Celery client bound to the test Redis, and the environment for workers to share it.

    The client is its own app instance, so nothing here depends on this process's settings.
    """
    redis_flush(TEST_REDIS_URL)
    client = celery_client(TEST_REDIS_URL)
    try:
        yield client, dict(os.environ, **broker_env(TEST_REDIS_URL))
    finally:
        client.close()
