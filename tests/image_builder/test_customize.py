"""customize: what the engine writes itself is out of reach of a product manager's files."""

from __future__ import annotations

from pathlib import Path

from image_builder import BuildSpec
from image_builder.customize import install_device_files, product_units
from image_builder.spec import protected_file_problem

from .conftest import minimal_spec_data


def test_every_file_the_engine_installs_is_protected_from_product_files(tmp_path: Path) -> None:
    spec = BuildSpec.from_dict(minimal_spec_data()).normalise()
    install_device_files(spec, tmp_path, "b1")
    written = ["/" + str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 8
    for path in [*written, "/usr/sbin/policy-rc.d", "/etc/initramfs-tools/conf.d/genpack.conf"]:
        assert protected_file_problem(path), path
        if path.startswith("/usr/"):  # merged /usr: /lib/x is /usr/lib/x
            assert protected_file_problem(path.removeprefix("/usr")), path


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
