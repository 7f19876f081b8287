"""What changed between two builds of one blueprint for one board: packages, blueprint, sizes.

The package lists come from each build's published manifest.json (image_builder/pipeline.py
manifest_data: `packages` name → version, `installed_size_kib` name → KiB as dpkg reports
it); versions are compared the way dpkg compares them (python-debian), so 1.10-1 is newer
than 1.2-1 and an epoch wins over everything after it (1:0.9 > 2.0). Blueprint changes are the
History page's semantic diff (blueprints/diff.py), secrets masked the same way.

Builds of different boards are refused, not compared with a warning: a Raspberry Pi image and
a PC image differ by kernel, firmware and boot packages and by disk layout by design, so every
row would be noise about hardware, and no technician flashes one in place of the other.

Everything here reads rows and files and writes nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from debian.debian_support import Version
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404

from blueprints.diff import FieldDiff, revision_diff
from builds.downloads import artifact_file
from builds.models import Artifact, Build, builds_visible_to

logger = logging.getLogger(__name__)

# A manifest lists a few thousand packages in some hundred KiB; anything far larger is not one.
MANIFEST_MAX_BYTES = 32 * 1024 * 1024
SIZED_KINDS = (Artifact.Kind.SYSTEM_IMG, Artifact.Kind.DISK_RAW)
COMPARE_CHOICES = 200  # builds in each of the compare form's lists


class ChangesRefusedError(ValueError):
    """The two builds cannot be compared (different blueprints or boards); says why."""


@dataclass(frozen=True)
class PackageList:
    """The Debian packages installed in a build's image, as its manifest lists them."""

    versions: dict[str, str]
    installed_kib: dict[str, int]

    @property
    def total_kib(self) -> int | None:
        """Installed size of all packages; None when the manifest has no sizes."""
        return sum(self.installed_kib.values()) if self.installed_kib else None


@dataclass(frozen=True)
class PackageRead:
    """A build's package list, or why there is none, in words ("it failed, ...")."""

    packages: PackageList | None
    missing: str = ""


@dataclass(frozen=True)
class PackageChange:
    name: str
    old: str = ""  # "" for a package added
    new: str = ""  # "" for a package removed


@dataclass(frozen=True)
class SizeChange:
    label: str
    old: int | None  # bytes; None when that build has no such file
    new: int | None

    @property
    def delta(self) -> int | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def percent(self) -> str:
        """Like "+4.2 %", "-0.3 %", "0 %"; "" when a side is missing or was empty."""
        if self.delta is None or not self.old:
            return ""
        value = self.delta * 100 / self.old
        if round(value, 1) == 0:
            return "0 %"
        return f"{'+' if value > 0 else '-'}{abs(value):.1f} %"


@dataclass
class Changes:
    old: Build
    new: Build
    added: list[PackageChange] = field(default_factory=list)
    removed: list[PackageChange] = field(default_factory=list)
    upgraded: list[PackageChange] = field(default_factory=list)
    downgraded: list[PackageChange] = field(default_factory=list)
    # Why packages cannot be compared ("Build #4 has no package list: ..."); "" when they can.
    packages_missing: list[str] = field(default_factory=list)
    # None: not shown to this person (blueprint changes are for blueprint readers).
    blueprint: list[FieldDiff] | None = None
    sizes: list[SizeChange] = field(default_factory=list)

    @property
    def same_revision(self) -> bool:
        return self.old.revision_id == self.new.revision_id

    @property
    def same_files(self) -> bool:
        """Both offer the very same files (one is a cache hit of the other, or itself)."""
        return self.old.artifact_source.pk == self.new.artifact_source.pk

    @property
    def packages_compared(self) -> bool:
        return not self.packages_missing

    @property
    def package_count(self) -> int:
        return len(self.added) + len(self.removed) + len(self.upgraded) + len(self.downgraded)


def _kib(value: Any) -> int | None:
    """dpkg's Installed-Size as the manifest holds it (a string of digits, possibly empty)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 13:
        return int(value)
    return None


def _no_manifest_reason(build: Build) -> str:
    if build.state == Build.State.FAILED:
        return "it failed, so it published no manifest"
    if build.state == Build.State.CANCELLED:
        return "it was cancelled, so it published no manifest"
    if not build.is_finished:
        return "it has not finished yet"
    return "it published no manifest (it was made before builds recorded one)"


def build_packages(build: Build) -> PackageRead:
    """The packages in `build`'s image, read from the manifest of the build whose files it
    offers (a cache hit reads its source's). Never raises for a bad or missing file."""
    source = build.artifact_source
    artifact = source.artifacts.filter(kind=Artifact.Kind.MANIFEST).first()
    if artifact is None:
        return PackageRead(None, _no_manifest_reason(build))
    try:
        path = artifact_file(artifact)
        if path.stat().st_size > MANIFEST_MAX_BYTES:
            raise ValueError("far too large for a manifest")
        manifest = json.loads(path.read_bytes())
    except (Http404, OSError, ValueError) as error:
        logger.warning("manifest of build %s not readable: %s", source.pk, error)
        return PackageRead(None, "its manifest file is missing or cannot be read")
    listed = manifest.get("packages") if isinstance(manifest, dict) else None
    if not isinstance(listed, dict) or not listed:
        return PackageRead(None, "its manifest lists no packages (an older builder made it)")
    versions = {
        name: version
        for name, version in listed.items()
        if isinstance(name, str) and isinstance(version, str) and name and version
    }
    sizes = manifest.get("installed_size_kib")
    installed = {}
    if isinstance(sizes, dict):
        installed = {name: kib for name, value in sizes.items() if (kib := _kib(value)) is not None}
    return PackageRead(PackageList(versions, installed))


def version_order(old: str, new: str) -> int:
    """1 when `new` sorts after `old` in dpkg's order, -1 before, 0 equal. A string dpkg
    would refuse (no manifest of a real build has one) is compared as text."""
    try:
        before, after = Version(old), Version(new)
    except ValueError:
        return (new > old) - (new < old)
    return (after > before) - (after < before)


def package_changes(old: PackageList, new: PackageList) -> dict[str, list[PackageChange]]:
    """Added, removed, upgraded and downgraded packages, each sorted by name."""
    result: dict[str, list[PackageChange]] = {
        "added": [],
        "removed": [],
        "upgraded": [],
        "downgraded": [],
    }
    for name in sorted(old.versions.keys() | new.versions.keys()):
        before, after = old.versions.get(name), new.versions.get(name)
        if before is None:
            result["added"].append(PackageChange(name, new=after or ""))
        elif after is None:
            result["removed"].append(PackageChange(name, old=before))
        elif order := version_order(before, after):
            kind = "upgraded" if order > 0 else "downgraded"
            result[kind].append(PackageChange(name, old=before, new=after))
    return result


def _artifact_sizes(build: Build) -> dict[str, int]:
    artifacts = build.artifact_source.artifacts.filter(kind__in=SIZED_KINDS)
    return dict(artifacts.values_list("kind", "size"))


def _sizes(old: Build, new: Build, packages: tuple[PackageList, PackageList] | None) -> list:
    before, after = _artifact_sizes(old), _artifact_sizes(new)
    sizes = [
        SizeChange(Artifact.Kind(kind).label, before.get(kind), after.get(kind))
        for kind in SIZED_KINDS
        if kind in before or kind in after
    ]
    if packages:
        old_kib, new_kib = packages[0].total_kib, packages[1].total_kib
        if old_kib is not None and new_kib is not None:
            sizes.append(SizeChange("Installed packages", old_kib * 1024, new_kib * 1024))
    return sizes


def changes(*, old: Build, new: Build, include_blueprint: bool = True) -> Changes:
    """What changed from `old` to `new`, two builds of one blueprint for one board.

    `include_blueprint`: also the blueprint's changes between their revisions (for people
    who may read blueprints; technicians see packages and sizes). Raises ChangesRefusedError
    for builds of different blueprints or boards."""
    old_blueprint, new_blueprint = old.revision.blueprint, new.revision.blueprint
    if old_blueprint.pk != new_blueprint.pk:
        raise ChangesRefusedError(
            f"Build #{old.pk} is of the blueprint “{old_blueprint.name}” and build #{new.pk} "
            f"of “{new_blueprint.name}”: only builds of the same blueprint can be compared."
        )
    if old.profile_id != new.profile_id:
        raise ChangesRefusedError(
            f"Build #{old.pk} is for {old.profile.name} and build #{new.pk} for "
            f"{new.profile.name}: images for different boards differ by kernel, firmware and "
            "disk layout by design, so only builds for the same board are compared. Choose "
            "two builds for one board."
        )
    result = Changes(old=old, new=new)
    before, after = build_packages(old), build_packages(new)
    for build, read in ((old, before), (new, after)):
        if read.packages is None:
            result.packages_missing.append(
                f"Build #{build.pk} has no package list: {read.missing}."
            )
    lists = None
    if before.packages is not None and after.packages is not None:
        lists = (before.packages, after.packages)
        for kind, rows in package_changes(*lists).items():
            setattr(result, kind, rows)
    if include_blueprint:
        result.blueprint = (
            [] if result.same_revision else revision_diff(old.revision.data, new.revision.data)
        )
    result.sizes = _sizes(old, new, lists)
    return result


# --- which builds to compare -----------------------------------------------------------------


def previous_release(
    build: Build, user: AbstractBaseUser | AnonymousUser
) -> tuple[Build | None, bool]:
    """The build `build` is compared with on its page: the newest released, succeeded build
    of the same blueprint and board made before it; if there is none, the newest succeeded
    one (True in the second place when it is a release). Only builds `user` may see; builds
    that share its files (a cache hit and its source) are skipped: nothing changed there."""
    source = build.artifact_source
    earlier = (
        builds_visible_to(user)
        .filter(
            revision__blueprint_id=build.revision.blueprint_id,
            profile_id=build.profile_id,
            state=Build.State.SUCCEEDED,
        )
        .filter(
            Q(created_at__lt=build.created_at) | Q(created_at=build.created_at, pk__lt=build.pk)
        )
        .exclude(Q(pk=source.pk) | Q(cache_hit_of_id=source.pk) | Q(pk=build.pk))
        .order_by("-created_at", "-pk")
    )
    release = earlier.filter(released=True).first()
    if release is not None:
        return release, True
    return earlier.first(), False


def comparable_builds(build: Build, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Build]:
    """The succeeded builds of `build`'s blueprint that `user` may see, newest first (the
    newest COMPARE_CHOICES): what the compare form offers."""
    return (
        builds_visible_to(user)
        .filter(revision__blueprint_id=build.revision.blueprint_id, state=Build.State.SUCCEEDED)
        .order_by("-created_at", "-pk")[:COMPARE_CHOICES]
    )


@dataclass(frozen=True)
class ChangesSince:
    """The build page's "Changes since the previous release" section."""

    previous: Build | None  # None: nothing earlier to compare with
    is_release: bool  # previous is a release (else the previous succeeded build)
    changes: Changes | None


def changes_since_previous(build: Build, user: AbstractBaseUser | AnonymousUser) -> ChangesSince:
    """What changed in `build` since the previous release `user` may see (or, if there is
    none, since the previous succeeded build)."""
    previous, is_release = previous_release(build, user)
    if previous is None:
        return ChangesSince(None, False, None)
    result = changes(
        old=previous, new=build, include_blueprint=user.has_perm("blueprints.view_blueprint")
    )
    return ChangesSince(previous, is_release, result)
