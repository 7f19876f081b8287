"""What a finished build would get from the archive today: "N updates available (M security)".

The build's manifest lists every installed package with its version; the package index knows
the archive's current versions in the release and its pockets (package_index/pockets.py). A
package is listed when the newest version of that binary package for the build's arch, across
the three, is newer than the installed one by Debian's ordering (epochs, `~`), with the pocket
it comes from. Three small queries and one small file per build: cheap enough for a page view;
the builds list batches its released builds (builds_updates).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
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
# The builds list checks at most this many released builds of its page.
LIST_MAX = 50


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


def _manifest_packages(artifact: Artifact | None, build_id: int) -> dict[str, str]:
    if artifact is None:
        return {}
    path = paths.artifacts_root() / artifact.path
    try:
        if path.stat().st_size > MANIFEST_MAX_BYTES:
            logger.warning("manifest of build %s is too large to read", build_id)
            return {}
        manifest: Any = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        logger.warning("manifest of build %s unreadable: %s", build_id, error)
        return {}
    packages = manifest.get("packages") if isinstance(manifest, dict) else None
    if not isinstance(packages, dict):
        return {}
    return {
        name: version
        for name, version in packages.items()
        if isinstance(name, str) and isinstance(version, str) and version
    }


def installed_packages(build: Build) -> dict[str, str]:
    """Package name → installed version, from the manifest of the build whose files this one
    offers; {} when it has none or lists none (a build of the test engine, a broken file)."""
    source = build.artifact_source
    artifact = source.artifacts.filter(kind=Artifact.Kind.MANIFEST).first()
    return _manifest_packages(artifact, source.pk)


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except ValueError:
        return None


def _newest(rows: Iterable[tuple[str, str, str]]) -> dict[str, tuple[Version, str, str]]:
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


@dataclass(frozen=True)
class _Index:
    """Which indexes one build is compared with: its suite's, for its arch and components."""

    suites: tuple[str, ...]
    arch: str
    components: tuple[str, ...]

    @classmethod
    def of(cls, build: Build) -> _Index:
        spec = build.spec
        return cls(
            suites=tuple(suites_indexed(spec.get("suite", "bookworm"))),
            arch=spec.get("arch", build.profile.arch),
            components=tuple(spec.get("components") or ["main"]),
        )

    def states(self) -> dict[tuple[str, str], datetime]:
        rows = PackageIndexState.objects.filter(
            suite__in=self.suites, arch=self.arch, component__in=self.components
        ).values_list("suite", "component", "release_date", "updated_at")
        return {(s, c): release_date or updated_at for s, c, release_date, updated_at in rows}

    def missing(self, states: dict[tuple[str, str], datetime]) -> tuple[str, ...]:
        return tuple(
            f"{s}/{c}/{self.arch}"
            for s in self.suites
            for c in self.components
            if (s, c) not in states
        )

    def newest(self, names: Iterable[str]) -> dict[str, tuple[Version, str, str]]:
        rows = Package.objects.filter(
            suite__in=self.suites,
            arch=self.arch,
            component__in=self.components,
            name__in=sorted(set(names)),
        ).values_list("name", "version", "suite")
        return _newest(rows)


def _compared(
    installed: dict[str, str],
    newest: dict[str, tuple[Version, str, str]],
    states: dict[tuple[str, str], datetime],
) -> BuildUpdates:
    updates = []
    for name, current_text in installed.items():
        if name not in newest:
            continue  # not in the archive (any more): nothing to offer
        version, text, pocket = newest[name]
        current = _version(current_text)
        if current is not None and version > current:
            updates.append(PackageUpdate(name, current_text, text, pocket))
    updates.sort(key=lambda update: (not update.is_security, update.name))
    return BuildUpdates(updates=tuple(updates), as_of=max(states.values()))


def build_updates(*, build: Build) -> BuildUpdates | None:
    """The archive's newer versions of what `build` installed; None for a build that did not
    succeed or whose manifest lists no packages (nothing to compare)."""
    if build.state != Build.State.SUCCEEDED:
        return None
    installed = installed_packages(build)
    if not installed:
        return None
    index = _Index.of(build)
    states = index.states()
    if missing := index.missing(states):
        return BuildUpdates(missing=missing)
    return _compared(installed, index.newest(installed), states)


def builds_updates(builds: Iterable[Build]) -> dict[int, BuildUpdates]:
    """build_updates of the released builds among `builds` (the builds list), at most
    LIST_MAX of them: one query for their manifests, then one for the index states and one
    for the packages per index (builds of one suite and arch share them). Builds without a
    package list, or whose indexes are not all loaded, are left out."""
    chosen = [b for b in builds if b.released and b.state == Build.State.SUCCEEDED][:LIST_MAX]
    sources = {build.pk: build.artifact_source.pk for build in chosen}
    manifests = {
        artifact.build_id: artifact
        for artifact in Artifact.objects.filter(
            build_id__in=set(sources.values()), kind=Artifact.Kind.MANIFEST
        )
    }
    installed = {pk: _manifest_packages(manifests.get(sources[pk]), sources[pk]) for pk in sources}
    groups: dict[_Index, list[Build]] = {}
    for build in chosen:
        if installed[build.pk]:
            groups.setdefault(_Index.of(build), []).append(build)
    found = {}
    for index, members in groups.items():
        states = index.states()
        if index.missing(states):
            continue
        newest = index.newest(name for build in members for name in installed[build.pk])
        for build in members:
            found[build.pk] = _compared(installed[build.pk], newest, states)
    return found
