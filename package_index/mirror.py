"""Reading a Debian mirror: the Release file, and the index files it lists, verified.

Every file is checked against the SHA-256 the Release file lists, as apt does. (apt also checks
the Release file's OpenPGP signature; the mirror here is the one the builds trust already.)
No Django here: this module knows HTTP and Debian's file formats only.
"""

from __future__ import annotations

import hashlib
import http.client
import lzma
import re
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus

HTTP_TIMEOUT = 60
CHUNK = 1 << 20
# The first of these that the Release file lists is read: xz is the smallest download.
PACKAGES_FILES = ("Packages.xz", "Packages.gz", "Packages")
UNIT_DIR = b"lib/systemd/system/"
# A Contents line: path, spaces, comma-separated `[component/]section/package` names.
UNIT_LINE = re.compile(
    rb"(?:usr/)?lib/systemd/system/([^/\s]+\.(?:service|socket|timer))[ \t]+(\S+)[ \t]*"
)
PACKAGE_FIELDS = frozenset(
    {
        "Package",
        "Version",
        "Installed-Size",
        "Size",
        "Section",
        "Description",
        "Provides",
        "Depends",
        "Pre-Depends",
        "Essential",
    }
)


class PackageIndexError(Exception):
    """The mirror could not be read, or what it sent does not match its Release file."""


@dataclass(frozen=True)
class Release:
    date: datetime | None
    valid_until: datetime | None
    etag: str
    sha256: dict[str, tuple[str, int]] = field(default_factory=dict)  # path → (digest, size)


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


def release_fetch(*, mirror: str, suite: str, etag: str) -> Release | None:
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


def verified_blocks(*, mirror: str, suite: str, path: str, release: Release) -> Iterator[bytes]:
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


def first_listed(release: Release, component: str, names: Iterable[str]) -> str | None:
    return next((f"{component}/{n}" for n in names if f"{component}/{n}" in release.sha256), None)


# --- parsing -------------------------------------------------------------------------------


def stanzas(blocks: Iterable[bytes]) -> Iterator[dict[str, str]]:
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


def depends_parse(*values: str) -> list[str]:
    """`a (>= 1) | b, c:any` → ["a", "c"]: of each alternative the first, the one apt installs
    when none is there yet (recommends are not installed in images)."""
    names = set()
    for value in values:
        for item in value.split(","):
            first = item.split("|")[0].split("(")[0].split("[")[0].strip().split(":")[0]
            if first:
                names.add(first)
    return sorted(names)


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
