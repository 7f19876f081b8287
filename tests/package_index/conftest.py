"""The package index tests: the fixture archive loaded from the fake mirror (tests/harness.py)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from package_index.store import package_index_update
from tests.harness import SUITE

BOTH = {"suite": SUITE, "arches": ["amd64", "arm64"], "components": ["main"]}
AMD64 = {"suite": SUITE, "arches": ["amd64"], "components": ["main"]}


@pytest.fixture(autouse=True)
def _no_cached_searches() -> None:
    cache.clear()


@pytest.fixture
def loaded(mirror: str) -> str:
    for arch in ("amd64", "arm64"):
        package_index_update(suite=SUITE, component="main", arch=arch, mirror=mirror)
    return mirror
