"""The Debian package index: what the mirror offers, for search, validation and suggestions.

`package_index_update` reads one (suite, component, arch) from the mirror the builds use —
`dists/<suite>/Release`, then `Packages.xz` (or `.gz`) and the `Contents` files for systemd
units — and replaces that index's rows in one transaction, so readers never see half an index.
Every file is checked against the SHA-256 the Release file lists, as apt does. (apt also checks
the Release file's OpenPGP signature; the mirror here is the one the builds trust already.)
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import lzma
import re
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Collate
from django.utils import timezone

from blueprints.models import Package, PackageIndexState
from hardware_profiles.models import HardwareProfile

logger = logging.getLogger(__name__)

HTTP_TIMEOUT = 60
CHUNK = 1 << 20
INSERT_BATCH = 2000
SEARCH_WINDOW = 200
SEARCH_CACHE_SECONDS = 300
SEARCH_GENERATION_KEY = "package_search:generation"
# The first of these that the Release file lists is read: xz is the smallest download.
PACKAGES_FILES = ("Packages.xz", "Packages.gz", "Packages")
UNIT_DIR = b"lib/systemd/system/"
# A Contents line: path, spaces, comma-separated `[component/]section/package` names.
UNIT_LINE = re.compile(
    rb"(?:usr/)?lib/systemd/system/([^/\s]+\.(?:service|socket|timer))[ \t]+(\S+)[ \t]*"
)
PACKAGE_FIELDS = frozenset(
    {"Package", "Version", "Installed-Size", "Size", "Section", "Description", "Provides"}
)


class PackageIndexError(Exception):
    """The mirror could not be read, or what it sent does not match its Release file."""


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


@dataclass(frozen=True)
class PackageHit:
    """One search result; sizes are those of the first of the requested arches that has it."""

    name: str
    summary: str
    version: str
    section: str
    installed_size: int
    size: int
    arches: tuple[str, ...]


@dataclass(frozen=True)
class SizeEstimate:
    installed_kib: int
    download_bytes: int


@dataclass(frozen=True)
class Release:
    date: datetime | None
    valid_until: datetime | None
    etag: str
    sha256: dict[str, tuple[str, int]] = field(default_factory=dict)  # path → (digest, size)


# --- reading the mirror --------------------------------------------------------------------


def _open(url: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": "genpack-site", **(headers or {})})
    try:
        return urllib.request.urlopen(request, timeout=HTTP_TIMEOUT)
    except urllib.error.HTTPError as error:
        if error.code == HTTPStatus.NOT_MODIFIED:
            raise
        raise PackageIndexError(f"{url}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError) as error:
        raise PackageIndexError(f"{url}: {error}") from error


def _release_date(value: str) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def release_parse(text: str, *, etag: str = "") -> Release:
    fields: dict[str, str] = {}
    sha256: dict[str, tuple[str, int]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith(" ") and current == "SHA256":
            digest, size, path = line.split()
            sha256[path] = (digest, int(size))
        elif ":" in line and not line.startswith(" "):
            current, _, value = line.partition(":")
            fields[current] = value.strip()
    return Release(
        date=_release_date(fields.get("Date", "")),
        valid_until=_release_date(fields.get("Valid-Until", "")),
        etag=etag,
        sha256=sha256,
    )


def _release_fetch(*, mirror: str, suite: str, etag: str) -> Release | None:
    """The suite's Release file; None when it has the ETag we loaded last time."""
    headers = {"If-None-Match": etag} if etag else {}
    try:
        with _open(f"{mirror}/dists/{suite}/Release", headers) as response:
            return release_parse(
                response.read().decode("utf-8", "replace"),
                etag=response.headers.get("ETag", ""),
            )
    except urllib.error.HTTPError as error:  # only 304 Not Modified reaches here
        error.close()
        return None


def _decompressor(path: str) -> Callable[[bytes], bytes]:
    if path.endswith(".xz"):
        return lzma.LZMADecompressor().decompress
    if path.endswith(".gz"):
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress
    return bytes


def _verified_blocks(*, mirror: str, suite: str, path: str, release: Release) -> Iterator[bytes]:
    """The file's decompressed content in blocks of whole lines.

    The SHA-256 is known only at the end, so the caller must not write anything before the
    iteration is over: a mismatch raises then, instead of the last block.
    """
    expected, expected_size = release.sha256[path]
    digest = hashlib.sha256()
    size = 0
    decompress = _decompressor(path)
    tail = b""
    with _open(f"{mirror}/dists/{suite}/{path}") as response:
        while chunk := response.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            data = tail + decompress(chunk)
            cut = data.rfind(b"\n") + 1
            if cut:
                yield data[:cut]
            tail = data[cut:]
    if size != expected_size or digest.hexdigest() != expected:
        raise PackageIndexError(
            f"{path}: SHA-256 differs from the Release file's (mirror being updated? try again)"
        )
    if tail:
        yield tail + b"\n"


def _first_listed(release: Release, component: str, names: Iterable[str]) -> str | None:
    return next((f"{component}/{n}" for n in names if f"{component}/{n}" in release.sha256), None)


# --- parsing -------------------------------------------------------------------------------


def _stanzas(blocks: Iterable[bytes]) -> Iterator[dict[str, str]]:
    """Packages stanzas with only the fields we keep; continuation lines (long text) skipped."""
    stanza: dict[str, str] = {}
    for block in blocks:
        for raw in block.split(b"\n"):
            if not raw.strip():
                if stanza:
                    yield stanza
                    stanza = {}
                continue
            if raw[:1] in (b" ", b"\t"):
                continue
            key, _, value = raw.decode("utf-8", "replace").partition(":")
            if key in PACKAGE_FIELDS:
                stanza[key] = value.strip()
    if stanza:
        yield stanza


def provides_parse(value: str) -> list[str]:
    """`foo (= 1.0), bar:any, baz` → ["bar", "baz", "foo"]."""
    names = {item.split("(")[0].strip().split(":")[0] for item in value.split(",")}
    return sorted(name for name in names if name)


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
        )


def contents_units(blocks: Iterable[bytes]) -> dict[str, set[str]]:
    """Package name → systemd units it installs, from a Contents file.

    Contents-all is ~500 MB uncompressed; a regular expression over every line takes seconds,
    so only the rare lines that mention the unit directory (a C-speed `find`) are matched.
    """
    units: dict[str, set[str]] = {}
    for block in blocks:
        position = block.find(UNIT_DIR)
        while position != -1:
            start = block.rfind(b"\n", 0, position) + 1
            end = block.find(b"\n", position)
            match = UNIT_LINE.fullmatch(block, start, end)
            if match:
                unit = match.group(1).decode()
                for qualified in match.group(2).decode().split(","):
                    units.setdefault(qualified.rsplit("/", 1)[-1], set()).add(unit)
            position = block.find(UNIT_DIR, end)
    return units


# Contents-all is the same for every arch of a suite: read it once per content digest.
_contents_cache: dict[str, dict[str, set[str]]] = {}


def _units_for(
    *, mirror: str, suite: str, component: str, arch: str, release: Release
) -> dict[str, set[str]]:
    units: dict[str, set[str]] = {}
    for name in (f"Contents-{arch}", "Contents-all"):
        path = _first_listed(release, component, (f"{name}.gz", name))
        if path is None:
            logger.info("%s/%s has no %s: no units for it", suite, component, name)
            continue
        digest = release.sha256[path][0]
        if digest not in _contents_cache:
            blocks = _verified_blocks(mirror=mirror, suite=suite, path=path, release=release)
            _contents_cache[digest] = contents_units(blocks)
        for package, package_units in _contents_cache[digest].items():
            units.setdefault(package, set()).update(package_units)
    return units


# --- updating the database -----------------------------------------------------------------


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
    known = state is not None and state.mirror == mirror and not force
    release = _release_fetch(mirror=mirror, suite=suite, etag=state.etag if known else "")
    if release is None:
        return IndexCounts(suite, component, arch, packages=state.package_count, unchanged=True)
    packages_path = _first_listed(release, f"{component}/binary-{arch}", PACKAGES_FILES)
    if packages_path is None:
        raise PackageIndexError(f"{mirror} has no {suite}/{component} packages for {arch}")
    contents_paths = [
        _first_listed(release, component, (f"{n}.gz", n))
        for n in (f"Contents-{arch}", "Contents-all")
    ]
    source_sha256 = _source_digest(release, [packages_path, *contents_paths])
    if known and state.source_sha256 == source_sha256:
        return IndexCounts(suite, component, arch, packages=state.package_count, unchanged=True)

    blocks = _verified_blocks(mirror=mirror, suite=suite, path=packages_path, release=release)
    rows = list(_package_rows(_stanzas(blocks), suite=suite, component=component, arch=arch))
    units = _units_for(mirror=mirror, suite=suite, component=component, arch=arch, release=release)
    for row in rows:
        row.units = sorted(units.get(row.name, ()))
    _rows_replace(suite=suite, component=component, arch=arch, rows=rows)
    # Searches cached before this no longer match (in this process, or everywhere with a
    # shared cache; elsewhere they expire within SEARCH_CACHE_SECONDS).
    cache.set(SEARCH_GENERATION_KEY, time.time_ns(), None)
    PackageIndexState.objects.update_or_create(
        suite=suite,
        component=component,
        arch=arch,
        defaults={
            "mirror": mirror,
            "updated_at": timezone.now(),
            "package_count": len(rows),
            "release_date": release.date,
            "valid_until": release.valid_until,
            "etag": release.etag,
            "source_sha256": source_sha256,
        },
    )
    return IndexCounts(
        suite,
        component,
        arch,
        packages=len(rows),
        with_units=sum(1 for row in rows if row.units),
        seconds=round(time.monotonic() - started, 2),
    )


def _rows_replace(*, suite: str, component: str, arch: str, rows: list[Package]) -> None:
    with transaction.atomic():
        Package.objects.filter(suite=suite, component=component, arch=arch).delete()
        Package.objects.bulk_create(rows, batch_size=INSERT_BATCH)
    # Fresh statistics, or the planner guesses on a table that just changed wholesale and
    # picks plans ten times slower for searches (measured on PostgreSQL).
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Package._meta.db_table}")


def package_index_targets() -> list[tuple[str, str, str]]:
    """Every (suite, component, arch) an enabled hardware profile builds from."""
    targets = {
        (profile.suite, component, profile.arch)
        for profile in HardwareProfile.objects.filter(enabled=True)
        for component in profile.components or ["main"]
    }
    return sorted(targets)


def packages_index_all(
    *, mirror: str | None = None, force: bool = False, only: Iterable[tuple[str, str, str]] = ()
) -> list[IndexCounts]:
    """Update every index the enabled profiles use (or `only` these); one failure stops none."""
    mirror = mirror or settings.GENPACK_DEBIAN_MIRROR
    results = []
    for suite, component, arch in list(only) or package_index_targets():
        try:
            results.append(
                package_index_update(
                    suite=suite, component=component, arch=arch, mirror=mirror, force=force
                )
            )
        except PackageIndexError as error:
            logger.warning("package index %s/%s/%s: %s", suite, component, arch, error)
            results.append(IndexCounts(suite, component, arch, error=str(error)))
    _contents_cache.clear()
    return results


# --- reading the index ---------------------------------------------------------------------


def _index(*, suite: str, arches: Iterable[str], components: Iterable[str]) -> QuerySet[Package]:
    return Package.objects.filter(suite=suite, arch__in=list(arches), component__in=components)


def _name_bytes() -> Collate:
    """The name in byte order, in which the names starting with a text are one range."""
    return Collate("name", "C" if connection.vendor == "postgresql" else "BINARY")


def _search_stages(text: str) -> list[Q]:
    """Conditions in rank order: names starting with the text, names containing it, then
    summaries containing every word."""
    words = text.split()
    stages = []
    if len(words) == 1:
        # Package names are [a-z0-9+.-], all below "~": this range is exactly the prefix, and
        # both databases walk it on an index (LIKE alone would need a NOCASE index on SQLite).
        stages.append(Q(name_bytes__gte=text, name_bytes__lt=text + "~", name__startswith=text))
    # Shorter text matches thousands of names and most summaries: noise, and a full scan
    # (trigram indexes need three characters).
    if len(text) >= 3:
        if len(words) == 1:
            stages.append(Q(name__contains=text))
        summary = Q()
        for word in words:
            summary &= Q(summary__icontains=word)
        stages.append(summary)
    return stages


def package_search(
    *, query: str, suite: str, arches: Iterable[str], components: Iterable[str], limit: int = 20
) -> list[PackageHit]:
    """Packages for a search-as-you-type box: the best `limit` by stage (`_search_stages`),
    shortest name first within a stage, so an exact name always leads.

    Results are cached for SEARCH_CACHE_SECONDS: everyone types the same first letters, and
    the index changes once a day. (Name checks before a save, `packages_unknown`, never are.)
    """
    text = " ".join(query.lower().split())
    arches, components = list(arches), list(components)
    if not text or not arches or not components:
        return []
    scope = (cache.get(SEARCH_GENERATION_KEY, 0), text, suite, arches, components, limit)
    key = "package_search:" + hashlib.sha256(repr(scope).encode()).hexdigest()
    hits = cache.get(key)
    if hits is None:
        hits = _search(text=text, suite=suite, arches=arches, components=components, limit=limit)
        cache.set(key, hits, SEARCH_CACHE_SECONDS)
    return hits


# name, arch, summary, version, section, installed_size, size
SearchRow = tuple[str, str, str, str, str, int, int]


def _search(
    *, text: str, suite: str, arches: list[str], components: list[str], limit: int
) -> list[PackageHit]:
    index = _index(suite=suite, arches=arches, components=components).annotate(
        name_bytes=_name_bytes()
    )
    found: dict[str, list[SearchRow]] = {}
    # A name has at most one row per (arch, component).
    rows_per_name = len(arches) * len(components)
    for condition in _search_stages(text):
        if len(found) >= limit:
            break
        rows = index.filter(condition).exclude(name__in=list(found)).order_by("name_bytes")
        # Ranking every match by length would sort 20,000 names for "l": rank the first few
        # hundred in name order instead, which holds every match once the text is specific.
        stage: dict[str, list[SearchRow]] = {}
        window = list(
            rows.values_list(
                "name", "arch", "summary", "version", "section", "installed_size", "size"
            )[: SEARCH_WINDOW * rows_per_name]
        )
        for row in window:
            stage.setdefault(row[0], []).append(row)
        if len(stage) > 1 and len(window) == SEARCH_WINDOW * rows_per_name:
            stage.popitem()  # the window may have cut off this name's rows for other arches
        for name in sorted(stage, key=lambda name: (len(name), name))[: limit - len(found)]:
            found[name] = stage[name]
    return [_hit(rows, arches) for rows in found.values()]


def _hit(rows: list[SearchRow], arches: list[str]) -> PackageHit:
    rows = sorted(rows, key=lambda row: arches.index(row[1]))
    name, _, summary, version, section, installed_size, size = rows[0]
    return PackageHit(
        name=name,
        summary=summary,
        version=version,
        section=section,
        installed_size=installed_size,
        size=size,
        arches=tuple(dict.fromkeys(row[1] for row in rows)),
    )


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
        index = _index(suite=suite, arches=[arch], components=components)
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
        rows = _index(suite=suite, arches=[arch], components=components).filter(name__in=wanted)
        sizes = {
            name: (kib, size)
            for name, kib, size in rows.values_list("name", "installed_size", "size")
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
