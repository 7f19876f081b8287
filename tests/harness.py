"""The one process harness of the test suite and the benchmarks (bench/ imports it too).

Real parts only: `celery worker` and `celery beat` processes in their own sessions, the
broker they share, the fast engine's environment, and a Debian mirror served over HTTP on
127.0.0.1 from a directory tree. Plain Python, no pytest and no Django: the fixtures in
tests/conftest.py and tests/builds/conftest.py wrap it, and bench/ calls it before Django is
set up.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import lzma
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_DATA = ROOT / "tests" / "data" / "debian"
SUITE = "bookworm"
# Worker, reaper and requeue timings short enough for a test to see them act.
FAST_TIMINGS = {
    "GENPACK_HEARTBEAT_SECONDS": "1",
    "GENPACK_WORKER_LOST_SECONDS": "6",
    "GENPACK_REAPER_SECONDS": "2",
    "GENPACK_REQUEUE_AFTER_SECONDS": "5",
    "GENPACK_MIN_FREE_BYTES": "0",
    "GENPACK_BASE_CACHE_MAX_BYTES": "0",
    "GENPACK_BUILD_HOST_HEARTBEAT_SECONDS": "1",
    "GENPACK_BUILD_HOST_STALE_SECONDS": "5",
    "GENPACK_UNCLAIMED_BUILD_SECONDS": "60",
}


# --- processes -------------------------------------------------------------------------------


def celery_worker_command(name: str, queues: str = "celery", *, lean: bool = True) -> list[str]:
    """A `celery worker` with the solo pool: one task at a time, as on build hosts. `lean`
    drops gossip, mingle and heartbeat events, which a test's single worker does not need."""
    command = [sys.executable, "-m", "celery", "-A", "genpack_site", "worker"]
    command += ["--pool", "solo", "--loglevel", "INFO", "--hostname", f"{name}@%h"]
    command += ["--queues", queues]
    if lean:
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return command


def celery_beat_command(schedule: Path) -> list[str]:
    """A `celery beat` sending the periodic tasks (the reaper), its schedule kept in `schedule`."""
    command = [sys.executable, "-m", "celery", "-A", "genpack_site", "beat"]
    return [*command, "--loglevel", "INFO", "--schedule", str(schedule)]


def process_start(
    command: list[str], env: Mapping[str, str], *, log: Path | None = None
) -> subprocess.Popen:
    """`command` in the project root, in its own session (so its whole group can be stopped).
    Its output goes to a pipe that stop_process reads, or to `log` for a long, chatty run
    (an unread pipe fills up and blocks the process)."""
    output: IO[str] | int = log.open("w") if log else subprocess.PIPE
    try:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    finally:
        if log:
            output.close()  # the child holds its own copy


def stop_process(process: subprocess.Popen, timeout: float = 20) -> str:
    """Stop a process group politely, then firmly; returns what it printed to its pipe."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.stdout.read() if process.stdout else ""


@dataclass
class Processes:
    """Every process a test or a bench starts, so that all of them are stopped at the end.
    With a `log_dir`, each one's output goes to `<log_dir>/<name>.log` instead of a pipe."""

    env: Mapping[str, str]
    log_dir: Path | None = None
    started: list[subprocess.Popen] = field(default_factory=list)

    def start(self, name: str, command: list[str], **extra_env: str) -> subprocess.Popen:
        log = self.log_dir / f"{name}.log" if self.log_dir else None
        process = process_start(command, {**self.env, **extra_env}, log=log)
        self.started.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> str:
        if process in self.started:
            self.started.remove(process)
        return stop_process(process)

    def stop_all(self) -> None:
        for process in list(self.started):
            self.stop(process)


def start_celery_worker(
    env: Mapping[str, str], *, name: str, queues: str = "celery"
) -> subprocess.Popen:
    """A real, lean `celery worker` process whose output stop_process returns."""
    return process_start(celery_worker_command(name, queues), env)


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.2) -> bool:
    """Whether `condition()` came true within `timeout` seconds, asked every `interval`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a server started next)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the broker, the database and the fast engine ----------------------------------------


def redis_flush(url: str) -> None:
    """Empty the Redis database at `url`: no task or result of an earlier run is left."""
    subprocess.run(["redis-cli", "-u", url, "flushdb"], check=True, capture_output=True)


def broker_env(url: str) -> dict[str, str]:
    """Settings that point Celery's broker and result backend at `url`."""
    return {"CELERY_BROKER_URL": url, "CELERY_RESULT_BACKEND": url}


def celery_client(url: str) -> Celery:
    """A Celery client of its own (not genpack_site's app) bound to the broker at `url`."""
    client = Celery("tests", broker=url, backend=url)
    client.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
    return client


def postgres_url(database: Mapping[str, object]) -> str:
    """DATABASE_URL for a Django connection's settings_dict (the test database's name)."""
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


def fake_engine_env(marks: Path) -> dict[str, str]:
    """Workers run tests/fake_engine.py, which drops one file per run into `marks`."""
    return {"GENPACK_ENGINE_MODULE": "tests.fake_engine", "FAKE_ENGINE_MARKS": str(marks)}


def fake_boot_test_env(marks: Path) -> dict[str, str]:
    """Workers run tests/fake_boot_test.py's boot test (nothing boots), marking each run in
    `marks`; a real boot test is chosen by GENPACK_BOOT_TEST_MODULE=image_builder.boottest."""
    return {"GENPACK_BOOT_TEST_MODULE": "tests.fake_boot_test", "FAKE_BOOT_TEST_MARKS": str(marks)}


def boot_test_runs(env: Mapping[str, str]) -> list[str]:
    """How each fake boot test in processes given `env` ended, in order (fake_boot_test_env)."""
    marks = Path(env["FAKE_BOOT_TEST_MARKS"])
    return [path.read_text() for path in sorted(marks.iterdir())] if marks.exists() else []


def engine_runs(env: Mapping[str, str]) -> int:
    """How many times the fake engine started in processes given `env` (fake_engine_env)."""
    marks = Path(env["FAKE_ENGINE_MARKS"])
    return len(list(marks.iterdir())) if marks.exists() else 0


# --- a fake Debian mirror ------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def release_write(dists: Path, *, arches: Iterable[str] = ("amd64", "arm64")) -> None:
    """A Release file listing every index file's SHA-256, as the archive software writes it."""
    lines = [f"Origin: Debian\nSuite: oldstable\nCodename: {dists.name}"]
    lines += ["Date: Sat, 11 Jul 2026 10:16:37 UTC", "Valid-Until: Sat, 18 Jul 2026 10:16:37 UTC"]
    lines += [f"Architectures: {' '.join(arches)}", "Components: main", "SHA256:"]
    for path in sorted(p for p in dists.rglob("*") if p.is_file() and p.name != "Release"):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        lines.append(f" {digest} {len(data):8} {path.relative_to(dists)}")
    (dists / "Release").write_text("\n".join(lines) + "\n")


@contextlib.contextmanager
def mirror_serve(root: Path) -> Iterator[str]:
    """`root` (holding debian/dists/...) served over real HTTP; yields the mirror's URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/debian"
    finally:
        server.shutdown()
        server.server_close()


def _arm64_packages(text: str) -> str:
    """The same archive for arm64, less the one package that exists only on PCs."""
    stanzas = text.strip().split("\n\n")
    return "\n\n".join(s for s in stanzas if "Package: intel-microcode\n" not in s) + "\n"


def mirror_tree(root: Path) -> Path:
    """bookworm/main for amd64 and arm64 under `root`/debian/dists; returns the suite's dir."""
    dists = root / "debian" / "dists" / SUITE
    packages = (DEBIAN_DATA / "Packages").read_text()
    for arch, text in (("amd64", packages), ("arm64", _arm64_packages(packages))):
        binary = dists / "main" / f"binary-{arch}"
        binary.mkdir(parents=True)
        (binary / "Packages.xz").write_bytes(lzma.compress(text.encode()))
        (binary / "Packages.gz").write_bytes(gzip.compress(text.encode()))
    contents = gzip.compress((DEBIAN_DATA / "Contents-amd64").read_bytes())
    for arch in ("amd64", "arm64"):
        (dists / "main" / f"Contents-{arch}.gz").write_bytes(contents)
    (dists / "main" / "Contents-all.gz").write_bytes(
        gzip.compress((DEBIAN_DATA / "Contents-all").read_bytes())
    )
    release_write(dists)
    return dists


# Debian's security archive is a tree of its own beside the mirror's (debian-security/dists/
# bookworm-security), as on deb.debian.org: served by the same server, under its own URL.
SECURITY_ARCHIVE = "debian-security"


def security_mirror_url(mirror: str) -> str:
    """The security archive's URL beside the mirror `mirror_serve` yields."""
    return mirror.rsplit("/", 1)[0] + f"/{SECURITY_ARCHIVE}"


def fixture_stanzas(versions: Mapping[str, str]) -> str:
    """The fixture archive's stanzas of the named packages, each at the version given: the
    Packages file of an update pocket, which lists only what it updates."""
    stanzas = (DEBIAN_DATA / "Packages").read_text().strip().split("\n\n")
    chosen = {}
    for stanza in stanzas:
        name = stanza.split("\n", 1)[0].removeprefix("Package: ")
        if name in versions and name not in chosen:
            lines = stanza.split("\n")
            chosen[name] = "\n".join(
                f"Version: {versions[name]}" if line.startswith("Version: ") else line
                for line in lines
            )
    return "\n\n".join(chosen[name] for name in versions) + "\n"


def pocket_tree(
    root: Path,
    *,
    pocket: str,
    versions: Mapping[str, str],
    arches: Iterable[str] = ("amd64", "arm64"),
) -> Path:
    """`<SUITE>-<pocket>` under `root`, listing the named packages at the versions given:
    -updates on the Debian mirror, -security in the security archive (no Contents files, the
    index reads units from the release). Returns the pocket's dists dir."""
    archive = SECURITY_ARCHIVE if pocket == "security" else "debian"
    dists = root / archive / "dists" / f"{SUITE}-{pocket}"
    text = fixture_stanzas(versions)
    for arch in arches:
        binary = dists / "main" / f"binary-{arch}"
        binary.mkdir(parents=True)
        (binary / "Packages.xz").write_bytes(lzma.compress(text.encode()))
    release_write(dists, arches=arches)
    return dists
