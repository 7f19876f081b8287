"""The image's software bill of materials: an SPDX 2.3 JSON document.

Why SPDX 2.3 rather than CycloneDX 1.5: SPDX is an ISO standard (ISO/IEC 5962:2021) made for
exactly this question, "which packages under which licences", and its licence expressions are
what Debian's machine-readable copyright files (DEP-5) already speak: DEP-5 short names map
one to one onto SPDX identifiers (GPL-2+ -> GPL-2.0-or-later, Expat -> MIT), and what has no
identifier becomes a declared ``LicenseRef-...``. The official validator (PyPI ``spdx-tools``)
checks the whole document in the tests. CycloneDX would serve a vulnerability scanner as well
(both carry purls), but is weaker on licences, the point of keeping ``copyright`` in the image.

One SPDX package per installed Debian package (from the tree's dpkg status: name, version,
architecture, source package, maintainer as supplier, a ``pkg:deb`` purl) with the licence its
``/usr/share/doc/<package>/copyright`` declares; plus the image itself, the package the
document describes, which CONTAINS every one of them. Nothing from the blueprint goes in but
its identity (name, version, profile, arch, spec hash, build id): no file contents, no users,
no hashes, no system.ini values.

Standard library only, like the rest of the engine.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .spec import BUILDER_VERSION, BuildSpec
from .treefiles import resolve_in_tree

SBOM_IN_IMAGE = ".genpack/sbom.spdx.json"
NAMESPACE_BASE = "https://genpack-site.invalid/spdx"
NOASSERTION = "NOASSERTION"
DEP5_FORMAT_RE = re.compile(r"copyright-format/1\.0|/dep5\b|dep-5", re.IGNORECASE)

# Debian's short names (DEP-5 "Short names" and what packages write in practice) that are not
# spelled like their SPDX identifier. Keys are lower case.
DEBIAN_NAMES = {
    "expat": "MIT",
    "artistic": "Artistic-1.0-Perl",  # DEP-5: "Artistic" is Perl's Artistic License
    "artistic-1": "Artistic-1.0",
    "artistic-2": "Artistic-2.0",
    "apache-2": "Apache-2.0",
    "apache-1.1": "Apache-1.1",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause",
    "cc0": "CC0-1.0",
    "mpl-1.1": "MPL-1.1",
    "mpl-2": "MPL-2.0",
    "psf-2": "PSF-2.0",
    "python-2": "Python-2.0",
    "zlib": "Zlib",
    "boost-1.0": "BSL-1.0",
    "boost": "BSL-1.0",
    "wtfpl": "WTFPL",
    "unicode-dfs-2016": "Unicode-DFS-2016",
    "sil-ofl-1.1": "OFL-1.1",
}
# SPDX identifiers that Debian copyright files use as they are (matched without case).
SPDX_IDS = (
    "0BSD", "AFL-2.1", "Apache-1.1", "Apache-2.0", "Artistic-1.0", "Artistic-1.0-Perl",
    "AFL-2.0", "Artistic-2.0", "Beerware", "Bitstream-Vera", "BSD-1-Clause", "BSD-2-Clause",
    "BSD-3-Clause", "BSD-3-Clause-Clear", "BSD-4-Clause", "BSD-4-Clause-UC", "BSL-1.0",
    "bzip2-1.0.6", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-2.5", "CC-BY-SA-3.0", "CC-BY-SA-4.0",
    "CC0-1.0", "CDDL-1.0", "CPL-1.0", "curl", "EPL-1.0", "EPL-2.0", "FSFAP", "FSFUL",
    "FSFULLR", "FTL", "GD", "HPND", "ICU", "IJG", "ISC", "Jam", "Kazlib", "Latex2e", "Libpng",
    "libpng-2.0", "libtiff", "MIT", "MIT-0", "MIT-CMU", "MPL-1.0", "MPL-1.1", "MPL-2.0",
    "Ms-PL", "NTP", "OFL-1.1", "OLDAP-2.8", "OpenSSL", "PHP-3.01", "PostgreSQL", "PSF-2.0",
    "Python-2.0", "RSA-MD", "Ruby", "Sendmail", "Sleepycat", "Spencer-86", "TCL",
    "TCP-wrappers", "Unicode-DFS-2016", "Unlicense", "Vim", "W3C", "WTFPL", "X11", "Zlib",
    "ZPL-2.1",
)  # fmt: skip
SPDX_BY_LOWER = {name.lower(): name for name in SPDX_IDS}
# The GNU licences: Debian writes GPL-2, GPL-2+, GPL-2.0+, LGPL-2.1+, GFDL-1.3+ ...
GNU_RE = re.compile(
    r"^(?P<family>AGPL|LGPL|GPL|GFDL)-?(?P<version>\d(?:\.\d)?)"
    r"(?P<suffix>\+|-or-later|-only)?$",
    re.IGNORECASE,
)
GNU_VERSIONS = {
    "GPL": {"1": "1.0", "2": "2.0", "3": "3.0"},
    "LGPL": {"2": "2.0", "2.1": "2.1", "3": "3.0"},
    "AGPL": {"1": "1.0", "3": "3.0"},
    "GFDL": {"1.1": "1.1", "1.2": "1.2", "1.3": "1.3"},
}
# "X with Y exception": the exceptions on SPDX's list, keyed by Debian's word for them (lower).
EXCEPTIONS = {
    "autoconf": {"2.0": "Autoconf-exception-2.0", "3.0": "Autoconf-exception-3.0"},
    "bison": {"": "Bison-exception-2.2"},
    "classpath": {"": "Classpath-exception-2.0"},
    "font": {"": "Font-exception-2.0"},
    "gcc": {"": "GCC-exception-3.1"},
    "gcc-runtime-library": {"": "GCC-exception-3.1"},
    "gcc-runtime-3.1": {"": "GCC-exception-3.1"},
    "bison-2.2": {"": "Bison-exception-2.2"},
    "libtool": {"": "Libtool-exception"},
    "linux-syscall-note": {"": "Linux-syscall-note"},
    "llvm": {"": "LLVM-exception"},
}
WITH_RE = re.compile(r"^(?P<licence>\S+)\s+with\s+(?P<exception>.+?)\s+exception$", re.IGNORECASE)
OPERATOR_RE = re.compile(r"\s+(and|or)\s+", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Debian licence names -> SPDX licence expressions
# --------------------------------------------------------------------------------------------


def licence_ref(name: str) -> str:
    """LicenseRef-<name> with only the characters an SPDX idstring allows."""
    cleaned = re.sub(r"[^A-Za-z0-9.]+", "-", name).strip("-.") or "unknown"
    return f"LicenseRef-{cleaned}"


def spdx_licence_id(name: str) -> str | None:
    """The SPDX identifier of one Debian short licence name, None if it has none."""
    if name.startswith("LicenseRef-"):
        return None
    lower = name.lower()
    if lower in DEBIAN_NAMES:
        return DEBIAN_NAMES[lower]
    if lower in SPDX_BY_LOWER:
        return SPDX_BY_LOWER[lower]
    match = GNU_RE.match(name)
    if match:
        family = match["family"].upper()
        number = match["version"]
        version = GNU_VERSIONS[family].get(number) or GNU_VERSIONS[family].get(
            number.removesuffix(".0")
        )
        if version is not None:
            later = match["suffix"] in ("+", "-or-later")
            return f"{family}-{version}-{'or-later' if later else 'only'}"
    return None


def _simple_term(term: str, refs: dict[str, str]) -> str:
    """One licence, possibly "X with Y exception", as SPDX; unknown ones become a LicenseRef
    recorded in `refs` (LicenseRef -> the Debian name, for the extracted licensing info)."""
    term = term.strip()
    match = WITH_RE.match(term)
    if match:
        licence = spdx_licence_id(match["licence"])
        word = match["exception"].strip().lower().replace(" ", "-")
        versions = EXCEPTIONS.get(word, {})
        version = licence.split("-")[1] if licence else ""
        exception = versions.get(version) or versions.get("")
        if licence and exception:
            return f"{licence} WITH {exception}"
    else:
        licence = spdx_licence_id(term)
        if licence:
            return licence
    ref = licence_ref(term)
    refs.setdefault(ref, term)
    return ref


def _join(terms: list[str], operator: str) -> str:
    return f" {operator} ".join(terms)


def spdx_expression(debian: str, refs: dict[str, str]) -> str:
    """A DEP-5 License synopsis ("GPL-2+ or Artistic", "GPL-2+ or Artistic, and BSD-3-clause")
    as an SPDX licence expression. DEP-5 and SPDX agree that "and" binds tighter than "or";
    a comma ends a group that binds loosest, so each comma group gets parentheses."""
    groups: list[tuple[str, str]] = []  # (operator joining it to what came before, expression)
    for index, part in enumerate(re.split(r",\s*", debian.strip())):
        operator = "AND"
        if index:
            head, _, rest = part.partition(" ")
            if head.lower() in ("and", "or"):
                operator, part = head.upper(), rest
        tokens = OPERATOR_RE.split(part.strip())
        terms = [_simple_term(tokens[0], refs)]
        for word, term in zip(tokens[1::2], tokens[2::2], strict=True):
            terms += [word.upper(), _simple_term(term, refs)]
        groups.append((operator, " ".join(terms)))
    if len(groups) == 1:
        return groups[0][1]
    expression = ""
    for operator, text in groups:
        wrapped = f"({text})" if " " in text else text
        expression = f"{expression} {operator} {wrapped}" if expression else wrapped
    return expression


def combine(expressions: Iterable[str]) -> str:
    """The licences of every Files stanza together: all of them apply (AND)."""
    unique = list(dict.fromkeys(e for e in expressions if e))
    if not unique:
        return NOASSERTION
    if len(unique) == 1:
        return unique[0]
    return _join([f"({e})" if " " in e else e for e in unique], "AND")


# --------------------------------------------------------------------------------------------
# deb822: dpkg's status file and DEP-5 copyright files
# --------------------------------------------------------------------------------------------


def paragraphs(text: str) -> Iterator[dict[str, str]]:
    """deb822 paragraphs as {field (lower case): value}; continuation lines are kept with
    their line breaks, the first line of a value is its synopsis."""
    fields: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, current = {}, ""
        elif line.startswith("#"):
            continue
        elif line[0] in " \t":
            if current:
                fields[current] += "\n" + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            current = name.strip().lower()
            fields[current] = value.strip()
    if fields:
        yield fields


def dep5_licences(text: str) -> list[str] | None:
    """The License synopses of a machine-readable copyright file's Files stanzas (the header's
    when no Files stanza names one); None when the file is not machine-readable."""
    found = list(paragraphs(text))
    if not found:
        return None
    header = found[0]
    format_url = header.get("format") or header.get("format-specification") or ""
    if not DEP5_FORMAT_RE.search(format_url):
        return None
    names = [
        stanza["license"].split("\n", 1)[0].strip()
        for stanza in found[1:]
        if "files" in stanza and stanza.get("license")
    ]
    if not names and header.get("license"):
        names = [header["license"].split("\n", 1)[0].strip()]
    return [name for name in names if name]


@dataclass(frozen=True)
class DebPackage:
    name: str
    version: str
    architecture: str
    source: str
    source_version: str
    maintainer: str = ""
    homepage: str = ""
    summary: str = ""


def installed_debs(root: Path) -> list[DebPackage]:
    """Installed packages of the tree, from its dpkg status file, sorted by name."""
    text = read_in_tree(root, "var/lib/dpkg/status")
    if text is None:
        return []
    found = []
    for stanza in paragraphs(text):
        name, version = stanza.get("package", ""), stanza.get("version", "")
        if not name or not version or not stanza.get("status", "").endswith(" installed"):
            continue
        source, _, source_version = stanza.get("source", "").partition(" ")
        found.append(
            DebPackage(
                name=name,
                version=version,
                architecture=stanza.get("architecture", ""),
                source=source or name,
                source_version=source_version.strip("()") or version,
                maintainer=stanza.get("maintainer", ""),
                homepage=stanza.get("homepage", ""),
                summary=stanza.get("description", "").split("\n", 1)[0],
            )
        )
    return sorted(found, key=lambda p: (p.name, p.architecture))


def read_in_tree(root: Path, relative: str) -> str | None:
    """A text file of the tree, its links followed as the image would: never a file of the
    build host."""
    path = resolve_in_tree(root, relative)
    try:
        return (
            path.read_text(encoding="utf-8", errors="replace") if path and path.is_file() else None
        )
    except OSError:
        return None


def copyright_text(root: Path, package: str) -> str | None:
    return read_in_tree(root, f"usr/share/doc/{package}/copyright")


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------


def spdx_id(prefix: str, name: str, used: set[str]) -> str:
    base = f"SPDXRef-{prefix}-" + (re.sub(r"[^A-Za-z0-9.]+", "-", name).strip("-") or "x")
    candidate, number = base, 1
    while candidate in used:
        number += 1
        candidate = f"{base}-{number}"
    used.add(candidate)
    return candidate


def supplier(maintainer: str) -> str:
    """dpkg's "Name <mail>" as an SPDX actor; a team is an organisation."""
    match = re.match(r"^\s*(?P<name>[^<]*?)\s*(?:<(?P<mail>[^>]*)>)?\s*$", maintainer)
    name = re.sub(r"[()]", "", match["name"] if match else "").strip()
    if not name:
        return NOASSERTION
    team = re.search(r"maintainers|team|group|project|list", name, re.IGNORECASE)
    mail = match["mail"] if match and match["mail"] else ""
    return f"{'Organization' if team else 'Person'}: {name}" + (f" ({mail})" if mail else "")


def purl(package: DebPackage, suite: str) -> str:
    qualifiers = [f"arch={quote(package.architecture, safe='')}"]
    if suite:
        qualifiers.append(f"distro={quote(suite, safe='')}")
    if package.source != package.name:
        qualifiers.append(f"upstream={quote(package.source, safe='')}")
    return (
        f"pkg:deb/debian/{quote(package.name, safe='')}@{quote(package.version, safe='')}"
        f"?{'&'.join(qualifiers)}"
    )


def package_licences(root: Path, debs: list[DebPackage], refs: dict[str, str]) -> dict[str, str]:
    """Package name -> declared licence. A package whose own copyright file is missing (its doc
    directory was a link to a sibling's) takes its source's: Debian writes copyright per
    source package."""
    by_name: dict[str, str] = {}
    by_source: dict[tuple[str, str], str] = {}
    for deb in debs:
        text = copyright_text(root, deb.name)
        if text is None:
            continue
        names = dep5_licences(text)
        declared = combine(spdx_expression(n, refs) for n in names) if names else NOASSERTION
        by_name[deb.name] = declared
        if declared != NOASSERTION:
            by_source.setdefault((deb.source, deb.source_version), declared)
    return {
        deb.name: by_name.get(deb.name) or by_source.get((deb.source, deb.source_version))
        or NOASSERTION
        for deb in debs
    }  # fmt: skip


def image_package(spec: BuildSpec, build_id: str, created: str) -> dict:
    title = f"{spec.name} {spec.version}".strip()
    identity = {
        "genpack-profile": spec.profile,
        "genpack-arch": spec.arch,
        "genpack-spec-hash": spec.spec_hash(),
        "genpack-build": build_id,
    }
    return {
        "SPDXID": "SPDXRef-Image",
        "name": spec.name,
        "versionInfo": spec.version or f"build {build_id}",
        "primaryPackagePurpose": "OPERATING-SYSTEM",
        "supplier": NOASSERTION,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "builtDate": created,
        "description": f"Appliance image {title} for {spec.profile} ({spec.arch}), "
        f"Debian {spec.suite}.",
        "comment": f"genpack-site build {build_id}, blueprint {spec.name}, version "
        f"{spec.version or '-'}, profile {spec.profile}, arch {spec.arch}, spec hash "
        f"{spec.spec_hash()}, builder version {BUILDER_VERSION}.",
        "externalRefs": [
            {"referenceCategory": "OTHER", "referenceType": kind, "referenceLocator": value}
            for kind, value in identity.items()
            if value and not re.search(r"\s", value)
        ],
    }


def sbom_document(
    spec: BuildSpec,
    root: Path,
    build_id: str,
    *,
    created: str | None = None,
    namespace: str | None = None,
) -> dict:
    """The SPDX 2.3 document (a JSON-ready dict) for the tree at `root`."""
    created = created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    namespace = (
        namespace
        or f"{NAMESPACE_BASE}/{spec.spec_hash()}/{quote(build_id, safe='')}-{uuid.uuid4()}"
    )
    debs = installed_debs(root)
    refs: dict[str, str] = {}
    licences = package_licences(root, debs, refs)
    used = {"SPDXRef-DOCUMENT", "SPDXRef-Image"}
    packages = [image_package(spec, build_id, created)]
    relationships = [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": "SPDXRef-Image",
        }
    ]
    for deb in debs:
        element = spdx_id("deb", f"{deb.name}-{deb.architecture}", used)
        package = {
            "SPDXID": element,
            "name": deb.name,
            "versionInfo": deb.version,
            "supplier": supplier(deb.maintainer),
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": False,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": licences[deb.name],
            "copyrightText": NOASSERTION,
            "sourceInfo": f"built from Debian source package {deb.source} {deb.source_version}",
            "summary": deb.summary,
            "comment": f"architecture {deb.architecture}",
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": purl(deb, spec.suite),
                }
            ],
        }
        if re.fullmatch(r"https?://[^\s]+", deb.homepage):
            package["homepage"] = deb.homepage
        if not deb.summary:
            del package["summary"]
        packages.append(package)
        relationships.append(
            {
                "spdxElementId": "SPDXRef-Image",
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": element,
            }
        )
    document = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{spec.name}-{spec.profile}-{build_id}",
        "documentNamespace": namespace,
        "creationInfo": {
            "created": created,
            "creators": [f"Tool: genpack-site-image-builder-{BUILDER_VERSION}"],
        },
        "documentDescribes": ["SPDXRef-Image"],
        "packages": packages,
        "relationships": relationships,
    }
    if refs:
        document["hasExtractedLicensingInfos"] = [
            {
                "licenseId": ref,
                "name": name,
                "extractedText": f"The licence Debian's machine-readable copyright files name "
                f'"{name}"; its text is in /usr/share/doc/<package>/copyright of the image.',
            }
            for ref, name in sorted(refs.items())
        ]
    return document


def write_sbom(document: dict, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target
