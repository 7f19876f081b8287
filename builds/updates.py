"""What a finished build would get from the archive today: "N updates available (M security)".

The build's manifest lists every installed package with its version; the package index knows
the archive's current versions in the release and its pockets (package_index/pockets.py). A
package is listed when the newest version of that binary package for the build's arch, across
the three, is newer than the installed one by Debian's ordering (epochs, `~`), with the pocket
it comes from. Two small queries and one small file per build: cheap enough for a page view.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from debian.debian_support import Version

from builds import paths
from builds.models import Artifact, Build
from package_index.models import Package, PackageIndexState
from package_index.pockets import SECURITY, UPDATES, pocket_of, suites_indexed

logger = logging.getLogger(__name__)

# A real manifest is tens of KiB; one that is not is not read on a page view.
MANIFEST_MAX_BYTES = 8 * 1024 * 1024
# Of two equal versions, the one a pocket publishes names the pocket (a security fix that a
# point release later took in is still a security fix).
POCKET_RANK = {SECURITY: 2, UPDATES: 1, "": 0}


@dataclass(frozen=True)
class PackageUpdate:
    name: str
    installed: str
    available: str
    pocket: str  # "security", "updates", or "" (a point release of the suite itself)

    @property
    def is_security(self) -> bool:
        return self.pocket == SECURITY


@dataclass(frozen=True)
class BuildUpdates:
    """Newer archive versions of a build's packages, security fixes first.

    `missing`: indexes ("bookworm-security/main/amd64") not loaded yet; until they are, the
    updates are not counted at all (a partial count would read as the whole truth).
    `as_of`: the newest Release date among the indexes read: the archive as published then.
    """

    updates: tuple[PackageUpdate, ...] = ()
    missing: tuple[str, ...] = ()
    as_of: datetime | None = None

    @property
    def checked(self) -> bool:
        return not self.missing

    @property
    def security_count(self) -> int:
        return sum(1 for update in self.updates if update.is_security)


def installed_packages(build: Build) -> dict[str, str]:
    """Package name → installed version, from the manifest of the build whose files this one
    offers; {} when it has none or lists none (a build of the test engine, a broken file)."""
    source = build.artifact_source
    artifact = source.artifacts.filter(kind=Artifact.Kind.MANIFEST).first()
    if artifact is None:
        return {}
    path = paths.artifacts_root() / artifact.path
    try:
        if path.stat().st_size > MANIFEST_MAX_BYTES:
            logger.warning("manifest of build %s is too large to read", source.pk)
            return {}
        manifest: Any = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        logger.warning("manifest of build %s unreadable: %s", source.pk, error)
        return {}
    packages = manifest.get("packages") if isinstance(manifest, dict) else None
    if not isinstance(packages, dict):
        return {}
    return {
        name: version
        for name, version in packages.items()
        if isinstance(name, str) and isinstance(version, str) and version
    }


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except ValueError:
        return None


def _newest(rows: list[tuple[str, str, str]]) -> dict[str, tuple[Version, str, str]]:
    """name → (version, version text, pocket) of the newest row per name."""
    newest: dict[str, tuple[Version, str, str]] = {}
    for name, text, suite in rows:
        version = _version(text)
        if version is None:
            continue
        pocket = pocket_of(suite)
        best = newest.get(name)
        if best is None or (version, POCKET_RANK[pocket]) > (best[0], POCKET_RANK[best[2]]):
            newest[name] = (version, text, pocket)
    return newest


def build_updates(*, build: Build) -> BuildUpdates | None:
    """The archive's newer versions of what `build` installed; None for a build that did not
    succeed or whose manifest lists no packages (nothing to compare)."""
    if build.state != Build.State.SUCCEEDED:
        return None
    installed = installed_packages(build)
    if not installed:
        return None
    suite, arch = build.spec.get("suite", "bookworm"), build.spec.get("arch", build.profile.arch)
    components = list(build.spec.get("components") or ["main"])
    suites = suites_indexed(suite)
    states = PackageIndexState.objects.filter(
        suite__in=suites, arch=arch, component__in=components
    ).values_list("suite", "component", "release_date", "updated_at")
    loaded = {(s, c): release_date or updated_at for s, c, release_date, updated_at in states}
    missing = tuple(f"{s}/{c}/{arch}" for s in suites for c in components if (s, c) not in loaded)
    if missing:
        return BuildUpdates(missing=missing)
    rows = Package.objects.filter(
        suite__in=suites, arch=arch, component__in=components, name__in=list(installed)
    ).values_list("name", "version", "suite")
    updates = []
    for name, (version, text, pocket) in _newest(list(rows)).items():
        current = _version(installed[name])
        if current is not None and version > current:
            updates.append(PackageUpdate(name, installed[name], text, pocket))
    updates.sort(key=lambda update: (not update.is_security, update.name))
    return BuildUpdates(updates=tuple(updates), as_of=max(loaded.values()))
