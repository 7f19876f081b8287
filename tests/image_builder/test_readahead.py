"""The read-ahead list (image_builder/readahead.py) for a tree of the host's own programs and
libraries, checked against what the host's loader says they load (ldd)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from image_builder import readahead

PROGRAM = "/usr/bin/ls"


def ldd(program: str) -> str:
    return subprocess.run(["ldd", program], capture_output=True, text=True, check=True).stdout


def host_libraries(program: str) -> list[str]:
    """The real paths of the libraries `program` loads, as the host's loader resolves them."""
    paths = re.findall(r"(/\S+) \(0x", ldd(program))
    return sorted({os.path.realpath(path) for path in paths})


def a_tree(tmp_path: Path) -> Path:
    """The host's ls and what it loads, at their real paths, with /lib a link to usr/lib as in
    a merged-/usr tree; python3 -> python3.11 a relative link to another copy of ls."""
    root = tmp_path / "root"
    for path in [os.path.realpath(PROGRAM), *host_libraries(PROGRAM)]:
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    if not (root / "lib").exists():
        (root / "lib").symlink_to("usr/lib")
    # The loader finds a library by its soname: a link beside the file, as packages ship it.
    for soname, path in re.findall(r"(\S+) => (/\S+) \(0x", ldd(PROGRAM)):
        real = os.path.realpath(path)
        link = root / os.path.dirname(real).lstrip("/") / soname
        if not link.exists():
            link.symlink_to(os.path.basename(real))
    (root / "usr/bin/python3.11").write_bytes((root / "usr/bin/ls").read_bytes())
    (root / "usr/bin/python3").symlink_to("python3.11")
    agent = root / "usr/lib/genpack"
    (agent / "system_ini/__pycache__").mkdir(parents=True)
    (agent / "agent.py").write_text("print('agent')\n")
    (agent / "system_ini/__pycache__/keys.cpython-311.pyc").write_bytes(b"pyc")
    (agent / "name with blanks.txt").write_text("x")
    return root


@pytest.fixture
def programs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readahead, "BOOT_PROGRAMS", ("usr/bin/ls", "usr/bin/python3"))


def test_programs_come_with_the_libraries_the_loader_would_load(tmp_path, programs) -> None:
    root = a_tree(tmp_path)
    listed = readahead.read_ahead_list(root)
    assert listed[0] == "usr/bin/ls"
    libraries = {f"/{name}" for name in listed if ".so" in name}
    assert libraries == set(host_libraries(PROGRAM))
    # A link is followed inside the tree; a library two programs load is read once.
    assert "usr/bin/python3.11" in listed and "usr/bin/python3" not in listed
    assert len(listed) == len(set(listed))
    assert listed.index("usr/lib/genpack/agent.py") > listed.index("usr/bin/python3.11")


def test_the_written_list_leaves_out_names_it_cannot_split_and_itself(tmp_path, programs) -> None:
    root = a_tree(tmp_path)
    (root / readahead.READ_AHEAD).parent.mkdir(parents=True, exist_ok=True)
    (root / readahead.READ_AHEAD).write_text("an old list\n")
    count = readahead.write_read_ahead_list(root)
    names = (root / readahead.READ_AHEAD).read_text().splitlines()
    assert len(names) == count
    assert "usr/lib/genpack/system_ini/__pycache__/keys.cpython-311.pyc" in names
    assert not any(" " in name or name == readahead.READ_AHEAD for name in names)


def test_the_list_stops_at_its_cap(tmp_path, programs, monkeypatch) -> None:
    root = a_tree(tmp_path)
    ls_size = (root / "usr/bin/ls").stat().st_size
    monkeypatch.setattr(readahead, "MAX_BYTES", ls_size + 10)
    assert readahead.read_ahead_list(root) == ["usr/bin/ls"]


def test_a_link_cannot_lead_out_of_the_tree(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (tmp_path / "outside").write_text("host file")
    (root / "usr/bin/escape").symlink_to("../../../outside")
    (root / "usr/bin/absolute").symlink_to(str(tmp_path / "outside"))
    assert readahead.inside(root, "usr/bin/escape") is None
    assert readahead.inside(root, "usr/bin/absolute") is None
