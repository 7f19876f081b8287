"""Writing into the image tree from the host: confined to the tree on a real filesystem."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from image_builder.spec import protected_file_problem
from image_builder.treefiles import Tree, TreePathError

ME = {"uid": os.getuid(), "gid": os.getgid()}  # chown to oneself works without root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    # Ids the build host does not have: they can only come from the tree's own files.
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nkiosk:x:4321:4322::/:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\nkiosk:x:4322:\nvideo:x:4400:kiosk\n")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    directory = tmp_path / "host"
    directory.mkdir()
    (directory / "secret").write_text("host file\n")
    return directory


def test_accounts_come_from_the_trees_passwd_and_group(tree: Path) -> None:
    users, groups = Tree(tree).accounts()
    assert users["kiosk"] == 4321
    assert groups["video"] == 4400


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to the tree's ids needs root")
def test_file_gets_its_mode_and_the_trees_ids(tree: Path) -> None:
    real = Tree(tree).write_file(
        "/opt/kiosk/start.sh", b"#!/bin/sh\n", mode=0o750, uid=4321, gid=4400
    )
    assert real == "/opt/kiosk/start.sh"
    info = (tree / "opt/kiosk/start.sh").stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (4321, 4400, 0o750)
    assert (tree / "opt/kiosk/start.sh").read_bytes() == b"#!/bin/sh\n"
    assert sorted(p.name for p in (tree / "opt/kiosk").iterdir()) == ["start.sh"]  # no temp left


@pytest.mark.parametrize("link", ["absolute", "relative"])
def test_symlinked_parent_pointing_outside_stays_in_the_tree(
    tree: Path, outside: Path, link: str
) -> None:
    """/etc/app -> <host dir> resolves as the image sees it: inside the tree, never on the host."""
    target = str(outside) if link == "absolute" else "../../../../../../.." + str(outside)
    (tree / "etc/app").symlink_to(target)
    real = Tree(tree).write_file("/etc/app/secret", b"from the blueprint\n", mode=0o644, **ME)
    assert (outside / "secret").read_text() == "host file\n"
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert real == str(outside) + "/secret"  # the same path, but under the tree's root
    assert (tree / str(outside).lstrip("/") / "secret").read_bytes() == b"from the blueprint\n"


def test_symlink_at_the_path_is_replaced_not_followed(tree: Path, outside: Path) -> None:
    (tree / "etc/motd").symlink_to(outside / "secret")
    Tree(tree).write_file("/etc/motd", b"welcome\n", mode=0o644, **ME)
    assert (outside / "secret").read_text() == "host file\n"
    assert not (tree / "etc/motd").is_symlink()
    assert (tree / "etc/motd").read_bytes() == b"welcome\n"


def test_hard_link_at_the_path_is_replaced_not_written_through(tree: Path, outside: Path) -> None:
    os.link(outside / "secret", tree / "etc/issue")
    Tree(tree).write_file("/etc/issue", b"appliance\n", mode=0o644, **ME)
    assert (outside / "secret").read_text() == "host file\n"
    assert (tree / "etc/issue").read_bytes() == b"appliance\n"


def test_protected_path_reached_through_a_symlink_is_refused(tree: Path) -> None:
    (tree / "opt").mkdir()
    (tree / "opt/accounts").symlink_to("/etc")
    with pytest.raises(TreePathError, match="/etc/shadow"):
        Tree(tree).write_file(
            "/opt/accounts/shadow",
            b"root::0:0:99999:7:::\n",
            mode=0o644,
            uid=0,
            gid=0,
            refuse=lambda real: protected_file_problem(real, 0o644),
        )
    assert not (tree / "etc/shadow").exists()


def test_a_file_where_a_directory_is_needed_is_a_clear_error(tree: Path) -> None:
    with pytest.raises(TreePathError, match="/etc/passwd is not a directory"):
        Tree(tree).write_file("/etc/passwd/x", b"", mode=0o644, **ME)
    with pytest.raises(TreePathError, match="/etc is a directory"):
        Tree(tree).write_file("/etc", b"", mode=0o644, **ME)


def test_symlink_loop_is_a_clear_error(tree: Path) -> None:
    (tree / "etc/loop").symlink_to("loop")
    with pytest.raises(TreePathError, match="too many symlinks"):
        Tree(tree).write_file("/etc/loop/x", b"", mode=0o644, **ME)


def test_accounts_file_behind_a_symlink_is_read_inside_the_tree(tree: Path, outside: Path) -> None:
    (outside / "passwd").write_text("kiosk:x:1:1::/:/bin/sh\n")
    (tree / "etc/passwd").unlink()
    (tree / "etc/passwd").symlink_to(outside / "passwd")  # the host's path: not followed there
    (tree / str(outside).lstrip("/")).mkdir(parents=True)
    (tree / str(outside).lstrip("/") / "passwd").write_text("kiosk:x:4321:4322::/:/bin/sh\n")
    assert Tree(tree).accounts()[0] == {"kiosk": 4321}
