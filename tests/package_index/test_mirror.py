"""Debian's file formats: Release, Provides, Contents."""

from __future__ import annotations

from package_index.mirror import contents_units, depends_parse, provides_parse, release_parse
from tests.harness import DEBIAN_DATA as DATA


def test_provides_drops_versions_and_arch_qualifiers() -> None:
    assert provides_parse("foo (= 1.0), bar:any,baz ,") == ["bar", "baz", "foo"]


def test_release_parse_reads_dates_and_hashes() -> None:
    release = release_parse(
        "Date: Sat, 11 Jul 2026 10:16:37 UTC\nSHA256:\n abc 12 main/binary-amd64/Packages.xz\n"
    )
    assert release.valid_until is None
    assert release.sha256 == {"main/binary-amd64/Packages.xz": ("abc", 12)}


def test_contents_units_survive_any_block_boundary() -> None:
    text = (DATA / "Contents-amd64").read_bytes()
    expected = contents_units([text])
    for cut in range(0, len(text), 37):
        # Blocks always end at a line end (see _verified_blocks): split like that.
        head_end = text.rfind(b"\n", 0, cut) + 1
        assert contents_units([text[:head_end], text[head_end:]]) == expected


def test_depends_keep_the_first_alternative_without_versions_or_arch_qualifiers() -> None:
    assert depends_parse("libc6 (>= 2.34)", "debconf (>= 0.5) | debconf-2.0, python3:any, ") == [
        "debconf",
        "libc6",
        "python3",
    ]
