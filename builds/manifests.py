"""Published manifests without secrets: rewrites manifest.json files written before the fix.

Builds made before the builder stopped recording password hashes, file contents, setup
commands and secret defaults in manifest.json (technicians download it) keep their files; this
rewrites each published manifest with the scrubbed spec (image_builder/secrets.py), atomically,
and updates the Artifact row's size and sha256. SHA256SUMS lists the images only, not the
manifest, so it stays as it is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from image_builder.secrets import scrub_manifest

logger = logging.getLogger(__name__)


def manifest_scrub_file(path: Path) -> tuple[int, str] | None:
    """Rewrite one manifest scrubbed; returns (size, sha256) of the new file, or None when it
    needed no change. Raises OSError / ValueError when it cannot be read or parsed."""
    raw = path.read_bytes()
    manifest = json.loads(raw)
    if not isinstance(manifest, dict):
        raise ValueError("not a JSON object")
    scrubbed = scrub_manifest(manifest)
    if scrubbed == manifest:
        return None
    data = (json.dumps(scrubbed, indent=2, sort_keys=True) + "\n").encode("utf-8")
    handle, temp = tempfile.mkstemp(prefix=".manifest.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, path.stat().st_mode & 0o777)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return len(data), hashlib.sha256(data).hexdigest()


def manifests_scrub(artifact_model: Any, artifacts_root: Path) -> dict[str, int]:
    """Scrub every published manifest; `artifact_model` is the Artifact model (the historical
    one in a migration). Missing or unreadable files are logged and skipped."""
    counts = {"scrubbed": 0, "unchanged": 0, "skipped": 0}
    for artifact in artifact_model.objects.filter(kind="manifest").order_by("pk"):
        path = Path(artifacts_root) / artifact.path
        try:
            result = manifest_scrub_file(path)
        except (OSError, ValueError) as error:
            logger.warning("manifest of build %s not scrubbed: %s", artifact.build_id, error)
            counts["skipped"] += 1
            continue
        if result is None:
            counts["unchanged"] += 1
            continue
        artifact.size, artifact.sha256 = result
        artifact.save(update_fields=["size", "sha256"])
        counts["scrubbed"] += 1
    return counts
