"""What the index says about named packages: do they exist, how big are they, which systemd
units do they ship. Never cached: these answer a save or a build, not a keystroke."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet

from package_index.models import Package, PackageIndexState, packages_of
from package_index.store import INDEX_FORMAT

# A dependency tree is a dozen levels deep at most; the bound only guards a broken index.
MAX_DEPENDENCY_LEVELS = 50


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


def package_index_outdated(
    *, suite: str, arches: Iterable[str], components: Iterable[str]
) -> list[str]:
    """Loaded indexes whose rows predate dependencies (INDEX_FORMAT 2): read again at the next
    update; until then, which units the dependencies ship is not known."""
    rows = PackageIndexState.objects.filter(
        suite=suite,
        arch__in=list(arches),
        component__in=list(components),
        index_format__lt=INDEX_FORMAT,
    )
    return [f"{suite}/{c}/{a}" for c, a in rows.values_list("component", "arch")]


def packages_installed(
    *, names: Iterable[str], suite: str, arch: str, components: Iterable[str]
) -> set[str]:
    """What an image of `names` holds, as mmdebstrap's minbase variant and apt install it:
    the Essential packages and apt, `names`, and everything they depend on (first
    alternatives, no recommends); names the index does not have are kept as they are."""
    index = packages_of(suite=suite, arches=[arch], components=list(components))
    essential = index.filter(essential=True).values_list("name", flat=True)
    installed = {*names, *essential, "apt"}
    frontier = set(installed)
    for _ in range(MAX_DEPENDENCY_LEVELS):
        if not frontier:
            break
        depends = index.filter(name__in=frontier).values_list("depends", flat=True)
        frontier = {name for names in depends for name in names} - installed
        installed |= frontier
    return installed


def units_shipped(
    *, packages: Iterable[str], suite: str, arch: str, components: Iterable[str]
) -> set[str]:
    """Every systemd unit file (.service, .socket, .timer) the named packages install."""
    rows = packages_of(suite=suite, arches=[arch], components=list(components))
    units = rows.filter(name__in=set(packages)).values_list("units", flat=True)
    return {unit for row_units in units for unit in row_units}


def unit_shippers(
    *, unit: str, suite: str, arch: str, components: Iterable[str], limit: int = 3
) -> list[str]:
    """Packages of the index that install `unit`, shortest name first."""
    index = packages_of(suite=suite, arches=[arch], components=list(components))
    if connection.features.supports_json_field_contains:
        names = list(index.filter(units__contains=[unit]).values_list("name", flat=True))
    else:  # SQLite: the few thousand rows that ship any unit
        rows = index.exclude(units=[]).values_list("name", "units")
        names = [name for name, units in rows if unit in units]
    return sorted(set(names), key=lambda name: (len(name), name))[:limit]


def package_name_suggestion(
    *, name: str, suite: str, arch: str, components: Iterable[str]
) -> str | None:
    """The package name of the index closest to a mistyped `name`, or None."""
    index = packages_of(suite=suite, arches=[arch], components=list(components))
    if connection.vendor == "postgresql":
        # The trigram index (package_name_trgm) finds near names among 60,000 at once.
        near = index.extra(
            select={"similarity": "similarity(name, %s)"},
            select_params=[name],
            where=["name %% %s"],
            params=[name],
            order_by=["-similarity"],
        )
        candidates = list(near.values_list("name", flat=True)[:50])
    else:
        candidates = list(
            index.filter(name__startswith=name[:1]).values_list("name", flat=True)[:20000]
        )
    close = difflib.get_close_matches(name, set(candidates), n=1, cutoff=0.75)
    return close[0] if close else None
