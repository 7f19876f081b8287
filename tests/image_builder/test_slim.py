"""slim: when the package manager and Python's unused stdlib leave the tree, and when not.

The trimmed images themselves are booted in the slow tests (test_slim_image.py): the agent
must still apply system.ini with what is left."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from image_builder import BuildSpec, slim
from image_builder.report import NullReporter
from image_builder.runner import CommandResult

from .conftest import minimal_spec_data

STATUS = """\
Package: python3.11-minimal
Status: install ok installed
Depends: libpython3.11-minimal (= 3.11.2-6), libc6 (>= 2.34)

Package: libpython3.11-stdlib
Status: install ok installed
Depends: libpython3.11-minimal (= 3.11.2-6), libsqlite3-0

Package: openssh-server
Status: install ok installed
Depends: libc6, openssh-client (= 1:9.2p1-2)

Package: gone-python-tool
Status: deinstall ok config-files
Depends: python3:any
"""


def spec(**changes) -> BuildSpec:
    return BuildSpec.from_dict({**minimal_spec_data(), **changes}).normalise()


def tree(tmp_path: Path, extra_status: str = "") -> Path:
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(STATUS + extra_status)
    return tmp_path


@dataclass
class Runner:
    reporter: NullReporter = field(default_factory=NullReporter)


@dataclass
class ScriptedChroot:
    """Answers the commands slim runs in the tree: apt's simulation, apt-mark, and the
    import closure (what modulefinder printed for the agent)."""

    root: Path
    answers: dict[str, str]
    runner: Runner = field(default_factory=Runner)
    ran: list[tuple[str, ...]] = field(default_factory=list)

    def run(self, *command: str, step: str, **_kwargs) -> CommandResult:
        self.ran.append(command)
        if any("closure" in part for part in command):
            key = "closure"
        else:
            key = next((word for word in ("-s", "showmanual") if word in command), "")
        return CommandResult(list(command), 0, 0.0, self.answers.get(key, "").splitlines())


def test_python_users_are_installed_packages_outside_pythons_own(tmp_path: Path) -> None:
    root = tree(tmp_path)
    assert slim.python_users(root) == []
    root = tree(tmp_path / "more", "\nPackage: networkd-dispatcher\nStatus: install ok "
                "installed\nDepends: python3-gi, python3:any, python3-dbus\n")  # fmt: skip
    assert slim.python_users(root) == ["networkd-dispatcher"]
    root = tree(tmp_path / "dep", "\nPackage: tool\nStatus: install ok installed\n"
                "Pre-Depends: libc6\nDepends: libpython3.11 (>= 3.11)\n")  # fmt: skip
    assert slim.python_users(root) == ["tool"]


def test_the_stdlib_stays_whole_whenever_something_else_could_use_it(tmp_path: Path) -> None:
    root = tree(tmp_path)
    assert slim.python_kept_reason(spec(), root) is None
    assert "installs Python" in slim.python_kept_reason(spec(packages=["python3"]), root)
    script = {"path": "/usr/local/bin/report", "content": "#!/usr/bin/env python3\nprint(1)\n"}
    assert "may run Python" in slim.python_kept_reason(spec(files=[script]), root)
    module = {"path": "/opt/app/main.py", "content": "print(1)\n"}
    assert slim.python_kept_reason(spec(files=[module]), root)
    binary = {"path": "/opt/app/blob", "content_b64": "AAEC"}  # unknown content: keep
    assert slim.python_kept_reason(spec(files=[binary]), root)
    command = "python3 -m compileall /opt"
    assert slim.python_kept_reason(spec(setup_commands=[command]), root)
    (root / "usr/lib/python3/dist-packages/yaml").mkdir(parents=True)
    assert "dist-packages" in slim.python_kept_reason(spec(), root)


def stdlib(root: Path) -> Path:
    lib = root / "usr/lib/python3.11"
    for name in ("json", "email", "encodings", "pydoc_data", "tkinter"):
        (lib / name).mkdir(parents=True)
        (lib / name / "__init__.py").write_text("")
    for name in ("os", "re", "site", "pydoc", "ipaddress", "_sysconfigdata__x86_64-linux-gnu"):
        (lib / f"{name}.py").write_text("")
    (lib / "__pycache__").mkdir()
    for name in ("os", "pydoc", "ipaddress"):
        (lib / f"__pycache__/{name}.cpython-311.pyc").write_text("")
    (lib / "lib-dynload").mkdir()
    for name in ("_json", "_sqlite3", "_ssl"):
        (lib / f"lib-dynload/{name}.cpython-311-x86_64-linux-gnu.so").write_text("")
    (root / "tmp").mkdir()
    agent = root / "usr/lib/genpack/agent.py"
    agent.parent.mkdir(parents=True)
    agent.write_text("")
    return lib


def test_the_stdlib_is_cut_to_the_agents_imports(tmp_path: Path) -> None:
    root = tree(tmp_path)
    lib = stdlib(root)
    closure = ["os", "re", "json", "json.decoder", "_json", "ipaddress", "encodings.utf_8"]
    chroot = ScriptedChroot(root, {"closure": json.dumps(closure)})
    assert slim.trim_python(spec(), chroot) > 0
    left = sorted(str(path.relative_to(lib)) for path in lib.rglob("*"))
    assert "pydoc.py" not in left and "tkinter" not in left and "pydoc_data" not in left
    assert "email" not in left  # the agent never imports it
    assert "lib-dynload/_sqlite3.cpython-311-x86_64-linux-gnu.so" not in left
    assert "__pycache__/pydoc.cpython-311.pyc" not in left
    for kept in ("json/__init__.py", "os.py", "re.py", "site.py", "ipaddress.py",
                 "encodings/__init__.py", "_sysconfigdata__x86_64-linux-gnu.py",
                 "__pycache__/ipaddress.cpython-311.pyc",
                 "lib-dynload/_json.cpython-311-x86_64-linux-gnu.so"):  # fmt: skip
        assert kept in left, kept
    # The closure ran with the image's own interpreter, the agent and the never-followed list.
    (command,) = chroot.ran
    assert command[0] == "/usr/bin/python3.11" and slim.AGENT in command
    assert "pydoc" in json.loads(command[-1])


def test_nothing_is_cut_when_the_blueprint_installs_python(tmp_path: Path) -> None:
    root = tree(tmp_path)
    lib = stdlib(root)
    before = sorted(lib.rglob("*"))
    chroot = ScriptedChroot(root, {"closure": "[]"})
    assert slim.trim_python(spec(packages=["python3.11"]), chroot) == 0
    assert sorted(lib.rglob("*")) == before and chroot.ran == []


SIMULATION = """\
Purg apt [2.6.2]
Purg gpgv [2.2.40-1.1+deb12u2]
Purg libapt-pkg6.0 [2.6.2]
"""


def test_apt_is_purged_with_what_only_it_needed(tmp_path: Path) -> None:
    chroot = ScriptedChroot(tmp_path, {"-s": SIMULATION, "showmanual": "apt\nbash\nsystemd"})
    assert slim.drop_package_manager(spec(), chroot) == ["apt", "gpgv", "libapt-pkg6.0"]
    assert chroot.ran[-1][:3] == ("apt-get", "purge", "-y")


def test_apt_stays_when_asked_for_or_when_it_would_take_a_wanted_package(tmp_path: Path) -> None:
    chroot = ScriptedChroot(tmp_path, {"-s": SIMULATION, "showmanual": "apt"})
    assert slim.drop_package_manager(spec(packages=["apt"]), chroot) == []
    assert chroot.ran == []
    # unattended-upgrades depends on apt: purging apt would take it too.
    wanted = SIMULATION + "Purg unattended-upgrades [2.9.1]\n"
    chroot = ScriptedChroot(tmp_path, {"-s": wanted, "showmanual": "apt\nunattended-upgrades"})
    assert slim.drop_package_manager(spec(), chroot) == []
    assert all(command[:3] != ("apt-get", "purge", "-y") for command in chroot.ran)


def perl_tree(tmp_path: Path, extra_status: str = "") -> Path:
    """perl-base, debconf's Perl frontend and adduser, as a minbase tree has them (bookworm
    lists /usr/sbin/adduser as /usr/sbin, debconf's as /usr/share; dpkg lists /bin paths)."""
    root = tree(tmp_path, "\nPackage: perl-base\nStatus: install ok installed\n"
                "\nPackage: debconf\nStatus: install ok installed\nDepends: perl-base\n"
                + extra_status)  # fmt: skip
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    scripts = {
        "perl-base": ("/bin/perl", "#!/bin/sh\n"),  # the binary itself: not a script
        "debconf": ("/usr/share/debconf/frontend", "#!/usr/bin/perl -w\nuse strict;\n"),
        "adduser": ("/usr/sbin/adduser", "#! /usr/bin/perl\n"),
    }
    for package, (path, text) in scripts.items():
        (info / f"{package}.list").write_text(f"/.\n{path}\n")
        target = root / path.lstrip("/").replace("bin/perl", "usr/bin/perl")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def test_perl_goes_when_only_the_packaging_tools_use_it(tmp_path: Path) -> None:
    root = perl_tree(tmp_path)
    assert slim.perl_programs(root) == []
    assert slim.perl_kept_reason(spec(), root) is None
    chroot = ScriptedChroot(root, {})
    assert slim.drop_perl(spec(), chroot) is True
    (command,) = chroot.ran
    assert command[:2] == ("dpkg", "--purge") and command[-1] == "perl-base"
    assert "--force-remove-essential" in command


def test_perl_stays_for_anything_that_could_run_it(tmp_path: Path) -> None:
    root = perl_tree(tmp_path)
    assert "installs Perl" in slim.perl_kept_reason(spec(packages=["libjson-perl"]), root)
    assert "debconf" in slim.perl_kept_reason(spec(packages=["apt"]), root)
    assert "mention Perl" in slim.perl_kept_reason(
        spec(setup_commands=["perl -pi -e 's/a/b/' /etc/motd"]), root
    )
    # A script of the blueprint's own, which no package installed.
    tool = root / "usr/local/bin/report"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/usr/bin/env perl\nprint 1;\n")
    assert "/usr/local/bin/report" in slim.perl_kept_reason(spec(), root)
    tool.unlink()
    users = perl_tree(tmp_path / "users", "\nPackage: munin-node\nStatus: install ok installed"
                      "\nDepends: perl:any, libnet-server-perl\n")  # fmt: skip
    assert "munin-node" in slim.perl_kept_reason(spec(), users)
    chroot = ScriptedChroot(users, {})
    assert slim.drop_perl(spec(), chroot) is False and chroot.ran == []


def hwdb_tree(tmp_path: Path, extra_status: str = "") -> Path:
    root = tree(tmp_path, extra_status)
    hwdb = root / slim.HWDB_DIR
    hwdb.mkdir(parents=True)
    for name in ("20-OUI.hwdb", "20-usb-vendor-model.hwdb", "20-net-ifname.hwdb",
                 "60-keyboard.hwdb", "70-mouse.hwdb"):  # fmt: skip
        (hwdb / name).write_text("# names\n")
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/systemd-hwdb").write_text("")
    return root


def test_the_hardware_name_databases_go_and_hwdb_bin_is_rebuilt(tmp_path: Path) -> None:
    root = hwdb_tree(tmp_path)
    chroot = ScriptedChroot(root, {})
    removed = slim.trim_hardware_names(spec(), chroot)
    assert removed == ["20-OUI.hwdb", "20-usb-vendor-model.hwdb"]
    left = sorted(path.name for path in (root / slim.HWDB_DIR).iterdir())
    assert left == ["20-net-ifname.hwdb", "60-keyboard.hwdb", "70-mouse.hwdb"]
    assert chroot.ran == [("systemd-hwdb", "update", "--usr")]


def test_the_hardware_names_stay_for_tools_that_show_them(tmp_path: Path) -> None:
    root = hwdb_tree(tmp_path)
    chroot = ScriptedChroot(root, {})
    assert slim.trim_hardware_names(spec(packages=["usbutils"]), chroot) == []
    installed = hwdb_tree(tmp_path / "pa", "\nPackage: pulseaudio\nStatus: install ok installed\n")
    assert slim.trim_hardware_names(spec(), ScriptedChroot(installed, {})) == []
    assert chroot.ran == [] and (root / slim.HWDB_DIR / "20-OUI.hwdb").exists()
