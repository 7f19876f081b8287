"""Search-as-you-type over the package index, ranked so an exact name always leads."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.db.models import Q
from django.db.models.functions import Collate

from package_index.models import packages_of

SEARCH_WINDOW = 200
SEARCH_CACHE_SECONDS = 300
SEARCH_GENERATION_KEY = "package_search:generation"


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


def search_cache_invalidate() -> None:
    """Searches cached before now no longer match: in this process, or everywhere with a
    shared cache; elsewhere they expire within SEARCH_CACHE_SECONDS."""
    cache.set(SEARCH_GENERATION_KEY, time.time_ns(), None)


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
    index = packages_of(suite=suite, arches=arches, components=components).annotate(
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
