"""The permission check views use: a refusal is an ordinary answer, not an error."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

View = Callable[..., HttpResponse]


def permission_required(permission: str) -> Callable[[View], View]:
    """Django's `permission_required(..., raise_exception=True)`, answering with the 403 page
    itself: Django logs a raised PermissionDenied with its traceback, and someone opening a page
    their role lacks is not a fault worth one (the log keeps its one "Forbidden" line)."""

    def decorator(view: View) -> View:
        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(permission):
                return render(request, "403.html", status=403)
            return view(request, *args, **kwargs)

        return checked

    return decorator
