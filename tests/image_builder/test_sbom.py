"""The SBOM from a small tree: dpkg's status file and copyright files as Debian writes them,
checked by the official SPDX validator (spdx-tools)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from image_builder import BuildSpec
from image_builder.sbom import (
    dep5_licences,
    sbom_document,
    spdx_expression,
    write_sbom,
)
from image_builder.trim import trim_docs

from .conftest import minimal_spec_data

DEP5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
STATUS = """\
Package: openssh-server
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: foreign
Source: openssh (1:9.2p1-2+deb12u3)
Version: 1:9.2p1-2+deb12u3
Maintainer: Debian OpenSSH Maintainers <debian-ssh@lists.debian.org>
Homepage: https://www.openssh.com/
Description: secure shell (SSH) server, for secure access from remote machines
 This is the portable version of OpenSSH, a free implementation of
 the Secure Shell protocol.

Package: libstdc++6
Status: install ok installed
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14
Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>
Description: GNU Standard C++ Library v3

Package: libbar1
Status: install ok installed
Architecture: amd64
Source: bar
Version: 2.0-1
Maintainer: Jane Doe <jane@example.org>
Description: the bar library

Package: libbar-data
Status: install ok installed
Architecture: all
Source: bar
Version: 2.0-1
Description: data of the bar library

Package: base-files
Essential: yes
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5
Maintainer: Santiago Vila <sanvila@debian.org>
Description: Debian base system miscellaneous files

Package: oldpackage
Status: deinstall ok config-files
Architecture: amd64
Version: 0.1-1
Description: removed, its configuration files left
"""
OPENSSH_COPYRIGHT = (
    DEP5
    + """Upstream-Name: OpenSSH
Source: https://www.openssh.com/portable.html

Files: *
Copyright: Tatu Ylonen <ylo@cs.hut.fi>
License: OpenSSH

Files: ssh-keyscan.c
Copyright: 1995, 1996 David Mazieres <dm@lcs.mit.edu>
License: Mazieres-BSD-style

Files: openbsd-compat/*
Copyright: 1999-2005 The OpenBSD project
License: BSD-2-clause

Files: scp.c
Copyright: 1999 Theo de Raadt
License: BSD-3-clause

Files: debian/*
Copyright: Colin Watson <cjwatson@debian.org>
License: GPL-2+ or Artistic, and BSD-3-clause

Files: openbsd-compat/base64.c
Copyright: 1996 by Internet Software Consortium
License: public-domain

License: OpenSSH
 Permission to use, copy, ... the full text, which must not reach the SBOM.

License: BSD-2-clause
 Redistribution and use in source and binary forms ...
"""
)
BAR_COPYRIGHT = DEP5 + "\nFiles: *\nCopyright: 2020 Jane Doe\nLicense: Expat\n"
GCC_COPYRIGHT = "This is the Debian GNU/Linux prepackaged version of the GNU compiler.\n"


def fake_tree(root: Path) -> Path:
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(STATUS)
    docs = root / "usr/share/doc"
    for package, text in (
        ("openssh-server", OPENSSH_COPYRIGHT),
        ("libstdc++6", GCC_COPYRIGHT),
        ("libbar1", BAR_COPYRIGHT),
    ):
        (docs / package).mkdir(parents=True)
        (docs / package / "copyright").write_text(text)
    # libbar-data's doc directory was a link to libbar1's (dpkg's path-excludes drop the
    # link), base-files has none at all.
    return root


def spec() -> BuildSpec:
    return BuildSpec.from_dict(minimal_spec_data()).normalise()


def validated(document: dict, tmp_path: Path) -> None:
    path = write_sbom(document, tmp_path / "sbom.spdx.json")
    assert validate_full_spdx_document(parse_file(str(path))) == []


def by_name(document: dict) -> dict[str, dict]:
    return {p["name"]: p for p in document["packages"] if p["SPDXID"] != "SPDXRef-Image"}


def test_sbom_of_a_tree_lists_each_installed_package_and_validates(tmp_path: Path) -> None:
    root = fake_tree(tmp_path / "root")
    document = sbom_document(spec(), root, "42")
    validated(document, tmp_path)

    packages = by_name(document)
    assert set(packages) == {"openssh-server", "libstdc++6", "libbar1", "libbar-data", "base-files"}
    ssh = packages["openssh-server"]
    assert ssh["versionInfo"] == "1:9.2p1-2+deb12u3"
    assert ssh["sourceInfo"] == "built from Debian source package openssh 1:9.2p1-2+deb12u3"
    assert (
        ssh["supplier"] == "Organization: Debian OpenSSH Maintainers (debian-ssh@lists.debian.org)"
    )
    assert ssh["homepage"] == "https://www.openssh.com/"
    assert ssh["summary"].startswith("secure shell (SSH) server")
    assert ssh["externalRefs"] == [
        {
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": "pkg:deb/debian/openssh-server@1%3A9.2p1-2%2Bdeb12u3"
            "?arch=amd64&distro=bookworm&upstream=openssh",
        }
    ]
    assert ssh["licenseDeclared"] == (
        "LicenseRef-OpenSSH AND LicenseRef-Mazieres-BSD-style AND BSD-2-Clause AND BSD-3-Clause"
        " AND ((GPL-2.0-or-later OR Artistic-1.0-Perl) AND BSD-3-Clause)"
        " AND LicenseRef-public-domain"
    )
    # No source field: the source is the binary package; no copyright file: NOASSERTION.
    assert packages["base-files"]["sourceInfo"].endswith("base-files 12.4+deb12u5")
    assert packages["base-files"]["licenseDeclared"] == "NOASSERTION"
    # A copyright file that is not machine-readable declares nothing we can map.
    assert packages["libstdc++6"]["licenseDeclared"] == "NOASSERTION"
    assert packages["libstdc++6"]["SPDXID"] == "SPDXRef-deb-libstdc-6-amd64"
    assert (
        "libstdc%2B%2B6@12.2.0-14" in packages["libstdc++6"]["externalRefs"][0]["referenceLocator"]
    )
    # A package without its own copyright file takes its source package's.
    assert packages["libbar1"]["licenseDeclared"] == "MIT"
    assert packages["libbar-data"]["licenseDeclared"] == "MIT"
    assert packages["libbar1"]["supplier"] == "Person: Jane Doe (jane@example.org)"
    assert "arch=all" in packages["libbar-data"]["externalRefs"][0]["referenceLocator"]
    # Each LicenseRef is declared, with its Debian name, and no licence text of the file.
    extracted = {e["licenseId"]: e for e in document["hasExtractedLicensingInfos"]}
    assert set(extracted) == {
        "LicenseRef-OpenSSH", "LicenseRef-Mazieres-BSD-style", "LicenseRef-public-domain"
    }  # fmt: skip
    assert extracted["LicenseRef-public-domain"]["name"] == "public-domain"
    assert "must not reach" not in json.dumps(document)


def test_the_image_is_the_described_package_and_contains_every_package(tmp_path: Path) -> None:
    build_spec = spec()
    document = sbom_document(build_spec, fake_tree(tmp_path / "root"), "42")
    assert document["spdxVersion"] == "SPDX-2.3"
    assert document["documentDescribes"] == ["SPDXRef-Image"]
    image = document["packages"][0]
    assert image["SPDXID"] == "SPDXRef-Image"
    assert (image["name"], image["versionInfo"]) == ("minimal", "1.0")
    assert image["primaryPackagePurpose"] == "OPERATING-SYSTEM"
    identity = {ref["referenceType"]: ref["referenceLocator"] for ref in image["externalRefs"]}
    assert identity == {
        "genpack-profile": "pc-x86_64",
        "genpack-arch": "amd64",
        "genpack-spec-hash": build_spec.spec_hash(),
        "genpack-build": "42",
    }
    relations = {(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
                 for r in document["relationships"]}  # fmt: skip
    assert ("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image") in relations
    contained = {r[2] for r in relations if r[:2] == ("SPDXRef-Image", "CONTAINS")}
    assert contained == {p["SPDXID"] for p in by_name(document).values()}
    assert document["documentNamespace"].startswith(
        f"https://genpack-site.invalid/spdx/{build_spec.spec_hash()}/42-"
    )
    again = sbom_document(build_spec, tmp_path / "root", "42")
    assert again["documentNamespace"] != document["documentNamespace"]


def test_the_sbom_carries_no_password_hash_and_no_file_contents(tmp_path: Path) -> None:
    data = minimal_spec_data()
    data["files"] = [{"path": "/etc/app/secret.conf", "content": "token=file-content-xyz\n"}]
    data["settings"] = [{"section": "app", "key": "db_password", "default": "setting-pw-xyz"}]
    document = sbom_document(
        BuildSpec.from_dict(data).normalise(), fake_tree(tmp_path / "root"), "7"
    )
    text = json.dumps(document)
    assert data["users"][0]["password_hash"] not in text and "$6$" not in text
    assert "file-content-xyz" not in text and "setting-pw-xyz" not in text


def test_a_tree_without_dpkg_status_gives_a_valid_document_of_the_image_alone(
    tmp_path: Path,
) -> None:
    (tmp_path / "root").mkdir()
    document = sbom_document(spec(), tmp_path / "root", "local")
    assert [p["SPDXID"] for p in document["packages"]] == ["SPDXRef-Image"]
    validated(document, tmp_path)


@pytest.mark.parametrize(
    ("debian", "spdx"),
    [
        ("GPL-2+", "GPL-2.0-or-later"),
        ("GPL-2.0+", "GPL-2.0-or-later"),
        ("GPL-2", "GPL-2.0-only"),
        ("GPL-2.0", "GPL-2.0-only"),
        ("GPL-3.0-or-later", "GPL-3.0-or-later"),
        ("LGPL-2.1+", "LGPL-2.1-or-later"),
        ("LGPL-2+", "LGPL-2.0-or-later"),
        ("LGPL-3", "LGPL-3.0-only"),
        ("AGPL-3+", "AGPL-3.0-or-later"),
        ("GFDL-1.3+", "GFDL-1.3-or-later"),
        ("BSD-3-clause", "BSD-3-Clause"),
        ("BSD-2-clause", "BSD-2-Clause"),
        ("Expat", "MIT"),
        ("Apache-2.0", "Apache-2.0"),
        ("Apache-2", "Apache-2.0"),
        ("MPL-2.0", "MPL-2.0"),
        ("ISC", "ISC"),
        ("Zlib", "Zlib"),
        ("zlib", "Zlib"),
        ("Artistic", "Artistic-1.0-Perl"),
        ("Artistic-2.0", "Artistic-2.0"),
        ("CC0", "CC0-1.0"),
        ("public-domain", "LicenseRef-public-domain"),
        ("GPL-1+ or Artistic", "GPL-1.0-or-later OR Artistic-1.0-Perl"),
        ("GPL-2+ and BSD-3-clause", "GPL-2.0-or-later AND BSD-3-Clause"),
        (
            "GPL-2+ or Artistic, and BSD-3-clause",
            "(GPL-2.0-or-later OR Artistic-1.0-Perl) AND BSD-3-Clause",
        ),
        ("GPL-3+ with Autoconf exception", "GPL-3.0-or-later WITH Autoconf-exception-3.0"),
        ("GPL-2+ with Autoconf exception", "GPL-2.0-or-later WITH Autoconf-exception-2.0"),
        ("GPL-3+ with Bison exception", "GPL-3.0-or-later WITH Bison-exception-2.2"),
        ("Apache-2.0 with LLVM exception", "Apache-2.0 WITH LLVM-exception"),
        ("GPL-2+ with OpenSSL exception", "LicenseRef-GPL-2-with-OpenSSL-exception"),
        ("GPL-4+", "LicenseRef-GPL-4"),
        ("LGPL", "LicenseRef-LGPL"),
        ("Some Vendor's Licence (v2)", "LicenseRef-Some-Vendor-s-Licence-v2"),
    ],
)
def test_debian_licence_names_map_to_spdx(debian: str, spdx: str) -> None:
    refs: dict[str, str] = {}
    assert spdx_expression(debian, refs) == spdx
    assert set(refs) == {word for word in spdx.split() if word.startswith("LicenseRef-")}


def test_unknown_licences_become_declared_references_and_the_document_validates(
    tmp_path: Path,
) -> None:
    root = fake_tree(tmp_path / "root")
    weird = DEP5 + "\nFiles: *\nCopyright: 2024 X\nLicense: Vendor+Licence (v2) or GPL-2+\n"
    (root / "usr/share/doc/libbar1/copyright").write_text(weird)
    document = sbom_document(spec(), root, "1")
    assert by_name(document)["libbar1"]["licenseDeclared"] == (
        "LicenseRef-Vendor-Licence-v2 OR GPL-2.0-or-later"
    )
    extracted = {e["licenseId"]: e for e in document["hasExtractedLicensingInfos"]}
    assert extracted["LicenseRef-Vendor-Licence-v2"]["name"] == "Vendor+Licence (v2)"
    assert extracted["LicenseRef-Vendor-Licence-v2"]["extractedText"]
    validated(document, tmp_path)


def test_only_machine_readable_copyright_files_declare_licences() -> None:
    assert dep5_licences(GCC_COPYRIGHT) is None
    assert dep5_licences("") is None
    old_url = "Format: http://www.debian.org/doc/packaging-manuals/copyright-format/1.0\n"
    assert dep5_licences(old_url + "\nFiles: *\nLicense: ISC\n") == ["ISC"]
    draft = "Format-Specification: http://svn.debian.org/wsvn/dep/web/deps/dep5.mdwn?rev=135\n"
    assert dep5_licences(draft + "\nFiles: *\nLicense: GPL-2+\n") == ["GPL-2+"]
    # Only the header names a licence: it is the package's.
    assert dep5_licences(DEP5 + "License: MIT\n") == ["MIT"]
    # Stand-alone License paragraphs only hold texts; Files stanzas name the licences.
    assert dep5_licences(OPENSSH_COPYRIGHT) == [
        "OpenSSH", "Mazieres-BSD-style", "BSD-2-clause", "BSD-3-clause",
        "GPL-2+ or Artistic, and BSD-3-clause", "public-domain",
    ]  # fmt: skip


def test_copyright_links_are_followed_inside_the_tree_not_on_the_host(tmp_path: Path) -> None:
    root = fake_tree(tmp_path / "root")
    (root / "usr/share/common").mkdir(parents=True)
    (root / "usr/share/common/bar").write_text(DEP5 + "\nFiles: *\nLicense: ISC\n")
    target = root / "usr/share/doc/libbar1/copyright"
    target.unlink()
    target.symlink_to("/usr/share/common/bar")  # absolute: means the image's /usr/share
    assert by_name(sbom_document(spec(), root, "1"))["libbar1"]["licenseDeclared"] == "ISC"
    (root / "at-the-root").write_text(DEP5 + "\nFiles: *\nLicense: Zlib\n")
    target.unlink()
    target.symlink_to("../../../../../../../../at-the-root")  # ".." stops at the tree's root
    assert by_name(sbom_document(spec(), root, "1"))["libbar1"]["licenseDeclared"] == "Zlib"


def test_trim_keeps_only_the_copyright_files_of_the_documentation(tmp_path: Path) -> None:
    docs = tmp_path / "usr/share/doc"
    (docs / "foo/examples").mkdir(parents=True)
    (docs / "foo/copyright").write_text(DEP5)
    (docs / "foo/changelog.Debian.gz").write_bytes(b"x")
    (docs / "foo/examples/a.conf").write_text("x")
    (docs / "bar").mkdir()
    (docs / "bar/README").write_text("x")
    (docs / "foo-dev").symlink_to("foo")
    (docs / "stray.txt").write_text("x")
    assert trim_docs(tmp_path) == 4
    left = sorted(str(p.relative_to(docs)) for p in docs.rglob("*"))
    assert left == ["foo", "foo-dev", "foo/copyright"]
