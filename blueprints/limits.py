"""How big a blueprint may be: the one place the limits live, checked on every write path.

Every way of writing a blueprint (editor sections, the JSON5 source editor, import by upload
or paste, restore, create) ends in `blueprints.services._revision_add`, which checks the source
it is about to store and the data with `revision_limits_check`; text is checked against
`source_size_check` before it is parsed, and uploads against the byte limits before they are read.
"""

from __future__ import annotations

import math
from typing import Any

from blueprints.errors import BlueprintSourceError

KIB = 1024
MIB = 1024 * KIB
MAX_SOURCE_BYTES = 1 * MIB  # the blueprint as JSON5, as typed, uploaded or written by the dumper
MAX_PACKAGES = 2000  # packages + buildtime_packages, over the top level and every arch/variant
MAX_FILES = 200  # files, over the top level and every arch/variant
MAX_FILE_BYTES = 256 * KIB  # one file's content: typed, uploaded, or content_b64 decoded
MAX_DEPTH = 40  # nesting of objects and lists; real blueprints need about 6
MAX_LAYERS = 64  # entries of arch and variants together; each is checked like a blueprint
# Values of every kind (texts, numbers, lists, objects): bounds the checks that walk them and
# the duplicate-key scan (2,000 packages and 200 files with their fields are about 3,500).
MAX_VALUES = 20_000
# CPU a parse may take. The parser is linear and its input is capped at MAX_SOURCE_BYTES, which
# bounds the work up front (about 0.1 s for the worst 1 MiB); only the slow library that words
# an error message runs in a subprocess that the kernel stops at this limit (json5_io).
PARSE_CPU_SECONDS = 2
# Integers beyond 64 bits mean nothing in a blueprint and cannot be written back as text
# beyond Python's 4,300-digit limit; refused with the line rather than failing at save time.
MAX_INTEGER = 2**63 - 1


def size_text(size: int) -> str:
    """A byte count as people read it: 512 bytes, 256 KiB, 1.3 MiB."""
    if size >= MIB:
        return f"{size / MIB:.2f}".rstrip("0").rstrip(".") + " MiB"
    if size >= KIB:
        return f"{math.ceil(size / KIB)} KiB"
    return f"{size} bytes"


def source_size_check(source: str) -> None:
    if len(source) * 4 <= MAX_SOURCE_BYTES:
        return  # each character is at most 4 bytes: no need to encode
    # Lone surrogates cannot be stored (refused elsewhere) but must not break the count.
    size = len(source.encode("utf-8", errors="surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise BlueprintSourceError(
            f"The blueprint is {size_text(size)} as JSON5; at most {size_text(MAX_SOURCE_BYTES)} "
            "is allowed. Keep big files out of it, e.g. install them with a package."
        )


def file_content_bytes(entry: dict[str, Any]) -> int:
    """Bytes the file will have in the image: UTF-8 text, or base64 decoded (counted, not run)."""
    content = entry.get("content")
    if isinstance(content, str):
        return len(content.encode("utf-8", errors="surrogatepass"))
    encoded = entry.get("content_b64")
    if isinstance(encoded, str):
        stripped = "".join(encoded.split())
        return len(stripped) * 3 // 4 - stripped[-2:].count("=")
    return 0


def file_size_check(path: str, size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise BlueprintSourceError(
            f"The file {path} is {size_text(size)}; a file in a blueprint may have at most "
            f"{size_text(MAX_FILE_BYTES)}. Ship bigger files in a package."
        )


def _layers(data: dict[str, Any]) -> list[dict[str, Any]]:
    layers = [data]
    for group in ("arch", "variants"):
        if isinstance(data.get(group), dict):
            layers += [layer for layer in data[group].values() if isinstance(layer, dict)]
    return layers


def _items(layer: dict[str, Any], key: str) -> list[Any]:
    value = layer.get(key)
    return value if isinstance(value, list) else []


def value_count_check(data: Any) -> None:
    """Stops counting at the limit, so that a list of a million zeros costs nothing."""
    count, pending = 0, [data]
    while pending:
        value = pending.pop()
        count += 1
        if count > MAX_VALUES:
            raise BlueprintSourceError(
                f"The blueprint has more than {MAX_VALUES:,} values (texts, numbers, lists and "
                "objects); no appliance needs that many."
            )
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def data_limits_check(data: dict[str, Any]) -> None:
    """Counts and file sizes over the whole blueprint (shapes are checked elsewhere)."""
    value_count_check(data)
    layers = _layers(data)
    if len(layers) - 1 > MAX_LAYERS:
        raise BlueprintSourceError(
            f"The blueprint has {len(layers) - 1} arch and variants entries; at most "
            f"{MAX_LAYERS} are allowed."
        )
    kinds = ("packages", "buildtime_packages")
    packages = sum(len(_items(layer, kind)) for layer in layers for kind in kinds)
    if packages > MAX_PACKAGES:
        raise BlueprintSourceError(
            f"The blueprint lists {packages} packages; at most {MAX_PACKAGES} are allowed "
            "(over packages, buildtime_packages, arch and variants)."
        )
    files = [entry for layer in layers for entry in _items(layer, "files")]
    if len(files) > MAX_FILES:
        raise BlueprintSourceError(
            f"The blueprint has {len(files)} files; at most {MAX_FILES} are allowed "
            "(over files, arch and variants)."
        )
    for entry in files:
        if isinstance(entry, dict):
            file_size_check(str(entry.get("path", "?"))[:200], file_content_bytes(entry))


def revision_limits_check(source: str, data: dict[str, Any]) -> None:
    """What every stored revision must keep to, so that it can be saved and imported again."""
    source_size_check(source)
    data_limits_check(data)
