"""EngineOptions: how and where to build; deliberately not in the BuildSpec (nor its cache key)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SOURCES_DIR = Path("/etc/apt/sources.list.d")
FALLBACK_MIRROR = "http://deb.debian.org/debian"
DEFAULT_CACHE_DIR = Path(os.environ.get("GENPACK_APT_CACHE", "/var/cache/genpack/apt"))


def default_mirror(suite: str, sources_dir: Path = SOURCES_DIR) -> str:
    """The host's own mirror for `suite`: first URI of a deb822 stanza listing that suite.

    Build hosts may only reach the mirror their apt is configured for, so that is the default.
    """
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
    return FALLBACK_MIRROR


@dataclass(frozen=True)
class EngineOptions:
    mirror: str | None = None  # None: default_mirror(spec.suite)
    apt_cache_dir: Path | None = field(default=DEFAULT_CACHE_DIR)  # None: no shared cache
    keep_workdir: bool = False
    # Build id written into /.genpack/build and the status file; the caller (a Build row) owns it.
    build_id: str = "local"
    # Wall-clock limits per external command, seconds; a hung mirror must not hang a worker.
    command_timeout: int = 3600

    def mirror_for(self, suite: str) -> str:
        return self.mirror or default_mirror(suite)
