"""Hardware profiles → package indexes: what the editor and the daily update ask of the index.

Every target has its own suite, components and architecture; a package must exist for each.
The package_index app knows nothing of profiles: this module is where they are mapped.
"""

from __future__ import annotations

from typing import Any

from hardware_profiles.models import HardwareProfile
from package_index.checks import (
    package_index_missing,
    packages_size,
    packages_unknown,
    services_suggested,
)
from package_index.pockets import suites_indexed
from package_index.search import package_search
from package_index.store import IndexKey


def package_index_targets() -> list[IndexKey]:
    """Every (suite, component, arch) an enabled hardware profile builds from: its release
    and the release's update pockets (package_index/pockets.py)."""
    targets = {
        (suite, component, profile.arch)
        for profile in HardwareProfile.objects.filter(enabled=True)
        for component in profile.components or ["main"]
        for suite in suites_indexed(profile.suite)
    }
    return sorted(targets)


def _groups(targets: list[HardwareProfile]) -> dict[tuple[str, tuple[str, ...]], list[str]]:
    """Targets grouped by (suite, components) → architectures."""
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for profile in targets:
        arches = groups.setdefault((profile.suite, tuple(profile.components)), [])
        if profile.arch not in arches:
            arches.append(profile.arch)
    return groups


def package_search_for(*, query: str, targets: list[HardwareProfile], limit: int = 15) -> list[Any]:
    if not targets:
        targets = list(HardwareProfile.objects.filter(enabled=True, slug="pc-x86_64"))
    results: list[Any] = []
    for (suite, components), arches in _groups(targets).items():
        results += package_search(
            query=query, suite=suite, arches=arches, components=list(components), limit=limit
        )
    seen: set[str] = set()
    unique = []
    for package in results:
        if package.name not in seen:
            seen.add(package.name)
            unique.append(package)
    return unique[:limit]


def packages_check(*, names: list[str], targets: list[HardwareProfile]) -> str:
    """A message naming packages missing for some target, or "" when all exist."""

    problems = []
    for (suite, components), arches in _groups(targets).items():
        if package_index_missing(suite=suite, arches=arches, components=components):
            continue  # cannot check yet; the build itself will say
        missing = packages_unknown(
            names=names, suite=suite, arches=arches, components=list(components)
        )
        for arch, unknown in missing.items():
            if unknown:
                problems.append(f"{', '.join(unknown)} is not in Debian {suite} for {arch}")
    return "; ".join(problems)


def package_summary(*, packages: list[str], targets: list[HardwareProfile]) -> dict[str, Any]:
    if not targets:
        return {"size_kib": None, "loaded": False}
    first = targets[0]
    loaded = not package_index_missing(
        suite=first.suite, arches=[first.arch], components=first.components
    )
    size = None
    if loaded:
        names = [*packages, first.kernel_package, *first.board_firmware, *first.extra_packages]
        estimate = packages_size(
            names=names, suite=first.suite, arches=[first.arch], components=first.components
        ).get(first.arch)
        size = estimate.installed_kib if estimate else None
    return {"size_kib": size, "loaded": loaded, "profile": first}


def services_suggested_for(*, packages: list[str], targets: list[HardwareProfile]) -> list[str]:
    if not targets or not packages:
        return []
    first = targets[0]
    return services_suggested(
        packages=[p for p in packages if not p.startswith("-")], suite=first.suite, arch=first.arch
    )
