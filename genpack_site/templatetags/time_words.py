"""Times as people say them: "just now", "5 minutes ago" (a builtin, see settings.TEMPLATES)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """ "just now" under a minute (never "0 minutes ago"), otherwise "3 hours, 5 minutes ago"."""
    if moment is None:
        return ""
    now = now or timezone.now()
    if now - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now)} ago"
