"""The base tree cache (image_builder/base_cache.py) on a real file system, with the real cp
and rm; and what goes into a base's key (rootfs.base_inputs). The slow test
test_base_cache_build.py shows a warm rebuild's image equals a cold one's."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import replace
from pathlib import Path

from image_builder import BuildSpec, EngineOptions
from image_builder.base_cache import ENTRY_FILE, BaseCache, base_key
from image_builder.report import NullReporter
from image_builder.rootfs import base_inputs, base_packages, blueprint_packages
from image_builder.runner import Runner

from .conftest import minimal_spec_data


def runner() -> Runner:
    return Runner(NullReporter())


def a_tree(path: Path, marker: str = "one") -> Path:
    (path / "etc").mkdir(parents=True)
    (path / "etc/os-release").write_text(f"ID=debian {marker}\n")
    (path / "usr/bin").mkdir(parents=True)
    tool = path / "usr/bin/tool"
    tool.write_bytes(b"\x7fELF" + os.urandom(4096))
    tool.chmod(0o4755)
    (path / "bin").symlink_to("usr/bin")
    return path


def snapshot(root: Path) -> dict[str, tuple]:
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content = os.readlink(path) if path.is_symlink() else (
            path.read_bytes() if path.is_file() else None
        )  # fmt: skip
        found[str(path.relative_to(root))] = (info.st_mode, content)
    return found


def test_a_stored_base_comes_back_identical(tmp_path: Path) -> None:
    cache = BaseCache(tmp_path / "cache", max_bytes=2**30)
    source = a_tree(tmp_path / "source")
    assert cache.copy_out("k1", tmp_path / "nothing", runner()) is None
    cache.store("k1", source, {"bash": "5.2.15-2+b7"}, runner())
    copy = tmp_path / "copy"
    info = cache.copy_out("k1", copy, runner())
    assert info is not None and info["versions"] == {"bash": "5.2.15-2+b7"}
    assert info["size"] >= 4096
    assert snapshot(copy) == snapshot(source)
    # The copy is a copy: a build changing its tree leaves the cached base as it was.
    (copy / "etc/os-release").write_text("changed\n")
    again = cache.copy_out("k1", tmp_path / "again", runner())
    assert again and (tmp_path / "again/etc/os-release").read_text() == "ID=debian one\n"
    assert [key for _, _, key in cache.entries()] == ["k1"]
    assert not list(cache.directory.glob(".*"))  # no staging left behind


def test_a_fresh_base_replaces_the_stale_entry(tmp_path: Path) -> None:
    cache = BaseCache(tmp_path / "cache", max_bytes=2**30)
    cache.store("k1", a_tree(tmp_path / "old", "old"), {"bash": "1"}, runner())
    cache.store("k1", a_tree(tmp_path / "new", "new"), {"bash": "2"}, runner())
    info = cache.copy_out("k1", tmp_path / "copy", runner())
    assert info and info["versions"] == {"bash": "2"}
    assert (tmp_path / "copy/etc/os-release").read_text() == "ID=debian new\n"
    assert [key for _, _, key in cache.entries()] == ["k1"]


def test_pruning_removes_the_least_recently_used_and_spares_one_in_use(tmp_path: Path) -> None:
    cache = BaseCache(tmp_path / "cache", max_bytes=2**40)
    for number, key in enumerate(("old", "used", "middle")):
        cache.store(key, a_tree(tmp_path / key, key), {}, runner())
        os.utime(cache.entry(key) / ENTRY_FILE, (1000 + number, 1000 + number))
    cache.copy_out("used", tmp_path / "copy", runner())  # now the most recently used
    size = max(size for _, size, _ in cache.entries())
    small = replace(cache, max_bytes=size)  # room for one entry
    assert small.prune(runner(), keep="used") == ["old", "middle"]  # oldest first
    assert [key for _, _, key in small.entries()] == ["used"]
    assert 0 < small.size() <= size
    # An entry a build is copying right now is never removed, even when it is the oldest.
    cache.store("newer", a_tree(tmp_path / "newer", "newer"), {}, runner())
    os.utime(cache.entry("used") / ENTRY_FILE, (1000, 1000))
    with small.locked("used", exclusive=False):
        assert small.prune(runner(), keep="") == ["newer"]
    assert [key for _, _, key in small.entries()] == ["used"]


def test_two_builds_storing_the_same_base_at_once_leave_one_whole_entry(tmp_path: Path) -> None:
    cache = BaseCache(tmp_path / "cache", max_bytes=2**30)
    trees = [a_tree(tmp_path / f"t{n}", f"t{n}") for n in range(4)]
    errors: list[BaseException] = []

    def store(tree: Path) -> None:
        try:
            cache.store("same", tree, {"from": tree.name}, runner())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=store, args=(tree,)) for tree in trees]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    info = cache.copy_out("same", tmp_path / "copy", runner())
    assert info is not None
    marker = info["versions"]["from"]
    assert (tmp_path / "copy/etc/os-release").read_text() == f"ID=debian {marker}\n"
    assert [key for _, _, key in cache.entries()] == ["same"]
    assert not list(cache.directory.glob(".*"))


def spec(**changes) -> BuildSpec:
    return BuildSpec.from_dict({**minimal_spec_data(), **changes}).normalise()


def key(spec_: BuildSpec, options: EngineOptions | None = None) -> str:
    options = options or EngineOptions(mirror="http://mirror.example/debian")
    return base_key(base_inputs(spec_, options, base_packages(spec_, ())))


def test_the_blueprints_packages_are_not_part_of_the_base() -> None:
    plain, more = spec(), spec(packages=["openssh-server", "less", "curl"])
    assert key(plain) == key(more)
    base = base_packages(more, ())
    assert "less" not in base and plain.kernel_package in base and "systemd" in base
    assert blueprint_packages(more, base) == ["curl", "less", "openssh-server"]
    # A blueprint package the engine installs anyway is part of the base, not added twice.
    assert blueprint_packages(spec(packages=["systemd", "less"]), base) == ["less"]


def test_what_changes_the_base_changes_its_key() -> None:
    data = minimal_spec_data()
    reference = key(spec())
    assert key(spec(extra_packages=["qemu-guest-agent"])) != reference
    assert key(spec(kernel_package="linux-image-cloud-amd64")) != key(
        spec(kernel_package="linux-image-amd64")
    )
    assert key(spec(suite="trixie")) != reference
    assert key(spec(components=["main", "contrib"])) != reference
    assert key(spec(), EngineOptions(mirror="http://other.example/debian")) != reference
    # Where the .deb cache lives is not what the base is made of.
    options = EngineOptions(mirror="http://mirror.example/debian", apt_cache_dir=Path("/x"))
    assert key(spec(), options) == reference
    assert json.dumps(data)  # the spec data itself is plain JSON (no paths leak into keys)


def test_a_mirror_password_never_reaches_the_key_material() -> None:
    with_password = EngineOptions(mirror="http://user:s3cret-pw@mirror.example/debian")
    plain = spec()
    inputs = base_inputs(plain, with_password, base_packages(plain, ()))
    assert "s3cret-pw" not in json.dumps(inputs)
    assert "mirror.example/debian" in json.dumps(inputs)


def test_the_builder_version_is_part_of_the_key(monkeypatch) -> None:
    reference = key(spec())
    monkeypatch.setattr("image_builder.rootfs.BUILDER_VERSION", "test-next")
    assert key(spec()) != reference


def test_apt_in_the_tree_uses_the_hosts_resolver_and_the_trees_link_comes_back(
    tmp_path: Path,
) -> None:
    from image_builder.rootfs import host_resolver

    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "resolv.conf").symlink_to("../run/systemd/resolve/stub-resolv.conf")
    with host_resolver(tmp_path):
        resolv = etc / "resolv.conf"
        assert not resolv.is_symlink()
        assert resolv.read_text() == Path("/etc/resolv.conf").read_text()
    assert os.readlink(etc / "resolv.conf") == "../run/systemd/resolve/stub-resolv.conf"
    assert sorted(path.name for path in etc.iterdir()) == ["resolv.conf"]
    # A tree without one gets none back, even when apt fails inside.
    (etc / "resolv.conf").unlink()
    try:
        with host_resolver(tmp_path):
            raise RuntimeError("apt failed")
    except RuntimeError:
        pass
    assert list(etc.iterdir()) == []


def test_packages_apt_cannot_find_are_named_for_the_blueprint() -> None:
    from image_builder.errors import BuildError
    from image_builder.rootfs import MissingPackages

    missing = MissingPackages(spec())
    for line in ("E: Unable to locate package nginx-ful", "Reading package lists...",
                 "E: Package 'exim' has no installation candidate"):  # fmt: skip
        missing.watch(line)
    assert missing.hint() == (
        f"package(s) not found in Debian bookworm/amd64 ({', '.join(spec().components)}): "
        "nginx-ful, exim"
    )
    try:
        missing.check()
    except BuildError as error:
        assert error.step == "rootfs" and "nginx-ful" in error.message
    else:
        raise AssertionError("check() must fail the build")
    assert MissingPackages(spec()).hint() is None
