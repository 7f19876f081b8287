"""Writes to blueprints. Every change is a new immutable revision."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from blueprints.json5_io import BlueprintSourceError, blueprint_dump, blueprint_parse
from blueprints.models import Blueprint, BlueprintRevision
from hardware_profiles.models import HardwareProfile


class BlueprintConflictError(Exception):
    """Someone saved the blueprint after this editor opened it; nothing was overwritten."""


def _targets(data: dict[str, Any]) -> list[HardwareProfile]:
    slugs = data.get("targets") or []
    profiles = {p.slug: p for p in HardwareProfile.objects.filter(slug__in=slugs)}
    unknown = [slug for slug in slugs if slug not in profiles]
    if unknown:
        raise BlueprintSourceError(f"Unknown hardware profile in targets: {', '.join(unknown)}.")
    return [profiles[slug] for slug in slugs]


def _revision_add(
    *, blueprint: Blueprint, source: str, message: str, author: AbstractBaseUser | None
) -> BlueprintRevision:
    parsed = blueprint_parse(source)
    if parsed.data["name"] != blueprint.name:
        raise BlueprintSourceError(
            f"The name in the text (“{parsed.data['name']}”) differs from this blueprint's "
            f"name (“{blueprint.name}”)."
        )
    targets = _targets(parsed.data)
    number = (blueprint.latest_revision.number if blueprint.latest_revision else 0) + 1
    revision = BlueprintRevision.objects.create(
        blueprint=blueprint,
        number=number,
        source=source,
        data=parsed.data,
        description=parsed.data.get("description", ""),
        version=parsed.data.get("version", ""),
        message=message,
        author=author,
    )
    revision.targets.set(targets)
    blueprint.latest_revision = revision
    blueprint.save(update_fields=["latest_revision"])
    return revision


@transaction.atomic
def blueprint_create(
    *,
    name: str,
    author: AbstractBaseUser | None,
    description: str = "",
    targets: list[HardwareProfile] | None = None,
) -> Blueprint:
    blueprint = Blueprint.objects.create(name=name, created_by=author)
    data: dict[str, Any] = {"name": name, "description": description, "version": "1.0"}
    data["targets"] = [profile.slug for profile in targets or []]
    data["packages"] = []
    _revision_add(
        blueprint=blueprint, source=blueprint_dump(data), message="Created", author=author
    )
    return blueprint


@transaction.atomic
def blueprint_revise(
    *,
    blueprint: Blueprint,
    source: str,
    message: str,
    author: AbstractBaseUser | None,
    based_on: int,
) -> BlueprintRevision:
    """Save `source` as the next revision, unless another save happened since `based_on`."""
    locked = Blueprint.objects.select_for_update().get(pk=blueprint.pk)
    latest = locked.latest_revision.number if locked.latest_revision else 0
    if latest != based_on:
        raise BlueprintConflictError(
            f"This blueprint changed since you opened it (now revision {latest}, you started "
            f"from {based_on}). Your text is kept below; review the latest revision and save again."
        )
    return _revision_add(blueprint=locked, source=source, message=message, author=author)
