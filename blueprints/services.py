"""Writes to blueprints. Every change is a new immutable revision; nothing is overwritten."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from blueprints.checks import (
    NAME_PATTERN,
    MoreChecks,
    blueprint_check,
    blueprint_parse,
    build_host_code,
)
from blueprints.diff import FieldDiff, revision_diff
from blueprints.json5_io import BlueprintSourceError, blueprint_dump, json5_load, storable_check
from blueprints.limits import revision_limits_check
from blueprints.models import Blueprint, BlueprintRevision
from blueprints.preflight import revision_problems
from blueprints.problems import blueprint_parse_all
from blueprints.secrets import source_with_secrets
from hardware_profiles.models import HardwareProfile

SETUP_COMMANDS_PERMISSION = "blueprints.run_setup_commands"


class BlueprintConflictError(Exception):
    """Someone saved the blueprint after this editor opened it; nothing was overwritten."""


class BuildHostCodeError(BlueprintSourceError):
    """The change touches setup commands or build files, which the author may not change."""


def _where(group: str, name: str) -> str:
    if not group:
        return "at the top level"
    return f"in {'arch' if group == 'arch' else 'variant'} “{name}”"


def build_host_code_check(
    *, author: AbstractBaseUser | None, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """Refuse a revision whose build-host code (setup commands, build files, in any layer)
    differs from the revision it is based on, unless the author may run setup commands.
    `author` None is the system itself (management commands, tests), which may."""
    if author is None or author.has_perm(SETUP_COMMANDS_PERMISSION):
        return
    old, new = build_host_code(before), build_host_code(after)
    changed = [where for where in dict.fromkeys([*old, *new]) if old.get(where) != new.get(where)]
    if changed:
        raise BuildHostCodeError(
            "Setup commands and build files run as root on the build host, and changing them "
            "needs the “run setup commands” permission, which your account does not have. "
            f"This change touches them {', '.join(_where(*where) for where in changed)}. "
            "Nothing was saved: leave setup_commands and build_files as they are, or ask an "
            "admin to make this change."
        )


def _preflight(source: str, before: dict[str, Any] | None) -> MoreChecks:
    """Pre-flight as part of the checks, so its problems come with the others, all at once."""
    return lambda data: revision_problems(data, source=source, before=before)


def _targets(data: dict[str, Any]) -> list[HardwareProfile]:
    slugs = data.get("targets") or []
    profiles = {p.slug: p for p in HardwareProfile.objects.filter(slug__in=slugs)}
    unknown = [slug for slug in slugs if slug not in profiles]
    if unknown:
        known = ", ".join(HardwareProfile.objects.values_list("slug", flat=True))
        raise BlueprintSourceError(
            f"Unknown hardware profile in targets: {', '.join(unknown)}. Known: {known}."
        )
    return [profiles[slug] for slug in slugs]


def _revision_add(
    *,
    blueprint: Blueprint,
    source: str,
    data: dict[str, Any],
    message: str,
    author: AbstractBaseUser | None,
) -> BlueprintRevision:
    if data["name"] != blueprint.name:
        raise BlueprintSourceError(
            f"The name in the text (“{data['name']}”) differs from this blueprint's "
            f"name (“{blueprint.name}”)."
        )
    # Every write path ends here: what is stored must fit the limits and be importable again.
    revision_limits_check(source, data)
    storable_check(data)
    previous = blueprint.latest_revision
    build_host_code_check(author=author, before=previous.data if previous else {}, after=data)
    targets = _targets(data)
    number = (blueprint.latest_revision.number if blueprint.latest_revision else 0) + 1
    revision = BlueprintRevision.objects.create(
        blueprint=blueprint,
        number=number,
        source=source,
        data=data,
        description=data.get("description", ""),
        version=data.get("version", ""),
        # The message quotes what was posted (a path to remove...): keep it storable text.
        message=re.sub("[\x00\ud800-\udfff]", "\ufffd", message)[:200],
        author=author,
    )
    revision.targets.set(targets)
    blueprint.latest_revision = revision
    blueprint.save(update_fields=["latest_revision"])
    return revision


def _locked_latest(blueprint: Blueprint, based_on: int) -> Blueprint:
    locked = Blueprint.objects.select_for_update().get(pk=blueprint.pk)
    latest = locked.latest_revision.number if locked.latest_revision else 0
    if latest != based_on:
        raise BlueprintConflictError(
            f"This blueprint changed since you opened it (now revision {latest}, you started "
            f"from {based_on}). Your changes were not saved; reload to see the latest revision "
            "and make them again."
        )
    return locked


def _create(
    *, name: str, source: str, data: dict[str, Any], message: str, author: AbstractBaseUser | None
) -> Blueprint:
    if not NAME_PATTERN.match(name):
        raise BlueprintSourceError("Use lower-case letters, digits and hyphens for the name.")
    with transaction.atomic():
        try:
            with transaction.atomic():  # only the name's uniqueness means "exists already"
                blueprint = Blueprint.objects.create(name=name, created_by=author)
        except IntegrityError:
            raise BlueprintSourceError(f"A blueprint named “{name}” exists already.") from None
        _revision_add(blueprint=blueprint, source=source, data=data, message=message, author=author)
    return blueprint


def blueprint_create(
    *,
    name: str,
    author: AbstractBaseUser | None,
    description: str = "",
    targets: list[HardwareProfile] | None = None,
) -> Blueprint:
    data: dict[str, Any] = {"name": name, "description": description, "version": "1.0"}
    data["targets"] = [profile.slug for profile in targets or []]
    data["packages"] = []
    source = blueprint_dump(data)
    blueprint_check(data, source=source, more=_preflight(source, None))
    return _create(name=name, source=source, data=data, message="Created", author=author)


@transaction.atomic
def blueprint_revise(
    *,
    blueprint: Blueprint,
    source: str,
    message: str,
    author: AbstractBaseUser | None,
    based_on: int,
) -> BlueprintRevision:
    """Save JSON5 `source` as the next revision, unless another save happened since `based_on`.

    Secret placeholders (the source editor shows them instead of secrets) are replaced by
    the values the latest revision stores at the same places; comments are kept."""
    locked = _locked_latest(blueprint, based_on)
    stored = locked.latest_revision.data if locked.latest_revision else {}
    source = source_with_secrets(source, stored)
    parsed = blueprint_parse(source, more=_preflight(source, stored))
    return _revision_add(
        blueprint=locked, source=source, data=parsed.data, message=message, author=author
    )


@transaction.atomic
def blueprint_update(
    *,
    blueprint: Blueprint,
    changes: dict[str, Any],
    message: str,
    author: AbstractBaseUser | None,
    based_on: int,
) -> BlueprintRevision:
    """Apply one editor section's `changes` (top-level fields; None deletes) as a revision."""
    locked = _locked_latest(blueprint, based_on)
    data = dict(locked.latest_revision.data)
    for key, value in changes.items():
        if value is None or value == [] or value == {}:
            data.pop(key, None)
        else:
            data[key] = value
    source = blueprint_dump(data)
    blueprint_check(data, source=source, more=_preflight(source, locked.latest_revision.data))
    return _revision_add(blueprint=locked, source=source, data=data, message=message, author=author)


def blueprint_import(
    *, source: str, author: AbstractBaseUser | None, name: str | None = None
) -> tuple[Blueprint, list[str]]:
    """Create a blueprint from genpack.json5 text; `name` imports it as a copy under that name.

    The text is stored exactly as given (comments included) unless it is renamed.
    Returns the blueprint and the warnings about ignored genpack-only fields.
    """
    # Pre-flight does not read the name: the lines it names are those of the text as given.
    parsed = blueprint_parse_all(source, more=_preflight(source, None))
    data = parsed.data
    if name and name != data["name"]:
        data = {**data, "name": name}
        blueprint_check(data)
        source = blueprint_dump(data)
    blueprint = _create(
        name=data["name"], source=source, data=data, message="Imported", author=author
    )
    return blueprint, parsed.warnings


@transaction.atomic
def blueprint_restore(
    *, blueprint: Blueprint, number: int, author: AbstractBaseUser | None, based_on: int
) -> BlueprintRevision:
    """Make an old revision the latest again (as a new revision; history is kept)."""
    locked = _locked_latest(blueprint, based_on)
    old = locked.revisions.get(number=number)
    # Today's rules, e.g. protected file paths, and today's package index.
    blueprint_check(
        old.data, source=old.source, more=_preflight(old.source, locked.latest_revision.data)
    )
    return _revision_add(
        blueprint=locked,
        source=old.source,
        data=old.data,
        message=f"Restored revision {number}",
        author=author,
    )


@dataclass
class ImportPreview:
    """What saving an imported genpack.json5 over a blueprint would change; nothing is saved.

    `based_on` is the revision compared against: the save is refused if another revision was
    saved since. `source` and `data` are what would be stored (secrets kept by placeholders
    put back, the name set to the blueprint's)."""

    blueprint: Blueprint
    based_on: int
    source: str
    data: dict[str, Any]
    diffs: list[FieldDiff]
    warnings: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        latest = self.blueprint.latest_revision
        return latest is not None and latest.source.strip() == self.source.strip()


def _import_preview(
    blueprint: Blueprint, source: str, author: AbstractBaseUser | None
) -> ImportPreview:
    latest = blueprint.latest_revision
    stored = latest.data if latest else {}
    # An export made without secrets keeps them by placeholder, as in the JSON5 editor.
    source = source_with_secrets(source, stored)
    parsed = blueprint_parse_all(source)  # every problem at once, each with its line
    data, warnings = parsed.data, list(parsed.warnings)
    if data["name"] != blueprint.name:
        warnings.append(
            f"The file is for “{data['name']}”; it is saved as a new revision of "
            f"“{blueprint.name}” (the name in the text is changed, its comments are dropped)."
        )
        data = {**data, "name": blueprint.name}
        blueprint_check(data)
        source = blueprint_dump(data)
    build_host_code_check(author=author, before=stored, after=data)
    _targets(data)  # an unknown target is refused now, not at the save
    return ImportPreview(
        blueprint=blueprint,
        based_on=latest.number if latest else 0,
        source=source,
        data=data,
        diffs=revision_diff(stored, data),
        warnings=warnings,
    )


def blueprint_import_preview(
    *, blueprint: Blueprint, source: str, author: AbstractBaseUser | None
) -> ImportPreview:
    """Check genpack.json5 `source` as the next revision of `blueprint` and say what would
    change. Raises BlueprintSourceError (BlueprintProblems: every problem with its line)."""
    blueprint.refresh_from_db()
    return _import_preview(blueprint, source, author)


@transaction.atomic
def blueprint_import_update(
    *, blueprint: Blueprint, source: str, author: AbstractBaseUser | None, based_on: int
) -> BlueprintRevision:
    """Save imported `source` as a new revision of `blueprint`, after the person saw the
    preview made from revision `based_on`; BlueprintConflictError if one was saved since."""
    locked = _locked_latest(blueprint, based_on)
    preview = _import_preview(locked, source, author)
    return _revision_add(
        blueprint=locked,
        source=preview.source,
        data=preview.data,
        message="Imported from genpack.json5",
        author=author,
    )


def blueprint_import_existing(*, source: str, name: str | None = None) -> Blueprint | None:
    """The blueprint an import would collide with: the one named `name`, or the one the text
    names; None when there is none (or the text does not say, the import then tells why)."""
    if not name:
        try:
            data = json5_load(source)
        except BlueprintSourceError:
            return None
        name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str):
        return None
    return Blueprint.objects.filter(name=name).first()
