"""BuildSpec: the frozen, normalised input of one image build.

A build is a pure function of its spec (plus the mirror's state, recorded in the manifest), so
the spec's canonical JSON hash is the cache key. Everything that must not change that key
(mirror URL, cache and work directories, per-device system.ini values) lives elsewhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import kmods
from .boot import combination_problem
from .errors import SpecError

ARCHES = ("amd64", "arm64")
BOOT_SCHEMES = ("uefi-grub", "rpi-firmware")
PARTITION_TABLES = ("gpt", "mbr")
OUTPUT_FORMATS = ("raw", "zst", "xz", "qcow2")
COMPRESSIONS = ("xz", "gzip")
SETTING_TYPES = ("string", "int", "bool", "choice")  # as system_ini.AppSetting
# Part of every cache key: bump whenever image contents or metadata change, so specs built
# before the change are built again instead of reusing old artifacts (2: manifests without
# secrets; 3: boot schemes, MBR for the Pi, the status file without a network interface).
BUILDER_VERSION = "12"

# Debian policy 5.6.1: lower case, digits, + - . ; at least two characters, starts alphanumeric.
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.\-]+$")
# systemd unit names, including templates instances ("getty@tty1.service").
UNIT_RE = re.compile(
    r"^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\."
    r"(service|socket|timer|target|path|mount|automount|swap|slice)$"
)
ACCOUNT_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# A file's owner or group: an account of the image (packages' own, e.g. Debian-exim) or an id.
FILE_OWNER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# kernel_modules selectors: a module name or glob, a relative path glob, or an @class.
KMOD_SELECTOR_RE = re.compile(r"^[!@]?[A-Za-z0-9_*?\[][A-Za-z0-9_.*?/\[\]-]{0,199}$")
# crypt(3) hashes only ($id$...); "!" / "*" / "" mean locked or no password.
CRYPT_RE = re.compile(r"^(\$[0-9a-z]+\$[^\s:]+|[!*]?)$")
FORBIDDEN_FILE_ROOTS = ("/proc", "/sys", "/dev", "/run")
# What a product manager's `files` may not replace: the account files (and their "-" backups)
# and the appliance's own code, units and boot scripts (customize.install_device_files and
# bootchain write them). `build_files` (setup-commands permission) may.
ACCOUNT_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow")
PROTECTED_FILES = frozenset(
    {
        *ACCOUNT_FILES,
        *(f"{path}-" for path in ACCOUNT_FILES),
        "/usr/sbin/policy-rc.d",
        "/etc/ssh/sshd_config.d/genpack-host-keys.conf",
    }
)
PROTECTED_FILE_ROOTS = ("/usr/lib/genpack", "/.genpack")
# A unit (or its drop-in directory) named genpack-* in any systemd unit directory would
# replace or override one of the appliance's own units.
SYSTEMD_UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/run/systemd/system")
# Merged /usr: /bin, /sbin and /lib are symlinks into /usr, so /lib/x is /usr/lib/x.
MERGED_USR_DIRS = ("/bin", "/sbin", "/lib", "/lib64")
SPECIAL_MODE_BITS = 0o6000  # setuid, setgid

USER_DEFAULTS: dict[str, Any] = {
    "uid": None,
    "comment": "",
    "home": None,
    "shell": "/bin/bash",
    "initial_group": None,
    "additional_groups": (),
    "create_home": True,
    "password_hash": None,
    "ssh_keys": (),
}


def _sorted_unique(values: Any, field_name: str) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise SpecError(f"{field_name}: expected a list of strings")
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise SpecError(f"{field_name}: every entry must be a non-empty string, got {value!r}")
    return tuple(sorted({value.strip() for value in values}))


def _freeze(value: Any) -> Any:
    """Dicts stay dicts (JSON objects); lists become tuples, as the frozen dataclass expects."""
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, dict):
        return {key: _freeze(item) for key, item in value.items()}
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    if isinstance(value, dict):
        return {key: _thaw(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class BuildSpec:
    name: str
    version: str = ""
    description: str = ""
    profile: str = "pc"
    arch: str = "amd64"
    boot_scheme: str = "uefi-grub"
    partition_table: str = "gpt"
    suite: str = "bookworm"
    components: tuple[str, ...] = ("main",)
    kernel_package: str = "linux-image-amd64"
    firmware_packages: tuple[str, ...] = ()
    extra_packages: tuple[str, ...] = ()
    kernel_args: str = ""
    serial_console: str = ""
    capabilities: tuple[str, ...] = ()
    # Which kernel modules the board needs (image_builder/kmods.py); empty keeps them all.
    kernel_modules: tuple[str, ...] = ()
    output_formats: tuple[str, ...] = ("raw",)
    packages: tuple[str, ...] = ()
    buildtime_packages: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    groups: tuple[dict[str, Any], ...] = ()
    users: tuple[dict[str, Any], ...] = ()
    files: tuple[dict[str, Any], ...] = ()
    # Files the setup commands need: placed before they run (same permission as the commands).
    build_files: tuple[dict[str, Any], ...] = ()
    setup_commands: tuple[str, ...] = ()
    settings: tuple[dict[str, Any], ...] = ()
    compression: str = "xz"
    # Spec-format version: bump when the meaning of a field changes so old cache keys die.
    schema: int = field(default=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildSpec:
        """Build a spec from JSON-like data; unknown keys are an error, not silently dropped."""
        if not isinstance(data, dict):
            raise SpecError("a build spec must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"unknown spec field(s): {', '.join(unknown)}")
        if "name" not in data:
            raise SpecError("spec field 'name' is required")
        return cls(**{key: _freeze(value) for key, value in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _thaw(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def spec_hash(self, builder_version: str = BUILDER_VERSION) -> str:
        """SHA-256 of the builder version and the canonical JSON: the cache key. Only
        meaningful on a normalised spec."""
        keyed = f"genpack-builder {builder_version}\n{self.canonical_json()}"
        return hashlib.sha256(keyed.encode("utf-8")).hexdigest()

    def all_packages(self) -> tuple[str, ...]:
        """Packages the profile and blueprint ask for (the engine adds its own boot needs)."""
        return tuple(
            sorted(
                {self.kernel_package, *self.firmware_packages, *self.extra_packages}
                | set(self.packages)
                | set(self.buildtime_packages)
            )
        )

    def normalise(self) -> BuildSpec:
        """Validate every field and return a copy with sorted, de-duplicated lists."""
        if not isinstance(self.name, str) or not SLUG_RE.match(self.name):
            raise SpecError(f"name {self.name!r} must be a slug (a-z, 0-9, '.', '_', '-')")
        if not SLUG_RE.match(self.profile or ""):
            raise SpecError(f"profile {self.profile!r} must be a slug")
        _check_choice("arch", self.arch, ARCHES)
        _check_choice("boot_scheme", self.boot_scheme, BOOT_SCHEMES)
        _check_choice("partition_table", self.partition_table, PARTITION_TABLES)
        problem = combination_problem(self.arch, self.boot_scheme, self.partition_table)
        if problem:
            raise SpecError(f"profile {self.profile}: {problem}")
        _check_choice("compression", self.compression, COMPRESSIONS)
        if not SLUG_RE.match(self.suite or ""):
            raise SpecError(f"suite {self.suite!r} is not a Debian suite name")
        for text_field in ("version", "description", "kernel_args", "serial_console"):
            if not isinstance(getattr(self, text_field), str):
                raise SpecError(f"{text_field}: expected a string")
        # These reach one-line places: the Pi's config.txt and cmdline.txt, grub.cfg's menu
        # title and kernel line, README.TXT. A line break or control character there would
        # start a line of the blueprint's choosing in a boot file.
        for line_field in ("version", "kernel_args", "serial_console"):
            if not getattr(self, line_field).isprintable():
                raise SpecError(f"{line_field} must be one line of printable text")

        package_fields: dict[str, tuple[str, ...]] = {}
        for list_field in ("firmware_packages", "extra_packages", "packages", "buildtime_packages"):
            values = _sorted_unique(getattr(self, list_field), list_field)
            for package in values:
                if not PACKAGE_RE.match(package):
                    raise SpecError(f"{list_field}: {package!r} is not a Debian package name")
            package_fields[list_field] = values
        if not PACKAGE_RE.match(self.kernel_package or ""):
            raise SpecError(f"kernel_package {self.kernel_package!r} is not a package name")

        kernel_modules = _sorted_unique(self.kernel_modules, "kernel_modules")
        for selector in kernel_modules:
            if not KMOD_SELECTOR_RE.match(selector) or ".." in selector:
                raise SpecError(
                    f"kernel_modules: {selector!r} is not a module name, a path under the "
                    "kernel's module tree or an @class"
                )
        kmods.expand(kernel_modules)  # an unknown @class is a SpecError
        output_formats = _sorted_unique(self.output_formats, "output_formats")
        for output_format in output_formats:
            _check_choice("output_formats", output_format, OUTPUT_FORMATS)
        services = _sorted_unique(
            [
                # genpack writes bare names ("ssh"); systemd's default suffix is .service.
                name if UNIT_RE.match(name) else f"{name}.service"
                for name in _sorted_unique(self.services, "services")
            ],
            "services",
        )
        for service in services:
            if not UNIT_RE.match(service):
                raise SpecError(
                    f"services: {service!r} is not a systemd unit name (e.g. 'ssh.service')"
                )
        if not isinstance(self.setup_commands, (list, tuple)) or not all(
            isinstance(command, str) for command in self.setup_commands
        ):
            raise SpecError("setup_commands: expected a list of shell command strings")

        return dataclasses.replace(
            self,
            components=_sorted_unique(self.components, "components") or ("main",),
            capabilities=_sorted_unique(self.capabilities, "capabilities"),
            kernel_modules=kernel_modules,
            output_formats=output_formats or ("raw",),
            services=services,
            # Order matters for commands: kept as given.
            setup_commands=tuple(self.setup_commands),
            groups=_normalise_groups(self.groups),
            users=_normalise_users(self.users),
            files=_normalise_files(self.files, "files", protected=True),
            build_files=_normalise_files(self.build_files, "build_files", protected=False),
            settings=_normalise_settings(self.settings),
            **package_fields,
        )


def _check_choice(field_name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SpecError(f"{field_name}: {value!r} is not one of {', '.join(choices)}")


def _as_dict(item: Any, field_name: str) -> dict[str, Any]:
    """genpack allows a bare string for users and groups: it is the name."""
    if isinstance(item, str):
        return {"name": item}
    if not isinstance(item, dict):
        raise SpecError(f"{field_name}: expected an object or a name, got {item!r}")
    return dict(item)


def _optional_id(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 65534:
        raise SpecError(f"{what} must be an integer between 0 and 65533")
    return value


def _normalise_groups(groups: Any) -> tuple[dict[str, Any], ...]:
    result: dict[str, dict[str, Any]] = {}
    for raw in groups or ():
        group = _as_dict(raw, "groups")
        unknown = set(group) - {"name", "gid"}
        if unknown:
            raise SpecError(f"groups: unknown field(s) {', '.join(sorted(unknown))}")
        name = group.get("name")
        if not isinstance(name, str) or not ACCOUNT_RE.match(name):
            raise SpecError(f"groups: {name!r} is not a valid group name")
        result[name] = {"name": name, "gid": _optional_id(group.get("gid"), f"group {name}: gid")}
    return tuple(result[name] for name in sorted(result))


def _normalise_users(users: Any) -> tuple[dict[str, Any], ...]:
    result: dict[str, dict[str, Any]] = {}
    for raw in users or ():
        user = _as_dict(raw, "users")
        unknown = set(user) - {"name", *USER_DEFAULTS}
        if unknown:
            raise SpecError(f"users: unknown field(s) {', '.join(sorted(unknown))}")
        name = user.get("name")
        if not isinstance(name, str) or not ACCOUNT_RE.match(name):
            raise SpecError(f"users: {name!r} is not a valid user name")
        merged = {**USER_DEFAULTS, **user}
        merged["uid"] = _optional_id(merged["uid"], f"user {name}: uid")
        if merged["home"] is None:
            merged["home"] = "/root" if name == "root" else f"/home/{name}"
        password_hash = merged["password_hash"]
        if password_hash is not None and (
            not isinstance(password_hash, str) or not CRYPT_RE.match(password_hash)
        ):
            raise SpecError(
                f"user {name}: password_hash must be a crypt(3) hash such as '$6$...' or "
                "'$y$...'; plain-text passwords are not accepted"
            )
        merged["additional_groups"] = _sorted_unique(
            merged["additional_groups"], f"user {name}: additional_groups"
        )
        merged["ssh_keys"] = _sorted_unique(merged["ssh_keys"], f"user {name}: ssh_keys")
        for key in merged["ssh_keys"]:
            if "\n" in key or not key.startswith(("ssh-", "ecdsa-", "sk-")):
                raise SpecError(f"user {name}: {key[:30]!r}... is not an OpenSSH public key")
        for text_field in ("comment", "home", "shell"):
            if not isinstance(merged[text_field], str) or ":" in merged[text_field]:
                raise SpecError(f"user {name}: {text_field} must be a string without ':'")
        merged["create_home"] = bool(merged["create_home"])
        result[name] = merged
    return tuple(result[name] for name in sorted(result))


def protected_file_problem(path: str, mode: int = 0) -> str | None:
    """Why a product manager's file may not be placed at `path` with `mode`, or None."""
    if mode & SPECIAL_MODE_BITS:
        return f"{path}: setuid/setgid modes are not allowed (mode {mode:04o})"
    usr_path = path
    for directory in MERGED_USR_DIRS:
        if path.startswith(directory + "/"):
            usr_path = "/usr" + path
    if usr_path in PROTECTED_FILES or any(
        usr_path == root or usr_path.startswith(root + "/") for root in PROTECTED_FILE_ROOTS
    ):
        return f"{path} belongs to the appliance's accounts or its own code and cannot be replaced"
    if any(usr_path.startswith(directory + "/genpack-") for directory in SYSTEMD_UNIT_DIRS):
        return f"{path} would replace or override one of the appliance's own units"
    return None


def file_mode(mode: Any, path: str, field_name: str = "files") -> str:
    """'0644' from '644', '0644' or 0o644; SpecError if it is not an octal mode."""
    if isinstance(mode, int) and not isinstance(mode, bool):
        mode = f"{mode:04o}"
    if not isinstance(mode, str) or not re.fullmatch(r"0?[0-7]{3,4}", mode):
        raise SpecError(f"{field_name}: {path} mode {mode!r} must be octal like '0644'")
    return mode.zfill(4)


def _normalise_files(files: Any, field_name: str, *, protected: bool) -> tuple[dict[str, Any], ...]:
    result: dict[str, dict[str, Any]] = {}
    for raw in files or ():
        if not isinstance(raw, dict):
            raise SpecError(f"{field_name}: expected an object, got {raw!r}")
        unknown = set(raw) - {"path", "mode", "owner", "group", "content", "content_b64"}
        if unknown:
            raise SpecError(f"{field_name}: unknown field(s) {', '.join(sorted(unknown))}")
        path = raw.get("path")
        if not isinstance(path, str) or not path.startswith("/") or path.endswith("/"):
            raise SpecError(f"{field_name}: path {path!r} must be an absolute file path")
        parts = path.split("/")
        if ".." in parts or "." in parts or "" in parts[1:]:
            raise SpecError(f"{field_name}: path {path!r} must not contain '..', '.' or '//'")
        if any(path == root or path.startswith(root + "/") for root in FORBIDDEN_FILE_ROOTS):
            raise SpecError(f"{field_name}: {path} is under {', '.join(FORBIDDEN_FILE_ROOTS)}")
        has_text, has_b64 = "content" in raw, "content_b64" in raw
        if has_text == has_b64:
            raise SpecError(f"{field_name}: {path} needs exactly one of 'content' or 'content_b64'")
        mode = file_mode(raw.get("mode", "0644"), path, field_name)
        if protected and (problem := protected_file_problem(path, int(mode, 8))):
            raise SpecError(f"{field_name}: {problem}")
        owner = raw.get("owner", "root")
        group = raw.get("group", owner)
        for what, value in (("owner", owner), ("group", group)):
            if not isinstance(value, str) or not FILE_OWNER_RE.match(value):
                raise SpecError(f"{field_name}: {path} {what} {value!r} is not an account name")
        entry = {"path": path, "mode": mode, "owner": owner, "group": group}
        entry["content" if has_text else "content_b64"] = raw[
            "content" if has_text else "content_b64"
        ]
        if path in result:
            raise SpecError(f"{field_name}: {path} is listed twice")
        result[path] = entry
    return tuple(result[path] for path in sorted(result))


def _normalise_settings(settings: Any) -> tuple[dict[str, Any], ...]:
    result: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in settings or ():
        if not isinstance(raw, dict):
            raise SpecError(f"settings: expected an object, got {raw!r}")
        unknown = set(raw) - {"section", "key", "type", "default", "help", "choices"}
        if unknown:
            raise SpecError(f"settings: unknown field(s) {', '.join(sorted(unknown))}")
        section, key = raw.get("section"), raw.get("key")
        if not isinstance(section, str) or not SLUG_RE.match(section):
            raise SpecError(f"settings: section {section!r} must be a slug")
        if not isinstance(key, str) or not re.match(r"^[a-z_][a-z0-9_]*$", key):
            raise SpecError(f"settings: key {key!r} must be lower_snake_case")
        setting_type = raw.get("type", "string")
        setting_type = "string" if setting_type == "str" else setting_type
        _check_choice(f"settings {section}.{key}: type", setting_type, SETTING_TYPES)
        result[(section, key)] = {
            "section": section,
            "key": key,
            "type": setting_type,
            "default": raw.get("default"),
            "help": raw.get("help", ""),
            "choices": tuple(raw.get("choices") or ()),
        }
    return tuple(result[item] for item in sorted(result))
