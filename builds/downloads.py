"""Artifact downloads: streamed from disk in constant memory, resumable with Range.

Never through WhiteNoise (static files only). With GENPACK_X_ACCEL_PREFIX set, the view only
checks permission and lets nginx send the file (X-Accel-Redirect).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from builds import paths
from builds.models import Artifact

CHUNK = 1024 * 1024
RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")
# More digits than any file size has: read as "beyond the end" without parsing (int() refuses
# strings of more than 4300 digits, and a seek that far overflows).
MAX_DIGITS = 18


class ArtifactFileMissing(Http404):
    """The row exists but its file is gone (deleted by hand, or a disk was swapped)."""


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= MAX_DIGITS else 10**MAX_DIGITS


def artifact_file(artifact: Artifact) -> Path:
    """The artifact's file, resolved and confined to the artifacts root (Http404 otherwise).

    A row is trusted no more than the engine that reported it: `..`, an absolute path or a
    symlink leading out of the root never reach the disk or nginx.
    """
    root = paths.artifacts_root().resolve()
    if "\0" in artifact.path:
        raise Http404("No such file.")
    path = (root / artifact.path).resolve()
    if path == root or not path.is_relative_to(root):
        raise Http404("No such file.")
    return path


def _file_chunks(handle: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) for one `bytes=` range; None when it cannot be satisfied."""
    match = RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # suffix: the last N bytes
        length = min(_number(last), size)
        return (size - length, size - 1) if length else None
    start = _number(first)
    end = min(_number(last), size - 1) if last else size - 1
    return (start, end) if start <= end and start < size else None


def artifact_response(request: HttpRequest, artifact: Artifact) -> HttpResponse:
    """Raises Http404 for a path outside the artifacts root, ArtifactFileMissing (a 404 the
    view explains) when the file is gone."""
    path = artifact_file(artifact)
    name = Path(artifact.path).name
    etag = f'"{artifact.sha256}"'
    headers = {
        "Content-Disposition": content_disposition_header(True, name),
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-transform",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("If-None-Match") == etag:
        return HttpResponse(status=304, headers=headers)
    if settings.GENPACK_X_ACCEL_PREFIX:
        # The confined, normalised path: nginx never sees a `..` from a row.
        relative = path.relative_to(paths.artifacts_root().resolve()).as_posix()
        headers["X-Accel-Redirect"] = settings.GENPACK_X_ACCEL_PREFIX.rstrip("/") + "/" + relative
        return HttpResponse(headers=headers, content_type="application/octet-stream")
    try:
        handle = path.open("rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise ArtifactFileMissing(f"{name} is no longer on disk.") from None
    size = os.fstat(handle.fileno()).st_size
    start, end = 0, size - 1
    status = 200
    range_header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if range_header and (if_range is None or if_range == etag):
        wanted = _byte_range(range_header, size)
        if wanted is None:
            handle.close()
            headers["Content-Range"] = f"bytes */{size}"
            return HttpResponse(status=416, headers=headers)
        start, end = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if status == 200:
        # A whole file: FileResponse lets gunicorn use sendfile (no copy through Python).
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=name,
            content_type="application/octet-stream",
        )
        for header, value in headers.items():
            response[header] = value
        return response
    length = end - start + 1
    response = StreamingHttpResponse(
        _file_chunks(handle, start, length),
        status=status,
        headers=headers,
        content_type="application/octet-stream",
    )
    response["Content-Length"] = str(length)
    return response
