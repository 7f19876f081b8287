from django import template
from django.template.defaultfilters import filesizeformat

register = template.Library()


@register.filter
def filesizeformat_kib(kib: int | None) -> str:
    """Debian states sizes in KiB (Installed-Size)."""
    return filesizeformat((kib or 0) * 1024)
