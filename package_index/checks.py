"""What the index says about named packages: do they exist, how big are they, which systemd
units do they ship. Never cached: these answer a save or a build, not a keystroke."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet

from package_index.models import Package, PackageIndexState, packages_of


@dataclass(frozen=True)
class SizeEstimate:
    installed_kib: int
    download_bytes: int


def package_index_missing(
    *, suite: str, arches: Iterable[str], components: Iterable[str]
) -> list[str]:
    """`suite/component/arch` indexes not loaded yet: names cannot be checked against them."""
    loaded = set(PackageIndexState.objects.filter(suite=suite).values_list("component", "arch"))
    return [
        f"{suite}/{component}/{arch}"
        for arch in arches
        for component in components
        if (component, arch) not in loaded
    ]


def _virtual(index: QuerySet[Package], names: set[str]) -> set[str]:
    """Which of `names` some package of the index Provides (a virtual package)."""
    if connection.features.supports_json_field_contains:
        condition = Q()
        for name in names:
            condition |= Q(provides__contains=[name])
        rows = index.filter(condition).values_list("provides", flat=True)
    else:  # SQLite: read the few thousand rows that provide anything
        rows = index.exclude(provides=[]).values_list("provides", flat=True)
    return names & {name for provides in rows for name in provides}


def packages_unknown(
    *, names: Iterable[str], suite: str, arches: Iterable[str], components: Iterable[str]
) -> dict[str, list[str]]:
    """Per arch, the names that are neither a package nor a virtual package there.

    Arches whose index is not loaded yet are not checked (see `package_index_missing`), so a
    fresh installation does not refuse every blueprint before its first index update.
    """
    wanted = set(names)
    components = list(components)
    unknown: dict[str, list[str]] = {}
    for arch in arches:
        if not wanted or package_index_missing(suite=suite, arches=[arch], components=components):
            continue
        index = packages_of(suite=suite, arches=[arch], components=components)
        missing = wanted - set(index.filter(name__in=wanted).values_list("name", flat=True))
        if missing:
            missing -= _virtual(index, missing)
        if missing:
            unknown[arch] = sorted(missing)
    return unknown


def packages_size(
    *, names: Iterable[str], suite: str, arches: Iterable[str], components: Iterable[str]
) -> dict[str, SizeEstimate]:
    """Per arch, the sizes of the named packages themselves (their dependencies not counted)."""
    wanted = set(names)
    estimates = {}
    for arch in arches:
        rows = packages_of(suite=suite, arches=[arch], components=components)
        sizes = {
            name: (kib, size)
            for name, kib, size in rows.filter(name__in=wanted).values_list(
                "name", "installed_size", "size"
            )
        }
        estimates[arch] = SizeEstimate(
            installed_kib=sum(kib for kib, _ in sizes.values()),
            download_bytes=sum(size for _, size in sizes.values()),
        )
    return estimates


def services_suggested(*, packages: Iterable[str], suite: str, arch: str) -> list[str]:
    """systemd units the packages ship, to offer for enabling. Templates (`x@.service`) are
    left out: they need an instance name the designer types."""
    rows = Package.objects.filter(suite=suite, arch=arch, name__in=set(packages))
    units = {unit for row_units in rows.values_list("units", flat=True) for unit in row_units}
    return sorted(unit for unit in units if "@." not in unit)
