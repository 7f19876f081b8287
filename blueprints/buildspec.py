"""A blueprint revision merged for one hardware profile: the BuildSpec the engine receives.

genpack's merge order is top level → arch → variant; lists append, and an entry "-x" removes
"x" (also from the packages a profile would add). The result is normalised by the engine's own
rules, so its hash is a stable cache key. system_ini values are not part of it (BLUEPRINT.md).
"""

from __future__ import annotations

from typing import Any

from hardware_profiles.models import HardwareProfile
from image_builder.errors import SpecError
from image_builder.spec import BuildSpec

# genpack names architectures the Gentoo way; accept those and Debian's.
ARCH_ALIASES = {"amd64": ("amd64", "x86_64"), "arm64": ("arm64", "aarch64")}
MERGED_LISTS = ("packages", "buildtime_packages", "services", "setup_commands")
UNIT_SUFFIXES = (".service", ".socket", ".timer", ".target", ".path", ".mount", ".automount")


def unit_name(service: str) -> str:
    """genpack lists services without a suffix; systemd's default suffix is .service."""
    name = service.lstrip("-")
    prefix = service[: len(service) - len(name)]
    return prefix + (name if name.endswith(UNIT_SUFFIXES) else f"{name}.service")


def _merge_list(base: list[str], extra: list[str]) -> list[str]:
    merged = list(base)
    for item in extra:
        if item.startswith("-"):
            merged = [kept for kept in merged if kept != item[1:]]
        elif item not in merged:
            merged.append(item)
    return merged


def _layers(data: dict[str, Any], arch: str, variant: str | None) -> list[dict[str, Any]]:
    layers = [data]
    for name in ARCH_ALIASES.get(arch, (arch,)):
        layer = (data.get("arch") or {}).get(name)
        if isinstance(layer, dict):
            layers.append(layer)
    if variant:
        layer = (data.get("variants") or {}).get(variant)
        if not isinstance(layer, dict):
            raise SpecError(f"variant {variant!r} is not defined in this blueprint")
        layers.append(layer)
    return layers


def user_entry(entry: Any) -> Any:
    """genpack spells the hash `password`; here only crypt hashes are ever stored."""
    if isinstance(entry, dict) and "password" in entry:
        entry = dict(entry)
        entry["password_hash"] = entry.pop("password")
    return entry


def buildspec_for(
    data: dict[str, Any], profile: HardwareProfile, *, variant: str | None = None
) -> BuildSpec:
    """Merge blueprint `data` for `profile`; raises SpecError with a message for the user."""
    lists: dict[str, list[str]] = {name: [] for name in MERGED_LISTS}
    scalars: dict[str, Any] = {}
    users: list[Any] = []
    groups: list[Any] = []
    files: list[Any] = []
    build_files: list[Any] = []
    settings: list[Any] = []
    removed: set[str] = set()  # "-name": also removes what the profile would add on its own
    for layer in _layers(data, profile.arch, variant):
        removed |= {item[1:] for item in layer.get("packages") or [] if item.startswith("-")}
        for name in MERGED_LISTS:
            lists[name] = _merge_list(lists[name], layer.get(name) or [])
        users += [user_entry(user) for user in layer.get("users") or []]
        groups += layer.get("groups") or []
        files += layer.get("files") or []
        build_files += layer.get("build_files") or []
        settings += layer.get("settings") or []
        for name in ("description", "version", "compression"):
            if name in layer:
                scalars[name] = layer[name]

    if profile.kernel_package in removed:
        raise SpecError(
            f"the kernel package {profile.kernel_package} of {profile} cannot be removed"
        )
    spec = BuildSpec(
        name=data["name"],
        version=scalars.get("version", ""),
        description=scalars.get("description", ""),
        profile=profile.slug,
        arch=profile.arch,
        boot_scheme=profile.boot_scheme,
        partition_table=profile.partition_table,
        suite=profile.suite,
        components=tuple(profile.components),
        kernel_package=profile.kernel_package,
        # The radio's firmware only on a board with Wi-Fi (HardwareProfile.board_firmware).
        firmware_packages=tuple(p for p in profile.board_firmware if p not in removed),
        extra_packages=tuple(p for p in profile.extra_packages if p not in removed),
        kernel_args=profile.kernel_args,
        serial_console=profile.serial_console,
        capabilities=tuple(profile.capabilities),
        kernel_modules=tuple(profile.kernel_modules),
        output_formats=tuple(profile.output_formats),
        packages=tuple(lists["packages"]),
        buildtime_packages=tuple(lists["buildtime_packages"]),
        services=tuple(unit_name(service) for service in lists["services"]),
        groups=tuple(groups),
        users=tuple(users),
        files=tuple(files),
        build_files=tuple(build_files),
        setup_commands=tuple(lists["setup_commands"]),
        settings=tuple(settings),
        compression=scalars.get("compression", "xz"),
    )
    return spec.normalise()
