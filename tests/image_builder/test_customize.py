"""customize: what the engine writes itself is out of reach of a product manager's files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from image_builder import BuildSpec
from image_builder.customize import install_device_files, product_units
from image_builder.rootfs import ENGINE_PACKAGES, engine_packages
from image_builder.spec import protected_file_problem

from .conftest import minimal_spec_data

# The image runs the agent with Debian's python3; the host's is the same version (3.11).
DEVICE_PYTHON = shutil.which("python3", path="/usr/bin") or sys.executable


def test_every_file_the_engine_installs_is_protected_from_product_files(tmp_path: Path) -> None:
    spec = BuildSpec.from_dict(minimal_spec_data()).normalise()
    (tmp_path / "usr/sbin").mkdir(parents=True)
    (tmp_path / "usr/sbin/sshd").touch()
    install_device_files(spec, tmp_path, "b1")
    written = ["/" + str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()]
    written.remove("/usr/sbin/sshd")
    assert "/etc/ssh/sshd_config.d/genpack-host-keys.conf" in written
    assert len(written) >= 9
    for path in [*written, "/usr/sbin/policy-rc.d"]:
        assert protected_file_problem(path), path
        if path.startswith("/usr/"):  # merged /usr: /lib/x is /usr/lib/x
            assert protected_file_problem(path.removeprefix("/usr")), path


def test_sshd_reads_only_the_host_key_made_on_first_boot(tmp_path: Path) -> None:
    spec = BuildSpec.from_dict(minimal_spec_data()).normalise()
    install_device_files(spec, tmp_path / "no-ssh", "b1")
    assert not (tmp_path / "no-ssh/etc/ssh").exists()  # no sshd, no ssh configuration

    (tmp_path / "ssh/usr/sbin").mkdir(parents=True)
    (tmp_path / "ssh/usr/sbin/sshd").touch()
    install_device_files(spec, tmp_path / "ssh", "b1")
    conf = (tmp_path / "ssh/etc/ssh/sshd_config.d/genpack-host-keys.conf").read_text()
    host_keys = [line.split()[1] for line in conf.splitlines() if line.startswith("HostKey")]
    unit = (tmp_path / "ssh/usr/lib/systemd/system/genpack-ssh-keygen.service").read_text()
    made = unit.split("ExecStart=", 1)[1].split("\n", 1)[0].split()
    assert host_keys == [made[made.index("-f") + 1]] == ["/etc/ssh/ssh_host_ed25519_key"]
    assert f"ConditionPathExists=!{host_keys[0]}" in unit  # made once, then kept


def test_units_defined_by_product_files_are_enabled_after_them() -> None:
    spec = BuildSpec.from_dict(
        {
            **minimal_spec_data(),
            "services": ["ssh", "kiosk", "worker@1.service"],
            "files": [
                {"path": "/etc/systemd/system/kiosk.service", "content": ""},
                {"path": "/usr/lib/systemd/system/worker@.service", "content": ""},
                {"path": "/etc/ssh.service", "content": ""},  # not a unit directory
            ],
        }
    ).normalise()
    assert product_units(spec) == ("kiosk.service", "worker@1.service")


def test_the_installed_agent_imports_the_installed_system_ini_package(tmp_path: Path) -> None:
    spec = BuildSpec.from_dict(minimal_spec_data()).normalise()
    install_device_files(spec, tmp_path, "b1")
    genpack = tmp_path / "usr/lib/genpack"
    assert (genpack / "system_ini/__init__.py").is_file()
    assert (genpack / "system_ini/validate.py").is_file()
    # -I: nothing but the installed tree can provide system_ini (no repo, no PYTHONPATH).
    # An unknown command makes the agent print its usage after every import succeeded.
    run = subprocess.run(
        [DEVICE_PYTHON, "-I", str(genpack / "agent.py"), "usage"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert "usage:" in run.stderr


def test_only_wifi_profiles_get_the_wifi_client_and_regulatory_database() -> None:
    data = minimal_spec_data()
    with_wifi = BuildSpec.from_dict(data).normalise()
    without = BuildSpec.from_dict({**data, "capabilities": ["ethernet", "serial"]}).normalise()
    assert {"wpasupplicant", "wireless-regdb"} <= set(engine_packages(with_wifi))
    assert not {"wpasupplicant", "wireless-regdb"} & set(engine_packages(without))
    assert set(ENGINE_PACKAGES) <= set(engine_packages(without))
