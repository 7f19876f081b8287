"""Loading the index into the database: one (suite, component, arch) at a time.

`package_index_update` reads `dists/<suite>/Release`, then `Packages.xz` (or `.gz`) and the
`Contents` files for systemd units, and replaces that index's rows in one transaction, so
readers never see half an index. Which indexes to load is the caller's choice: this app
knows nothing of hardware profiles.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from package_index.mirror import (
    PACKAGES_FILES,
    PackageIndexError,
    Release,
    contents_units,
    depends_parse,
    first_listed,
    provides_parse,
    release_fetch,
    stanzas,
    verified_blocks,
)
from package_index.models import Package, PackageIndexState
from package_index.pockets import suite_mirror
from package_index.search import search_cache_invalidate

logger = logging.getLogger(__name__)

INSERT_BATCH = 2000

# (suite, component, arch)
IndexKey = tuple[str, str, str]
# What an index row holds; an index loaded by an older format is read again at its next update
# (format 2 added `depends` and `essential`).
INDEX_FORMAT = 2


@dataclass(frozen=True)
class IndexCounts:
    suite: str
    component: str
    arch: str
    packages: int = 0
    with_units: int = 0
    seconds: float = 0.0
    unchanged: bool = False
    error: str = ""


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _package_rows(
    stanzas: Iterable[dict[str, str]], *, suite: str, component: str, arch: str
) -> Iterator[Package]:
    seen: set[str] = set()
    for stanza in stanzas:
        name = stanza.get("Package", "")
        # One row per name and index; a mirror listing a name twice keeps its first entry.
        if not name or name in seen:
            continue
        seen.add(name)
        yield Package(
            suite=suite,
            component=component,
            arch=arch,
            name=name,
            version=stanza.get("Version", ""),
            summary=stanza.get("Description", ""),
            installed_size=_int(stanza.get("Installed-Size")),
            size=_int(stanza.get("Size")),
            section=stanza.get("Section", ""),
            provides=provides_parse(stanza.get("Provides", "")),
            depends=depends_parse(stanza.get("Pre-Depends", ""), stanza.get("Depends", "")),
            essential=stanza.get("Essential", "") == "yes",
        )


# Contents-all is the same for every arch of a suite: read it once per content digest.
_contents_cache: dict[str, dict[str, set[str]]] = {}


def _units_for(
    *, mirror: str, suite: str, component: str, arch: str, release: Release
) -> dict[str, set[str]]:
    units: dict[str, set[str]] = {}
    for name in (f"Contents-{arch}", "Contents-all"):
        path = first_listed(release, component, (f"{name}.gz", name))
        if path is None:
            logger.info("%s/%s has no %s: no units for it", suite, component, name)
            continue
        digest = release.sha256[path][0]
        if digest not in _contents_cache:
            blocks = verified_blocks(mirror=mirror, suite=suite, path=path, release=release)
            _contents_cache[digest] = contents_units(blocks)
        for package, package_units in _contents_cache[digest].items():
            units.setdefault(package, set()).update(package_units)
    return units


def _source_digest(release: Release, paths: Iterable[str | None]) -> str:
    return hashlib.sha256(
        "".join(release.sha256[p][0] for p in paths if p is not None).encode()
    ).hexdigest()


def package_index_update(
    *, suite: str, component: str, arch: str, mirror: str, force: bool = False
) -> IndexCounts:
    """Load one (suite, component, arch) from the mirror; unchanged files are not read again."""
    started = time.monotonic()
    mirror = mirror.rstrip("/")
    state = PackageIndexState.objects.filter(suite=suite, component=component, arch=arch).first()
    known = (
        state is not None
        and state.mirror == mirror
        and state.index_format == INDEX_FORMAT
        and not force
    )
    release = release_fetch(mirror=mirror, suite=suite, etag=state.etag if known else "")
    if release is None:
        return IndexCounts(suite, component, arch, packages=state.package_count, unchanged=True)
    packages_path = first_listed(release, f"{component}/binary-{arch}", PACKAGES_FILES)
    if packages_path is None:
        raise PackageIndexError(f"{mirror} has no {suite}/{component} packages for {arch}")
    contents_paths = [
        first_listed(release, component, (f"{n}.gz", n))
        for n in (f"Contents-{arch}", "Contents-all")
    ]
    source_sha256 = _source_digest(release, [packages_path, *contents_paths])
    if known and state.source_sha256 == source_sha256:
        return IndexCounts(suite, component, arch, packages=state.package_count, unchanged=True)

    blocks = verified_blocks(mirror=mirror, suite=suite, path=packages_path, release=release)
    rows = list(_package_rows(stanzas(blocks), suite=suite, component=component, arch=arch))
    units = _units_for(mirror=mirror, suite=suite, component=component, arch=arch, release=release)
    for row in rows:
        row.units = sorted(units.get(row.name, ()))
    _rows_replace(suite=suite, component=component, arch=arch, rows=rows)
    # Searches cached before this no longer match (see search_cache_invalidate).
    search_cache_invalidate()
    _state_record(
        (suite, component, arch),
        mirror=mirror,
        release=release,
        rows=len(rows),
        source_sha256=source_sha256,
    )
    return IndexCounts(
        suite,
        component,
        arch,
        packages=len(rows),
        with_units=sum(1 for row in rows if row.units),
        seconds=round(time.monotonic() - started, 2),
    )


def _state_record(
    key: IndexKey, *, mirror: str, release: Release, rows: int, source_sha256: str
) -> None:
    suite, component, arch = key
    PackageIndexState.objects.update_or_create(
        suite=suite,
        component=component,
        arch=arch,
        defaults={
            "mirror": mirror,
            "updated_at": timezone.now(),
            "package_count": rows,
            "release_date": release.date,
            "valid_until": release.valid_until,
            "etag": release.etag,
            "source_sha256": source_sha256,
            "index_format": INDEX_FORMAT,
        },
    )


def _rows_replace(*, suite: str, component: str, arch: str, rows: list[Package]) -> None:
    with transaction.atomic():
        Package.objects.filter(suite=suite, component=component, arch=arch).delete()
        Package.objects.bulk_create(rows, batch_size=INSERT_BATCH)
    # Fresh statistics, or the planner guesses on a table that just changed wholesale and
    # picks plans ten times slower for searches (measured on PostgreSQL).
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Package._meta.db_table}")


def packages_index_all(
    *,
    targets: Iterable[IndexKey],
    mirror: str | None = None,
    security_mirror: str | None = None,
    force: bool = False,
) -> list[IndexCounts]:
    """Update every index in `targets`; one failure stops none. A `-security` suite is read
    from the security archive (pockets.suite_mirror), every other from `mirror`."""
    results = []
    for suite, component, arch in targets:
        where = suite_mirror(suite, mirror=mirror, security_mirror=security_mirror)
        try:
            results.append(
                package_index_update(
                    suite=suite, component=component, arch=arch, mirror=where, force=force
                )
            )
        except PackageIndexError as error:
            logger.warning("package index %s/%s/%s: %s", suite, component, arch, error)
            results.append(IndexCounts(suite, component, arch, error=str(error)))
    _contents_cache.clear()
    return results


def package_indexes_loaded() -> set[IndexKey]:
    """Every (suite, component, arch) loaded at least once."""
    return set(PackageIndexState.objects.values_list("suite", "component", "arch"))
