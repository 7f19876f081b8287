"""Login throttling (django-axes): which address a login comes from, and the lockout page."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

LOCKED_OUT_STATUS = 429  # Too Many Requests


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, unless GENPACK_BEHIND_PROXY says a trusted nginx is in front.

    Without the proxy, X-Forwarded-For is whatever the client typed, so it is ignored: a new
    made-up address per attempt must not escape the per-address lockout. Behind the proxy,
    nginx appends the address it saw (`$proxy_add_x_forwarded_for`), so the last entry is the
    real client and anything to its left may be forged.
    """
    if settings.GENPACK_BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
        if entries:
            return entries[-1]
    return request.META.get("REMOTE_ADDR", "")


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """The login page again, saying why logging in is refused and for how long."""
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    return render(
        request, "registration/locked_out.html", {"minutes": minutes}, status=LOCKED_OUT_STATUS
    )
