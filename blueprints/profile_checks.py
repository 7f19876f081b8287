"""What a hardware profile's edit page asks of the rest of the site: do its kernel and firmware
packages exist in the package index its architecture builds from, and which blueprints build
for it. The profile pages call these (hardware_profiles sits below blueprints and the package
index, so it is handed them rather than importing them itself)."""

from __future__ import annotations

from blueprints.models import Blueprint
from hardware_profiles.forms import PackagesVerdict
from hardware_profiles.models import HardwareProfile
from package_index.checks import package_index_missing, packages_unknown
from package_index.search import package_search

# The profile's fields that name packages, as the form shows them.
PACKAGE_FIELDS = ("kernel_package", "firmware_packages", "wifi_packages", "extra_packages")


def _names(profile: HardwareProfile, field: str) -> list[str]:
    value = getattr(profile, field)
    return [value] if isinstance(value, str) else list(value)


def _suggestion(name: str, profile: HardwareProfile, components: list[str]) -> str:
    hits = package_search(
        query=name, suite=profile.suite, arches=[profile.arch], components=components, limit=1
    )
    return f"{name} (did you mean {hits[0].name}?)" if hits else name


def profile_packages_check(profile: HardwareProfile) -> PackagesVerdict:
    """The package names of `profile` (saved or not) that its own index lacks, per field.

    A profile's architecture, suite and components decide the index. While that index is not
    loaded (a fresh installation, a new component) nothing is refused: the verdict names the
    package lists that were not there to check against."""
    components = list(profile.components or ["main"])
    where = {"suite": profile.suite, "arches": [profile.arch], "components": components}
    not_loaded = package_index_missing(**where)
    if not_loaded:
        return PackagesVerdict(problems={}, not_loaded=not_loaded)
    names = {field: _names(profile, field) for field in PACKAGE_FIELDS}
    unknown = set(
        packages_unknown(names=[n for ns in names.values() for n in ns], **where).get(
            profile.arch, []
        )
    )
    problems = {}
    for field, field_names in names.items():
        missing = [_suggestion(n, profile, components) for n in field_names if n in unknown]
        if missing:
            problems[field] = (
                f"Not in Debian {profile.suite} ({', '.join(components)}) for "
                f"{profile.arch}: {', '.join(missing)}."
            )
    return PackagesVerdict(problems=problems, not_loaded=[])


def blueprints_targeting(profile: HardwareProfile) -> list[str]:
    """Names of the blueprints whose latest revision builds for `profile`: the ones a change
    to it affects at their next build."""
    if profile.pk is None:
        return []
    return list(
        Blueprint.objects.filter(latest_revision__targets=profile)
        .distinct()
        .order_by("name")
        .values_list("name", flat=True)
    )
