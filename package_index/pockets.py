"""A release and its update pockets: `<suite>`, `<suite>-updates`, `<suite>-security`.

The pockets are indexed as suites of their own (Package.suite = "bookworm-security"), loaded
by the same update as the release. Only "updates available" reads them: search, pre-flight and
the other checks ask for the release's suite by name, so pocket rows never show there.
"""

from __future__ import annotations

from django.conf import settings

UPDATES = "updates"
SECURITY = "security"
POCKETS = (UPDATES, SECURITY)


def suites_indexed(suite: str) -> list[str]:
    """The suites loaded for a profile's `suite`: the release, then its pockets."""
    return [suite, *(f"{suite}-{pocket}" for pocket in POCKETS)]


def pocket_of(suite: str) -> str:
    """ "security" or "updates" for a pocket's suite name, "" for a release."""
    return next((pocket for pocket in POCKETS if suite.endswith(f"-{pocket}")), "")


def suite_mirror(
    suite: str, *, mirror: str | None = None, security_mirror: str | None = None
) -> str:
    """Where `suite` is published: -security on the security archive, the rest (the release
    and -updates) on the Debian mirror; None: the settings the builder is handed too."""
    if pocket_of(suite) == SECURITY:
        return security_mirror or settings.GENPACK_DEBIAN_SECURITY_MIRROR
    return mirror or settings.GENPACK_DEBIAN_MIRROR
