"""The SBOM of a real build: valid SPDX by the official validator, every installed package,
openssh-server with its version, source and licence, and the same document inside system.img
next to the copyright files it was read from."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from image_builder import BuildResult
from image_builder.sbom import SBOM_IN_IMAGE

from .test_boot_boards import system_img_file

pytestmark = pytest.mark.slow


def squashfs_listing(result: BuildResult, path: str) -> dict[str, str]:
    """Every path under `path` inside system.img -> its link target ("" when not a link),
    as `unsquashfs -lls` lists them."""
    listed = subprocess.run(
        ["unsquashfs", "-lls", "-n", str(result.artifact("system-img").path), path],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    entries = {}
    for line in listed.splitlines():
        _, found, rest = line.partition(" squashfs-root/")
        if found:
            name, _, target = rest.partition(" -> ")
            entries[name] = target
    return entries


def test_the_sbom_of_a_real_build_validates_and_lists_openssh_server(
    minimal_build: BuildResult, tmp_path: Path
) -> None:
    artifact = minimal_build.artifact("sbom")
    assert artifact.path.name == "minimal-pc-x86_64.spdx.json"
    assert validate_full_spdx_document(parse_file(str(artifact.path))) == []

    document = json.loads(artifact.path.read_text())
    packages = {p["name"]: p for p in document["packages"] if p["SPDXID"] != "SPDXRef-Image"}
    # Exactly what dpkg says is installed: the manifest's list, read with dpkg-query.
    assert set(packages) == set(minimal_build.packages)
    ssh = packages["openssh-server"]
    assert ssh["versionInfo"] == minimal_build.packages["openssh-server"]
    assert ssh["sourceInfo"].startswith("built from Debian source package openssh ")
    purl = ssh["externalRefs"][0]["referenceLocator"]
    assert purl.startswith("pkg:deb/debian/openssh-server@") and "arch=amd64" in purl
    # openssh's DEP-5 file: BSD-2-clause, BSD-3-clause (mapped), OpenSSH's own (a reference).
    licence = ssh["licenseDeclared"]
    assert {"BSD-2-Clause", "BSD-3-Clause", "LicenseRef-OpenSSH"} <= set(
        licence.replace("(", " ").replace(")", " ").split()
    ), licence
    contained = {
        r["relatedSpdxElement"]
        for r in document["relationships"]
        if r["spdxElementId"] == "SPDXRef-Image" and r["relationshipType"] == "CONTAINS"
    }
    assert contained == {p["SPDXID"] for p in packages.values()}
    image = next(p for p in document["packages"] if p["SPDXID"] == "SPDXRef-Image")
    identity = {ref["referenceType"]: ref["referenceLocator"] for ref in image["externalRefs"]}
    assert identity["genpack-spec-hash"] == minimal_build.spec_hash
    assert identity["genpack-build"] == minimal_build.build_id
    assert identity["genpack-profile"] == "pc-x86_64"
    # Most packages have a machine-readable copyright file: licences were really read.
    declared = [p for p in packages.values() if p["licenseDeclared"] != "NOASSERTION"]
    assert len(declared) > len(packages) * 0.6

    sums = minimal_build.artifact("sha256sums").path.read_text()
    assert f"{artifact.sha256}  {artifact.path.name}\n" in sums
    manifest = json.loads(minimal_build.artifact("manifest").path.read_text())
    assert {"kind": "sbom", "name": artifact.path.name, "size": artifact.size,
            "sha256": artifact.sha256} in manifest["artifacts"]  # fmt: skip
    # The image carries the same document.
    assert system_img_file(minimal_build, SBOM_IN_IMAGE, tmp_path) == artifact.path.read_bytes()


def test_the_image_keeps_the_copyright_files_and_no_other_documentation(
    minimal_build: BuildResult, tmp_path: Path
) -> None:
    docs = squashfs_listing(minimal_build, "usr/share/doc")
    # openssh-server's doc directory is Debian's link to openssh-client's (one source, one
    # copyright file): /usr/share/doc/openssh-server/copyright is that file.
    assert docs["usr/share/doc/openssh-server"] == "openssh-client"
    copyright_file = system_img_file(
        minimal_build, "usr/share/doc/openssh-client/copyright", tmp_path
    )
    assert copyright_file.startswith(b"Format: https://www.debian.org/doc/packaging-manuals/")
    assert b"License: BSD-2-clause" in copyright_file
    files = [path for path in docs if path.count("/") >= 4]  # usr/share/doc/<pkg>/<file>
    assert len(files) > 100
    assert [path for path in files if not path.endswith("/copyright")] == []
    # Links stay only where they lead to a sibling's directory.
    links = {path: target for path, target in docs.items() if target}
    assert links and all("/" not in target for target in links.values()), links
