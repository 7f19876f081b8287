"""Step 2: make the tree the blueprint's appliance.

The engine's own device files (agent, units), then the blueprint's
groups, users, build files, setup commands and services, then buildtime packages go away.
The blueprint's `files` come last of all (place_product_files, called just before the tree is
packed): after every command that runs inside the tree, so none of them can be replaced by
one, and written from the host (treefiles), never by a shell of the tree.
"""

from __future__ import annotations

import base64
import json
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

from .chroot import Chroot
from .errors import BuildError
from .runner import Runner
from .spec import BuildSpec, protected_file_problem
from .treefiles import Tree, TreePathError

STEP = "customize"
FILES_STEP = "files"
ENGINE_SERVICES = (
    "systemd-networkd.service",
    "systemd-resolved.service",
    "genpack-agent.service",
    "genpack-status.service",
    "genpack-ssh-keygen.service",
)
# The engine's own units (appliance/units/): installed in every image, enabled as the spec needs.
DEVICE_UNITS = (
    "genpack-agent.service",
    "genpack-status.service",
    "genpack-ssh-keygen.service",
    "genpack-wifi.service",
)
# Debian's wpa_supplicant.service is its D-Bus service (for NetworkManager); the agent runs the
# client itself (genpack-wifi.service), and images have no D-Bus daemon.
DEBIAN_WIFI_UNIT = "wpa_supplicant.service"
# e2fsprogs' scrub of ext4 volumes on LVM (snapshot, check, drop the snapshot) and its reaper of
# stale snapshots: without lvm2 there is nothing to scrub, and the reaper starts at every boot.
LVM_ONLY_UNITS = ("e2scrub_reap.service", "e2scrub_all.timer")
LVM_TOOL = "usr/sbin/lvcreate"
UNIT_DIRS = ("etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system")
# Keeps maintainer scripts of packages purged or installed by setup commands from starting
# daemons inside the build host's chroot.
POLICY_RC_D = "#!/bin/sh\nexit 101\n"
# The one host key genpack-ssh-keygen.service makes; without this sshd also looks for RSA and
# ECDSA keys and logs each missing one at every start.
SSHD_HOST_KEYS = (
    "etc/ssh/sshd_config.d/genpack-host-keys.conf",
    b"# genpack: the host key made on first boot (genpack-ssh-keygen.service)\n"
    b"HostKey /etc/ssh/ssh_host_ed25519_key\n",
)


def device_file(name: str) -> bytes:
    return resources.files("appliance").joinpath(name).read_bytes()


def install_host_file(root: Path, path: str, data: bytes, mode: int = 0o644) -> None:
    """Write an engine-owned file into the tree; refuses symlinked parents (they would point
    at the build host), which only a hostile package could have created."""
    target = root / path.lstrip("/")
    current = root
    for part in Path(path.lstrip("/")).parent.parts:
        current = current / part
        if current.is_symlink():
            raise BuildError(
                STEP, f"{current.relative_to(root)} is a symlink; refusing to write {path}"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    target.chmod(mode)


def image_info(spec: BuildSpec, build_id: str) -> dict:
    """What the on-device agent knows about its image (/usr/lib/genpack/image.json)."""
    ssh_user = next((u for u in spec.users if u["name"] != "root"), None)
    return {
        "artifact": spec.name,
        "version": spec.version,
        "profile": spec.profile,
        "arch": spec.arch,
        "build": build_id,
        "capabilities": list(spec.capabilities) or ["ethernet"],
        "settings": [
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items()}
            for s in spec.settings
        ],
        "ssh_user": ssh_user["name"] if ssh_user else "root",
        "ssh_home": ssh_user["home"] if ssh_user else "/root",
    }


def install_device_package(root: Path, name: str) -> None:
    """Copy the package appliance/<name>/ to /usr/lib/genpack/<name>/, beside the agent that
    imports it as a top-level package (its modules import one another relatively)."""
    package = resources.files("appliance").joinpath(name)
    try:
        modules = sorted(entry.name for entry in package.iterdir() if entry.name.endswith(".py"))
    except FileNotFoundError as error:
        raise BuildError(STEP, f"appliance/{name}/ is missing") from error
    if "__init__.py" not in modules:
        raise BuildError(STEP, f"appliance/{name}/__init__.py is missing")
    for module in modules:
        data = package.joinpath(module).read_bytes()
        install_host_file(root, f"/usr/lib/genpack/{name}/{module}", data)


def install_device_files(spec: BuildSpec, root: Path, build_id: str) -> None:
    install_host_file(root, "/usr/lib/genpack/agent.py", device_file("agent.py"), 0o755)
    install_device_package(root, "system_ini")
    info = json.dumps(image_info(spec, build_id), indent=1, sort_keys=True).encode()
    install_host_file(root, "/usr/lib/genpack/image.json", info)
    for unit in DEVICE_UNITS:
        install_host_file(root, f"/usr/lib/systemd/system/{unit}", device_file(f"units/{unit}"))
    if (root / "usr/sbin/sshd").exists():
        install_host_file(root, *SSHD_HOST_KEYS)


def create_groups(spec: BuildSpec, chroot: Chroot) -> None:
    for group in spec.groups:
        gid = f"-g {group['gid']} " if group.get("gid") is not None else ""
        name = shlex.quote(group["name"])
        chroot.shell(f"getent group {name} >/dev/null || groupadd {gid}{name}", step=STEP)


def create_users(spec: BuildSpec, chroot: Chroot) -> None:
    for user in spec.users:
        name = user["name"]
        if name != "root":
            options = ["-c", user["comment"], "-d", user["home"], "-s", user["shell"]]
            options += ["-m"] if user["create_home"] else ["-M"]
            if user["uid"] is not None:
                options += ["-u", str(user["uid"])]
            if user["initial_group"]:
                options += ["-g", user["initial_group"]]
            else:
                options += ["-U"]
            if user["additional_groups"]:
                options += ["-G", ",".join(user["additional_groups"])]
            quoted = shlex.join([*options, name])
            chroot.shell(
                f"if id -u {shlex.quote(name)} >/dev/null 2>&1; then usermod "
                f"{shlex.join([o for o in options if o not in ('-m', '-M', '-U')])}; "
                f"else useradd {quoted}; fi",
                step=STEP,
            )
        if user["password_hash"] is not None:
            chroot.runner.add_secret(user["password_hash"])
            chroot.run("usermod", "-p", user["password_hash"], name, step=STEP)
        if user["ssh_keys"]:
            keys = ("\n".join(user["ssh_keys"]) + "\n").encode()
            ssh_dir = f"{user['home']}/.ssh"
            chroot.shell(
                f"mkdir -p {shlex.quote(ssh_dir)} && chmod 700 {shlex.quote(ssh_dir)} && "
                f"chown {shlex.quote(name)}: {shlex.quote(ssh_dir)}",
                step=STEP,
            )
            chroot.write_file(
                f"{ssh_dir}/authorized_keys", keys, mode="0600", owner=name, group=name, step=STEP
            )
    if not any(u["name"] == "root" and u["password_hash"] for u in spec.users):
        # No root password in the blueprint: nobody logs in as root with a password.
        chroot.run("usermod", "-L", "root", step=STEP)


def file_data(entry: dict[str, Any], step: str) -> bytes:
    if "content" in entry:
        return entry["content"].encode("utf-8")
    try:
        return base64.b64decode(entry["content_b64"], validate=True)
    except ValueError as error:
        raise BuildError(step, f"file {entry['path']}: content_b64 is not base64") from error


def _account_id(name: str, ids: dict[str, int], what: str, path: str, step: str) -> int:
    if name.isascii() and name.isdigit():
        return int(name)
    if name not in ids:
        where = "/etc/passwd" if what == "owner" else "/etc/group"
        raise BuildError(step, f"file {path}: {what} {name!r} is not in the image's {where}")
    return ids[name]


def write_files(
    files: tuple[dict[str, Any], ...], root: Path, runner: Runner, *, step: str, protected: bool
) -> None:
    """Write `files` into the tree from the host; `protected`: refuse the paths and modes a
    product manager may not use (spec.protected_file_problem), after symlinks are resolved."""
    tree = Tree(root)
    users, groups = tree.accounts()
    for entry in files:
        path, mode = entry["path"], int(entry["mode"], 8)
        uid = _account_id(entry["owner"], users, "owner", path, step)
        gid = _account_id(entry["group"], groups, "group", path, step)
        refuse = (lambda real, mode=mode: protected_file_problem(real, mode)) if protected else None
        try:
            real = tree.write_file(
                path, file_data(entry, step), mode=mode, uid=uid, gid=gid, refuse=refuse
            )
        except (TreePathError, OSError) as error:
            raise BuildError(step, f"cannot write file {path}: {error}") from error
        where = f" (at {real})" if real != path else ""
        runner.reporter.log(
            runner.mask(f"file {path}{where}: {entry['mode']} {entry['owner']}:{entry['group']}")
        )


def unit_file_names(unit: str) -> set[str]:
    """The files that can define `unit`: itself, and for name@instance.x also name@.x."""
    if "@" not in unit:
        return {unit}
    prefix, _, rest = unit.partition("@")
    return {unit, f"{prefix}@.{rest.rsplit('.', 1)[1]}"}


def product_units(spec: BuildSpec) -> tuple[str, ...]:
    """Services whose unit file is one of the blueprint's `files`: enabled once it is there."""
    paths = {entry["path"] for entry in spec.files}
    return tuple(
        unit
        for unit in spec.services
        if any(
            f"/{directory}/{name}" in paths
            for directory in UNIT_DIRS
            for name in unit_file_names(unit)
        )
    )


def place_product_files(spec: BuildSpec, root: Path, runner: Runner) -> None:
    """The last change to the tree: the blueprint's files, then the services they define.

    systemctl --root runs the build host's systemctl on the tree: it reads unit files and makes
    links inside the tree, and runs nothing of the tree.
    """
    write_files(spec.files, root, runner, step=FILES_STEP, protected=True)
    units = product_units(spec)
    if units:
        runner.run(["systemctl", f"--root={root}", "enable", *units], step="services")


def run_setup_commands(spec: BuildSpec, chroot: Chroot) -> None:
    for number, command in enumerate(spec.setup_commands, 1):
        chroot.runner.reporter.log(f"setup command {number}/{len(spec.setup_commands)}")
        chroot.shell(command, step=f"setup command {number}")


def unit_exists(root: Path, unit: str) -> bool:
    return any(
        (root / directory / candidate).exists()
        for directory in UNIT_DIRS
        for candidate in unit_file_names(unit)
    )


def enable_services(spec: BuildSpec, chroot: Chroot) -> None:
    """Units of the tree; those defined by the blueprint's files are enabled after them."""
    later = product_units(spec)
    services = [unit for unit in spec.services if unit not in later]
    missing = [unit for unit in services if not unit_exists(chroot.root, unit)]
    if missing:
        raise BuildError(
            "services",
            f"service(s) not found in the image: {', '.join(missing)} "
            "(no installed package provides that systemd unit; check the name and the packages)",
        )
    wifi = ("genpack-wifi.service",) if "wifi" in spec.capabilities else ()
    units = [*ENGINE_SERVICES, *wifi, *services]
    chroot.run("systemctl", "enable", *units, step="services")
    if (
        wifi
        and DEBIAN_WIFI_UNIT not in spec.services
        and unit_exists(chroot.root, DEBIAN_WIFI_UNIT)
    ):
        chroot.run("systemctl", "disable", DEBIAN_WIFI_UNIT, step="services")
    if not (chroot.root / LVM_TOOL).exists():
        idle = [u for u in LVM_ONLY_UNITS if u not in spec.services and unit_exists(chroot.root, u)]
        if idle:
            chroot.run("systemctl", "disable", *idle, step="services")


def drop_usrmerge(chroot: Chroot) -> None:
    """mmdebstrap's essential set satisfies init-system-helpers' "usrmerge | usr-is-merged"
    with usrmerge, which pulls in perl (~45 MB). The tree is merged already: swap it out."""
    chroot.shell(
        "if dpkg-query -W -f='${Status}' usrmerge 2>/dev/null | grep -q installed; then "
        "apt-get purge -y --auto-remove usrmerge; fi",
        step=STEP,
    )


def purge_buildtime(spec: BuildSpec, chroot: Chroot) -> None:
    if spec.buildtime_packages:
        chroot.run("apt-get", "purge", "-y", "--auto-remove", *spec.buildtime_packages, step=STEP)


def compile_device_package(chroot: Chroot, name: str = "system_ini") -> None:
    """Byte-compile the agent's package with the image's own Python. system.img is
    read-only, so otherwise every first boot compiles it again (seconds under emulation, on
    the path to login); checked-hash: the .pyc records the source's hash, not the build's
    time, so a rebuild from the same sources gives the same bytes."""
    chroot.run(
        "python3", "-m", "compileall", "-q", "--invalidation-mode", "checked-hash",
        f"/usr/lib/genpack/{name}", step=STEP, quiet=True,
    )  # fmt: skip


def customize(spec: BuildSpec, root: Path, chroot: Chroot, build_id: str) -> None:
    install_device_files(spec, root, build_id)
    compile_device_package(chroot)
    install_host_file(root, "/usr/sbin/policy-rc.d", POLICY_RC_D.encode(), 0o755)
    try:
        create_groups(spec, chroot)
        create_users(spec, chroot)
        write_files(spec.build_files, root, chroot.runner, step=STEP, protected=False)
        run_setup_commands(spec, chroot)
        enable_services(spec, chroot)
        purge_buildtime(spec, chroot)
        if "usrmerge" not in spec.packages:
            drop_usrmerge(chroot)
    finally:
        (root / "usr/sbin/policy-rc.d").unlink(missing_ok=True)
