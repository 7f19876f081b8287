"""The one process harness of the test suite and the benchmarks (bench/ imports it too).

Real parts only: a Debian mirror served over HTTP on 127.0.0.1 from a directory tree.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import lzma
import threading
from collections.abc import Iterable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_DATA = ROOT / "tests" / "data" / "debian"
SUITE = "bookworm"


# --- a fake Debian mirror ------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def release_write(dists: Path, *, arches: Iterable[str] = ("amd64", "arm64")) -> None:
    """A Release file listing every index file's SHA-256, as the archive software writes it."""
    lines = [f"Origin: Debian\nSuite: oldstable\nCodename: {dists.name}"]
    lines += ["Date: Sat, 11 Jul 2026 10:16:37 UTC", "Valid-Until: Sat, 18 Jul 2026 10:16:37 UTC"]
    lines += [f"Architectures: {' '.join(arches)}", "Components: main", "SHA256:"]
    for path in sorted(p for p in dists.rglob("*") if p.is_file() and p.name != "Release"):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        lines.append(f" {digest} {len(data):8} {path.relative_to(dists)}")
    (dists / "Release").write_text("\n".join(lines) + "\n")


@contextlib.contextmanager
def mirror_serve(root: Path) -> Iterator[str]:
    """`root` (holding debian/dists/...) served over real HTTP; yields the mirror's URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/debian"
    finally:
        server.shutdown()
        server.server_close()


def _arm64_packages(text: str) -> str:
    """The same archive for arm64, less the one package that exists only on PCs."""
    stanzas = text.strip().split("\n\n")
    return "\n\n".join(s for s in stanzas if "Package: intel-microcode\n" not in s) + "\n"


def mirror_tree(root: Path) -> Path:
    """bookworm/main for amd64 and arm64 under `root`/debian/dists; returns the suite's dir."""
    dists = root / "debian" / "dists" / SUITE
    packages = (DEBIAN_DATA / "Packages").read_text()
    for arch, text in (("amd64", packages), ("arm64", _arm64_packages(packages))):
        binary = dists / "main" / f"binary-{arch}"
        binary.mkdir(parents=True)
        (binary / "Packages.xz").write_bytes(lzma.compress(text.encode()))
        (binary / "Packages.gz").write_bytes(gzip.compress(text.encode()))
    contents = gzip.compress((DEBIAN_DATA / "Contents-amd64").read_bytes())
    for arch in ("amd64", "arm64"):
        (dists / "main" / f"Contents-{arch}.gz").write_bytes(contents)
    (dists / "main" / "Contents-all.gz").write_bytes(
        gzip.compress((DEBIAN_DATA / "Contents-all").read_bytes())
    )
    release_write(dists)
    return dists
