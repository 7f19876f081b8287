"""EngineOptions: how and where to build; deliberately not in the BuildSpec (nor its cache key)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base_cache import BaseCache

SOURCES_DIR = Path("/etc/apt/sources.list.d")
FALLBACK_MIRROR = "http://deb.debian.org/debian"
# Debian's security archive is its own tree, not a suite of the main mirror.
FALLBACK_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
DEFAULT_CACHE_DIR = Path(os.environ.get("GENPACK_APT_CACHE", "/var/cache/genpack/apt"))
DEFAULT_BASE_CACHE_DIR = Path(os.environ.get("GENPACK_BASE_CACHE", "/var/cache/genpack/base"))
DEFAULT_BASE_CACHE_MAX_BYTES = 20 * 2**30


def host_source(suite: str, sources_dir: Path = SOURCES_DIR) -> str | None:
    """The first URI of the host's deb822 `deb` stanza listing `suite`; None when none does."""
    for path in sorted(sources_dir.glob("*.sources")):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        for stanza in text.split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            uris, suites = fields.get("uris", "").split(), fields.get("suites", "").split()
            if uris and suite in suites:
                return uris[0]
    return None


def default_mirror(
    suite: str, sources_dir: Path = SOURCES_DIR, fallback: str = FALLBACK_MIRROR
) -> str:
    """The host's own mirror for `suite` (see host_source), else `fallback`.

    Build hosts may only reach the mirror their apt is configured for, so that is the default.
    """
    return host_source(suite, sources_dir) or fallback


@dataclass(frozen=True)
class EngineOptions:
    mirror: str | None = None  # None: default_mirror(spec.suite)
    # The `<suite>-security` archive; None: the host's source for it, if it has one. The site
    # passes the one its package index reads (GENPACK_DEBIAN_SECURITY_MIRROR), so the updates
    # it announces are the ones a rebuild installs.
    security_mirror: str | None = None
    apt_cache_dir: Path | None = field(default=DEFAULT_CACHE_DIR)  # None: no shared cache
    keep_workdir: bool = False
    # Build id written into /.genpack/build and the status file; the caller (a Build row) owns it.
    build_id: str = "local"
    # Wall-clock limits per external command, seconds; a hung mirror must not hang a worker.
    command_timeout: int = 3600
    # Cached base trees (base_cache.py); None: every build makes its base from nothing.
    base_cache_dir: Path | None = None
    base_cache_max_bytes: int = DEFAULT_BASE_CACHE_MAX_BYTES
    # "Rebuild with the latest packages": never reuse a base, make (and cache) a fresh one.
    fresh_base: bool = False

    def base_cache(self) -> BaseCache | None:
        from .base_cache import BaseCache

        if self.base_cache_dir is None:
            return None
        return BaseCache(self.base_cache_dir, self.base_cache_max_bytes)

    def mirror_for(self, suite: str) -> str:
        return self.mirror or default_mirror(suite)
