"""Artifact downloads: streamed from disk in constant memory, resumable with Range.

Never through WhiteNoise (static files only). With GENPACK_X_ACCEL_PREFIX set, the view only
checks permission and lets nginx send the file (X-Accel-Redirect).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from builds import paths
from builds.models import Artifact

CHUNK = 1024 * 1024
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _file_chunks(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
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
        length = min(int(last), size)
        return (size - length, size - 1) if length else None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end and start < size else None


def artifact_response(request: HttpRequest, artifact: Artifact) -> HttpResponse:
    path = paths.artifacts_root() / artifact.path
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
        headers["X-Accel-Redirect"] = (
            settings.GENPACK_X_ACCEL_PREFIX.rstrip("/") + "/" + artifact.path
        )
        return HttpResponse(headers=headers, content_type="application/octet-stream")
    size = path.stat().st_size
    start, end = 0, size - 1
    status = 200
    range_header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if range_header and (if_range is None or if_range == etag):
        wanted = _byte_range(range_header, size)
        if wanted is None:
            headers["Content-Range"] = f"bytes */{size}"
            return HttpResponse(status=416, headers=headers)
        start, end = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if status == 200:
        # A whole file: FileResponse lets gunicorn use sendfile (no copy through Python).
        response = FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=name,
            content_type="application/octet-stream",
        )
        for header, value in headers.items():
            response[header] = value
        return response
    length = end - start + 1
    response = StreamingHttpResponse(
        _file_chunks(path, start, length),
        status=status,
        headers=headers,
        content_type="application/octet-stream",
    )
    response["Content-Length"] = str(length)
    return response
