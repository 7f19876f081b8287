"""Build-queue benchmark: orchestration overhead, cache-hit download latency, big downloads.

    .venv/bin/python bench/queue.py [--builds 40] [--latency-builds 10] [--big-gib 4]

It measures, against real processes (2 `celery worker --pool solo`, 1 gunicorn, PostgreSQL,
Redis) and prints one table with each target and PASS/FAIL:

1. per-build orchestration overhead with the fast engine (tests/fake_engine.py), < 100 ms;
2. enqueue of an already-built spec (cache hit) → its download answers 200, < 1 s;
3. streaming a 4 GiB artifact through the download view: worker peak RSS < 100 MB and
   throughput ≥ 0.9 x the same file served as a plain static file by the same gunicorn.

It uses its own PostgreSQL database (genpack_bench_queue), Redis db 14 and a data dir under
/var/tmp; at the end it stops every process it started and removes all of them. It changes no
project file. The host is shared, so each part first waits (up to 3 minutes) for the CPUs to
be quiet, and the report says how busy they were. Its processes, broker and fast engine come
from the test suite's harness (tests/harness.py). Project modules are imported inside
functions because the settings they read come from the environment this script sets first
(see configure_django).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import http.cookies
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
# Run as a script, Python puts bench/ first on sys.path, where this file would shadow the
# standard library's `queue` (Celery, kombu and urllib3 import it): put the project there.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR)]

from tests.harness import (  # noqa: E402  (the path above first)
    Processes,
    broker_env,
    celery_worker_command,
    fake_engine_env,
    free_port,
    redis_flush,
    wait_until,
)

BENCH_DB = "genpack_bench_queue"
POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/14"
PROFILE = "kvm-x86_64"
PM_USER, PM_PASSWORD = "bench-pm", "bench-password-7f3a"
WORKERS = 2

OVERHEAD_TARGET_S = 0.100
CACHE_HIT_TARGET_S = 1.0
RSS_TARGET_BYTES = 100 * 1000**2
THROUGHPUT_TARGET_RATIO = 0.9


# --- Setup ---------------------------------------------------------------------------------


def bench_environment(data_dir: Path, max_pending: int) -> dict[str, str]:
    """Settings shared by this process, the workers and gunicorn (all env-driven)."""
    env = dict(os.environ)
    # The fast engine drops a file named `<pid>-<monotonic ns>` when its main() starts:
    # that splits a build's time into "before the engine" and "engine + after".
    env.update(broker_env(REDIS_URL), **fake_engine_env(data_dir / "engine-marks"))
    env.update(
        DJANGO_SETTINGS_MODULE="genpack_site.settings",
        DATABASE_URL=f"{POSTGRES}/{BENCH_DB}",
        GENPACK_DATA_DIR=str(data_dir),
        # The default (20) would refuse most of a 40-build burst; the guard is not measured.
        GENPACK_MAX_PENDING_BUILDS=str(max_pending),
        GENPACK_DEBIAN_MIRROR="http://deb.debian.org/debian",  # never contacted
        DEBUG="0",
    )
    for name in ("GENPACK_WORK_DIR", "GENPACK_ARTIFACTS_DIR", "STATIC_ROOT"):
        env.pop(name, None)  # everything under the bench's own data dir
    return env


def run_quietly(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


def recreate_database() -> None:
    """A fresh database each run: leftovers of an interrupted run would turn builds into
    cache hits or joins and skew every figure."""
    for sql in (f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)", f"CREATE DATABASE {BENCH_DB}"):
        run_quietly(["psql", f"{POSTGRES}/postgres", "-c", sql])


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    sql = f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"
    subprocess.run(["psql", f"{POSTGRES}/postgres", "-c", sql], check=False, capture_output=True)


def configure_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def prepare_database() -> None:
    """What `manage.py migrate`, `seed` and `collectstatic` do, in this process."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("seed", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    # Templates use hashed static names (manifest storage), so the login page needs these.
    call_command("collectstatic", interactive=False, verbosity=0)


def create_product_manager() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from genpack_site import roles

    user = get_user_model().objects.create_user(username=PM_USER, password=PM_PASSWORD)
    user.groups.add(Group.objects.get(name=roles.PRODUCT_MANAGER))


# --- Processes -------------------------------------------------------------------------------


def start_workers(processes: Processes) -> list[subprocess.Popen]:
    """The command build hosts run (solo pool: one build at a time), twice."""
    return [
        processes.start(
            f"worker-{n}", celery_worker_command(f"bench-w{n}", "celery,amd64,arm64", lean=False)
        )
        for n in range(1, WORKERS + 1)
    ]


def wait_for_workers(count: int, timeout: float = 60) -> None:
    from genpack_site.celery import app

    if not wait_until(lambda: len(app.control.ping(timeout=0.5)) >= count, timeout, interval=0):
        raise RuntimeError(f"{count} Celery workers did not answer within {timeout:.0f} s")


def start_gunicorn(processes: Processes, port: int) -> subprocess.Popen:
    """Production's server and worker class (Procfile), with one worker process so the RSS
    we sample is the one that serves every request."""
    return processes.start(
        "gunicorn",
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "genpack_site.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gthread",
            "--workers",
            "1",
            "--threads",
            "4",
            "--timeout",
            "300",
            "--access-logfile",
            "-",
        ],
    )


def gunicorn_worker_pid(master: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    status = (proc / "status").read_text()
                except OSError:
                    continue
                if re.search(rf"^PPid:\s+{master}$", status, re.MULTILINE):
                    return int(proc.name)
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker process")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU time of a process and its threads (fields 14, 15 of /proc/pid/stat),
    or of its finished, waited-for children (fields 16, 17)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def cpu_stall_seconds() -> float:
    """Seconds, since boot, in which some runnable task waited for a CPU (PSI)."""
    line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    return int(line.rsplit("total=", 1)[1]) / 1e6


def wait_for_quiet_host(notes: list[str], name: str, limit: float = 0.2) -> None:
    """Wait (up to 3 minutes) until, over the last 10 s, tasks waited for a CPU less than
    `limit` of the time: other sessions' test runs on this host would otherwise be measured."""
    deadline = time.monotonic() + 180
    while True:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        recent = float(line.split("avg10=")[1].split()[0]) / 100
        if recent < limit:
            return
        if time.monotonic() > deadline:
            notes.append(f"{name} started on a busy host (CPU pressure {recent:.0%})")
            return
        time.sleep(1)


@contextmanager
def cpu_pressure(into: dict[str, float], name: str) -> Iterator[None]:
    """Share of the block's wall time in which some task waited for a CPU. This host is
    shared (other sessions run tests): high pressure means noisy wall-clock tails."""
    stalled, began = cpu_stall_seconds(), time.monotonic()
    try:
        yield
    finally:
        into[name] = (cpu_stall_seconds() - stalled) / (time.monotonic() - began)


# --- Blueprints and builds -------------------------------------------------------------------


def make_blueprints(prefix: str, count: int) -> list:
    """Distinct blueprints (distinct spec hashes): every build really runs the engine."""
    from blueprints.services import blueprint_create
    from hardware_profiles.models import HardwareProfile

    profile = HardwareProfile.objects.get(slug=PROFILE)
    return [
        blueprint_create(name=f"{prefix}-{n}", author=None, targets=[profile]) for n in range(count)
    ]


def enqueue(blueprint) -> int:
    from builds.services import build_enqueue
    from hardware_profiles.models import HardwareProfile

    profile = HardwareProfile.objects.get(slug=PROFILE)
    build = build_enqueue(revision=blueprint.latest_revision, profile=profile, requested_by=None)
    return build.pk


def wait_for_builds(build_ids: list[int], timeout: float = 300) -> None:
    from builds.models import Build

    builds = Build.objects.filter(pk__in=build_ids)
    if not wait_until(
        lambda: not builds.exclude(state__in=Build.FINAL_STATES).exists(), timeout, interval=0.05
    ):
        raise RuntimeError(f"builds {build_ids} not finished within {timeout:.0f} s")
    failed = builds.exclude(state=Build.State.SUCCEEDED).values_list("pk", "error")
    if failed:
        raise RuntimeError(f"builds did not succeed: {list(failed)}")


# --- Target 1: orchestration overhead --------------------------------------------------------


def monotonic_to_wall_offset() -> float:
    """CLOCK_MONOTONIC is shared by every process on the host; this maps it to wall time,
    which is what the Build rows' timestamps use."""
    return time.time() - time.monotonic()


def engine_mark_times(marks_dir: Path) -> dict[str, float]:
    """Blueprint name → wall time at which its engine's main() began."""
    offset = monotonic_to_wall_offset()
    found: dict[str, float] = {}
    for mark in marks_dir.iterdir():
        monotonic_ns = int(mark.name.split("-")[1])
        found[mark.read_text()] = monotonic_ns / 1e9 + offset
    return found


@dataclass(frozen=True)
class EngineTiming:
    """The fast engine run alone, exactly as a worker starts it (medians, seconds)."""

    interpreter: float  # fork/exec + `python -c pass`: what starting any Python process costs
    startup: float  # fork/exec → the engine's main() runs: interpreter + importing image_builder
    work: float  # main() → process exit: the fake build itself

    @property
    def total(self) -> float:
        return self.startup + self.work

    @property
    def own(self) -> float:
        """The engine's own run time: its imports and its work. Starting a process for it is
        the worker's choice (isolation, killpg), so that part counts as orchestration."""
        return self.total - self.interpreter


def time_interpreter() -> float:
    began = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], cwd=ROOT, check=True)
    return time.monotonic() - began


def time_engine_alone(build, scratch: Path) -> tuple[float, float]:
    """(start-up, work) of one engine run with the worker's own command line
    (builds.worker.engine_command), with no Celery, no database and no worker around it."""
    from builds.worker import engine_command

    shutil.rmtree(scratch, ignore_errors=True)
    workdir, staging, marks = scratch / "work", scratch / "out", scratch / "marks"
    staging.mkdir(parents=True)
    workdir.mkdir(parents=True)
    system_ini = workdir / "system.ini"
    system_ini.write_text("")
    command = engine_command(build, workdir, staging, system_ini)
    env = dict(os.environ, FAKE_ENGINE_MARKS=str(marks))
    began = time.monotonic_ns()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    process.communicate()
    ended = time.monotonic_ns()
    if process.returncode != 0:
        raise RuntimeError(f"the fake engine failed alone (exit {process.returncode})")
    main_ns = int(next(marks.iterdir()).name.split("-")[1])
    return (main_ns - began) / 1e9, (ended - main_ns) / 1e9


@dataclass(frozen=True)
class BuildTiming:
    """One build's timeline, from its Build row and its engine's start mark (wall seconds)."""

    worker: str
    created: float
    started: float  # claimed by a worker
    engine_main: float  # the engine's main() began
    finished: float  # published and marked succeeded

    @property
    def total(self) -> float:
        return self.finished - self.created


def build_timings(build_ids: list[int], marks_dir: Path) -> list[BuildTiming]:
    from builds.models import Build

    marks = engine_mark_times(marks_dir)
    rows = Build.objects.filter(pk__in=build_ids).select_related("revision__blueprint")
    return [
        BuildTiming(
            worker=row.worker.split("@")[0],
            created=row.created_at.timestamp(),
            started=row.started_at.timestamp(),
            engine_main=marks[row.revision.blueprint.name],
            finished=row.finished_at.timestamp(),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class LatencyResult:
    """Builds enqueued one at a time onto idle workers: nothing waits for a busy worker."""

    engine: EngineTiming
    timings: list[BuildTiming]

    def overheads(self) -> list[float]:
        return [t.total - self.engine.own for t in self.timings]

    def phase(self, start: str, end: str) -> float:
        return statistics.median(getattr(t, end) - getattr(t, start) for t in self.timings)


def measure_latency(blueprints: list, marks_dir: Path, reference_build_id: int) -> LatencyResult:
    """Each build alternates with a run of the engine alone and of a bare interpreter, so the
    figures subtracted come from the same moments (other load on the host changes them)."""
    from builds.models import Build

    reference = Build.objects.select_related("revision", "profile").get(pk=reference_build_id)
    scratch = marks_dir.parent / "engine-alone"
    interpreters, startups, works, build_ids = [], [], [], []
    for blueprint in blueprints:
        for _ in range(2):
            interpreters.append(time_interpreter())
            startup, work = time_engine_alone(reference, scratch)
            startups.append(startup)
            works.append(work)
        time.sleep(0.5)  # let both workers finish cleaning up and block on the broker again
        build_id = enqueue(blueprint)
        wait_for_builds([build_id])
        build_ids.append(build_id)
    shutil.rmtree(scratch, ignore_errors=True)
    engine = EngineTiming(
        statistics.median(interpreters), statistics.median(startups), statistics.median(works)
    )
    return LatencyResult(engine, build_timings(build_ids, marks_dir))


@dataclass(frozen=True)
class BurstResult:
    """Many builds enqueued at once: what each build costs a worker, beyond the engine."""

    enqueue_seconds: float
    timings: list[BuildTiming]
    engine: EngineTiming
    worker_cpu: float  # CPU seconds of the worker processes themselves, all builds
    engine_cpu: float  # CPU seconds of the engine processes they started

    @property
    def makespan(self) -> float:
        """First enqueue → last build finished."""
        return max(t.finished for t in self.timings) - min(t.created for t in self.timings)

    @property
    def per_build_overhead(self) -> float:
        """The workers' busy time per build, minus the engine's own run time."""
        return self.makespan * WORKERS / len(self.timings) - self.engine.own

    def per_worker(self) -> Iterator[list[BuildTiming]]:
        for worker in sorted({t.worker for t in self.timings}):
            yield sorted((t for t in self.timings if t.worker == worker), key=lambda t: t.started)

    def gaps_after_finish(self) -> list[float]:
        """Finished → the same worker's next claim: clean-up, task result, ack, next message."""
        return [
            later.started - earlier.finished
            for builds in self.per_worker()
            for earlier, later in itertools.pairwise(builds)
        ]

    def claim_to_engine(self) -> list[float]:
        return [t.engine_main - t.started for t in self.timings]


def measure_burst(
    blueprints: list, marks_dir: Path, engine: EngineTiming, worker_pids: list[int]
) -> BurstResult:
    """Also counts CPU: with every CPU busy, a build's wall time is its CPU cost shared out."""

    def cpu(children: bool) -> float:
        return sum(cpu_seconds(pid, children) for pid in worker_pids)

    worker_cpu, engine_cpu = cpu(False), cpu(True)
    began = time.monotonic()
    build_ids = [enqueue(blueprint) for blueprint in blueprints]
    enqueue_seconds = time.monotonic() - began
    wait_for_builds(build_ids)
    time.sleep(0.5)  # the workers reap the last engines and finish their bookkeeping
    worker_cpu, engine_cpu = cpu(False) - worker_cpu, cpu(True) - engine_cpu
    timings = build_timings(build_ids, marks_dir)
    return BurstResult(enqueue_seconds, timings, engine, worker_cpu, engine_cpu)


# --- HTTP --------------------------------------------------------------------------------------


class WebClient:
    """A logged-in browser, reduced to what the bench needs: cookies, CSRF, no redirects."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            form = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **form}
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in http.cookies.SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response, connection

    def fetch(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        """(status, Location) after reading the whole body."""
        response, connection = self.request(method, path, form)
        response.read()
        connection.close()
        return response.status, response.headers.get("Location", "")

    def login(self, username: str, password: str) -> None:
        self.fetch("GET", "/accounts/login/")  # sets the csrftoken cookie
        status, _ = self.fetch(
            "POST", "/accounts/login/", {"username": username, "password": password}
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login as {username} failed (HTTP {status})")


def wait_for_http(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if WebClient(port).fetch("GET", "/accounts/login/")[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on port {port} within {timeout:.0f} s")


# --- Target 2: cache hit → downloadable ------------------------------------------------------


@dataclass(frozen=True)
class CacheHitResult:
    seconds: list[float]
    bytes_downloaded: int


def measure_cache_hit(client: WebClient, blueprint_name: str, runs: int = 5) -> CacheHitResult:
    """What a product manager does: press Build on a blueprint whose spec already succeeded,
    then download the image. Timed from sending the POST to the last byte of a 200."""
    from builds.models import Build

    seconds, size = [], 0
    for _ in range(runs):
        began = time.monotonic()
        status, location = client.fetch(
            "POST", f"/builds/start/{blueprint_name}/", {"profile": PROFILE}
        )
        match = re.search(r"/builds/(\d+)/$", location)
        if status != 302 or not match:
            raise RuntimeError(f"starting a build answered {status} {location!r}")
        response, connection = client.request("GET", f"/builds/{match[1]}/download/disk-raw/")
        body = response.read()
        connection.close()
        seconds.append(time.monotonic() - began)
        build = Build.objects.get(pk=int(match[1]))
        artifact = build.artifact_source.artifacts.get(kind="disk-raw")
        if response.status != 200 or hashlib.sha256(body).hexdigest() != artifact.sha256:
            raise RuntimeError(f"download of build {build.pk} answered {response.status}")
        if build.cache_hit_of_id is None:
            raise RuntimeError(f"build {build.pk} was not a cache hit: the bench is wrong")
        size = len(body)
    return CacheHitResult(seconds, size)


# --- Target 3: a 4 GiB artifact ----------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def publish_big_artifact(blueprint, size: int) -> tuple[int, Path]:
    """A real Build + Artifact through build_publish (checksum, atomic rename, rows), with a
    sparse file: holes read as zeros without touching the disk, so both downloads below
    measure the server, not the storage."""
    from blueprints.buildspec import buildspec_for
    from builds import paths
    from builds.models import Build
    from builds.services import ProducedFile, build_publish
    from hardware_profiles.models import HardwareProfile

    profile = HardwareProfile.objects.get(slug=PROFILE)
    revision = blueprint.latest_revision
    spec = buildspec_for(revision.data, profile)
    build = Build.objects.create(
        revision=revision,
        profile=profile,
        spec=spec.to_dict(),
        spec_hash=spec.spec_hash(),
        state=Build.State.RUNNING,  # as if a worker had claimed it
        worker="bench",
    )
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    name = f"{blueprint.name}-{PROFILE}.img"
    with (staging / name).open("wb") as handle:
        handle.truncate(size)
    produced = ProducedFile(kind="disk-raw", name=name, size=size, sha256=sha256_of(staging / name))
    if not build_publish(build_id=build.pk, staging=staging, files=[produced]):
        raise RuntimeError("publishing the big artifact failed")
    return build.pk, paths.build_artifacts_dir(build.pk) / name


def link_as_static_file(artifact: Path) -> str:
    """The same inode under STATIC_ROOT, found by WhiteNoise when gunicorn starts: the same
    bytes, served the way this server serves every plain static file."""
    from django.conf import settings

    target = Path(settings.STATIC_ROOT) / "bench" / artifact.name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.link(artifact, target)
    return f"/{settings.STATIC_URL.strip('/')}/bench/{artifact.name}"


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(key)


@contextmanager
def peak_rss(pid: int) -> Iterator[Callable[[], int]]:
    """Peak RSS of `pid` while the block runs: the kernel's high-water mark, reset first
    (clear_refs 5), cross-checked by sampling VmRSS every 20 ms."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    sampled = [status_kib(pid, "VmRSS")]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            sampled.append(status_kib(pid, "VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = {"kib": 0}
    try:
        yield lambda: result["kib"] * 1024
    finally:
        done.set()
        sampler.join()
        result["kib"] = max(max(sampled), status_kib(pid, "VmHWM"))


@dataclass(frozen=True)
class Download:
    status: int
    size: int
    seconds: float
    server_cpu: float  # CPU seconds the gunicorn worker spent meanwhile
    server_peak_rss: int

    @property
    def bytes_per_second(self) -> float:
        return self.size / self.seconds


def curl_download(port: int, path: str, cookies: dict[str, str], server_pid: int) -> Download:
    """curl, not Python, reads the bytes: a client slower than the server would make both
    downloads equally slow and hide any difference between them."""
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    cpu_before = cpu_seconds(server_pid)
    with peak_rss(server_pid) as peak:
        output = subprocess.run(
            [
                "curl",
                "--silent",
                "--output",
                "/dev/null",
                "--cookie",
                cookie,
                "--write-out",
                "%{http_code} %{size_download} %{time_total}",
                f"http://127.0.0.1:{port}{path}",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    server_cpu = cpu_seconds(server_pid) - cpu_before
    return Download(int(output[0]), int(output[1]), float(output[2]), server_cpu, peak())


@dataclass(frozen=True)
class BigDownloadResult:
    baseline_rss: int
    view: list[Download]
    static: list[Download]

    @staticmethod
    def rate(downloads: list[Download]) -> float:
        return statistics.median(d.bytes_per_second for d in downloads)

    @staticmethod
    def cpu_per_gib(downloads: list[Download]) -> float:
        return statistics.median(d.server_cpu / (d.size / 1024**3) for d in downloads)

    @property
    def ratio(self) -> float:
        return self.rate(self.view) / self.rate(self.static)


def measure_big_download(
    port: int, server_pid: int, cookies: dict[str, str], paths: tuple[str, str], size: int
) -> BigDownloadResult:
    """View and static downloads alternate, so both see the same page cache and host load."""
    view_path, static_path = paths
    baseline = status_kib(server_pid, "VmRSS") * 1024
    curl_download(port, static_path, cookies, server_pid)  # page cache warm for both: one inode
    view, static = [], []
    for _ in range(5):
        view.append(curl_download(port, view_path, cookies, server_pid))
        static.append(curl_download(port, static_path, cookies, server_pid))
    for download in view + static:
        if download.status != 200 or download.size != size:
            raise RuntimeError(f"a big download went wrong: {download}")
    return BigDownloadResult(baseline, view, static)


# --- Report ------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def mb(size: int) -> str:
    return f"{size / 1000**2:.1f} MB"


def gbps(rate: float) -> str:
    return f"{rate / 1000**3:.2f} GB/s"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def median_and_p95(values: list[float]) -> str:
    if not values:
        return "n/a (too few builds)"
    return f"median {ms(statistics.median(values))}, p95 {ms(percentile(values, 0.95))}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_table(rows: list[tuple[str, str, str, bool | None]]) -> None:
    width = max(len(row[0]) for row in rows)
    print(f"{'measure':<{width}}  {'measured':>12}  {'target':>10}  result")
    print("-" * (width + 36))
    for name, measured, target, ok in rows:
        result = "" if ok is None else verdict(ok)
        print(f"{name:<{width}}  {measured:>12}  {target:>10}  {result}")


def explain(
    latency: LatencyResult,
    burst: BurstResult,
    cache_hit: CacheHitResult,
    big: BigDownloadResult,
    pressure: dict[str, float],
) -> str:
    """How each figure is made, with the breakdowns that say where the time goes."""
    engine = latency.engine
    imports = engine.startup - engine.interpreter
    used = ", ".join(sorted({t.worker for t in latency.timings}))
    queued = ms(latency.phase("created", "started"))
    spawned = ms(latency.phase("started", "engine_main"))
    published = ms(latency.phase("engine_main", "finished"))
    each = " ".join(f"{overhead * 1000:.0f}" for overhead in latency.overheads())
    worst = max(latency.timings, key=lambda t: t.total)
    worst_phases = " / ".join(
        ms(end - start)
        for start, end in (
            (worst.created, worst.started),
            (worst.started, worst.engine_main),
            (worst.engine_main, worst.finished),
        )
    )
    builds = len(burst.timings)
    gaps, claims = burst.gaps_after_finish(), burst.claim_to_engine()
    gap_figures = median_and_p95(gaps)
    worker_cpu, engine_cpu = ms(burst.worker_cpu / builds), ms(burst.engine_cpu / builds)
    claim_figures = median_and_p95(claims)
    gib = big.view[0].size / 1024**3
    static_peak = mb(max(d.server_peak_rss for d in big.static))
    view_rates = "  ".join(gbps(d.bytes_per_second) for d in big.view)
    static_rates = "  ".join(gbps(d.bytes_per_second) for d in big.static)
    view_cpu, static_cpu = big.cpu_per_gib(big.view), big.cpu_per_gib(big.static)
    stalls = ", ".join(f"{name} {share:.0%}" for name, share in pressure.items())
    return f"""
How the figures are made
  Host: {os.cpu_count()} CPUs, shared with other sessions; each part waits for a quiet host
    first. Share of the time some task waited for a CPU (/proc/pressure/cpu), by part:
    {stalls}. Wall-clock tails grow with it.
  Engine alone: tests.fake_engine started with the worker's own command line and nothing
    around it, alternating with the builds of 1a (medians of {2 * len(latency.timings)}):
      start a Python process (python -c pass)  {ms(engine.interpreter):>7}  orchestration (spawning)
      import image_builder                     {ms(imports):>7}  the engine's own run time
      fake build, main() -> exit               {ms(engine.work):>7}  the engine's own run time
    Starting a process per build is the worker's choice (isolation, killpg), so it counts
    as overhead; the engine's imports and work ({ms(engine.own)}) do not.
  1a. Overhead = (finished_at - created_at) - the engine's own run time, for builds enqueued
    one at a time onto {WORKERS} idle workers ({used}). It covers the broker hand-off, the
    claim UPDATE, loading the build, work dir + system.ini, fork/exec + Python start-up,
    reading the events, the heartbeat UPDATE, checksum + rename + publishing transaction.
    Median phases, split by the engine's start mark:
      created -> claimed          {queued:>7}  Celery + Redis + claim
      claimed -> engine main()    {spawned:>7}  set-up + spawn + engine imports
      engine main() -> finished   {published:>7}  engine work + publish
    Overhead of each build in ms: {each}; the slowest one's phases: {worst_phases}.
  1b. {builds} distinct builds enqueued at once ({burst.enqueue_seconds:.2f} s to enqueue) ran on
    {WORKERS} workers in {burst.makespan:.2f} s (first enqueue -> last finished). Overhead per
    build = makespan x {WORKERS} / {builds} - the engine's own run time. On one worker:
      finished -> next claim (clean-up, result, ack, next message)  {gap_figures}
      claimed -> engine main()                                      {claim_figures}
    CPU time per build: worker process {worker_cpu}, engine process {engine_cpu}; that is
    {WORKERS} workers on {os.cpu_count()} CPUs, with PostgreSQL, Redis and this script beside them.
  2. A product manager presses Build (POST /builds/start/<name>/) for a spec that already
    succeeded, then GETs /builds/<id>/download/disk-raw/ through gunicorn; timed from sending
    the POST to the last byte of the 200 ({cache_hit.bytes_downloaded // 1024} KiB, checksum
    verified), {len(cache_hit.seconds)} runs.
  3. A {gib:.0f} GiB sparse artifact published with build_publish, fetched by curl through the
    download view and (the same inode hard-linked under STATIC_ROOT) through WhiteNoise in
    the same gunicorn (gthread, 1 worker): how this server serves every plain static file
    (Django's FileResponse -> gunicorn sendfile). 5 downloads each, alternating. Peak RSS =
    the worker's VmHWM (reset before each download) and VmRSS sampled every 20 ms; at rest
    {mb(big.baseline_rss)}, serving the static file {static_peak}.
      view    {view_rates}
      static  {static_rates}
    Gunicorn worker CPU per GiB (median): view {view_cpu:.2f} s, static {static_cpu:.2f} s.
"""


def report(
    latency: LatencyResult,
    burst: BurstResult,
    cache_hit: CacheHitResult,
    big: BigDownloadResult,
    pressure: dict[str, float],
    notes: list[str],
) -> None:
    print(explain(latency, burst, cache_hit, big, pressure))
    for note in notes:
        print(f"  WARNING: {note}: its figures include other sessions' load.")
    engine = latency.engine
    overheads = latency.overheads()
    strict = [t.total - engine.work for t in latency.timings]
    cache_median = statistics.median(cache_hit.seconds)
    view_peak = max(d.server_peak_rss for d in big.view)
    rows: list[tuple[str, str, str, bool | None]] = [
        ("engine alone: process start + imports + work", ms(engine.total), "-", None),
        (
            f"1a overhead per build, idle workers, median of {len(overheads)}",
            ms(statistics.median(overheads)),
            "< 100 ms",
            statistics.median(overheads) < OVERHEAD_TARGET_S,
        ),
        (
            "1a overhead per build, idle workers, worst",
            ms(max(overheads)),
            "< 100 ms",
            max(overheads) < OVERHEAD_TARGET_S,
        ),
        (
            "1a same, also counting the engine's imports (median)",
            ms(statistics.median(strict)),
            "(info)",
            None,
        ),
        (
            f"1b overhead per build, {len(burst.timings)} at once on {WORKERS} workers (mean)",
            ms(burst.per_build_overhead),
            "< 100 ms",
            burst.per_build_overhead < OVERHEAD_TARGET_S,
        ),
        (
            f"2  cache hit -> artifact downloaded, median of {len(cache_hit.seconds)}",
            ms(cache_median),
            "< 1 s",
            cache_median < CACHE_HIT_TARGET_S,
        ),
        (
            "2  cache hit -> artifact downloaded, worst",
            ms(max(cache_hit.seconds)),
            "< 1 s",
            max(cache_hit.seconds) < CACHE_HIT_TARGET_S,
        ),
        (
            f"3  peak RSS of the gunicorn worker, {big.view[0].size / 1024**3:.0f} GiB, view",
            mb(view_peak),
            "< 100 MB",
            view_peak < RSS_TARGET_BYTES,
        ),
        ("3  throughput via the download view (median)", gbps(big.rate(big.view)), "-", None),
        ("3  throughput as a static file (median)", gbps(big.rate(big.static)), "-", None),
        (
            "3  view throughput / static throughput",
            f"{big.ratio:.2f} x",
            ">= 0.90 x",
            big.ratio >= THROUGHPUT_TARGET_RATIO,
        ),
    ]
    print_table(rows)


# --- Main ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=40, help="builds in the burst (1b)")
    parser.add_argument("--latency-builds", type=int, default=10, help="builds one by one (1a)")
    parser.add_argument("--big-gib", type=int, default=4, help="size of the big artifact (3)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="genpack-bench-queue-", dir="/var/tmp"))
    env = bench_environment(data_dir, max_pending=args.builds + 10)
    processes = Processes(env, log_dir=data_dir)
    try:
        print(f"setting up in {data_dir} (database {BENCH_DB}, {REDIS_URL}) ...", flush=True)
        recreate_database()
        redis_flush(REDIS_URL)
        configure_django(env)
        prepare_database()
        create_product_manager()
        warmup = make_blueprints("bench-warmup", 4)
        sequential = make_blueprints("bench-latency", args.latency_builds)
        burst_blueprints = make_blueprints("bench-burst", args.builds)
        big_blueprint = make_blueprints("bench-big", 1)[0]
        big_build, big_path = publish_big_artifact(big_blueprint, args.big_gib * 1024**3)
        # WhiteNoise lists STATIC_ROOT when gunicorn starts: the file must be there first.
        static_path = link_as_static_file(big_path)

        workers = start_workers(processes)
        wait_for_workers(WORKERS)
        port = free_port()
        gunicorn = start_gunicorn(processes, port)
        marks = Path(env["FAKE_ENGINE_MARKS"])
        # First tasks pay for connections and lazy imports once per worker, not per build.
        warmup_ids = [enqueue(blueprint) for blueprint in warmup]
        wait_for_builds(warmup_ids)

        pressure: dict[str, float] = {}
        notes: list[str] = []
        print("1: orchestration overhead ...", flush=True)
        wait_for_quiet_host(notes, "1a")
        with cpu_pressure(pressure, "1a"):
            latency = measure_latency(sequential, marks, reference_build_id=warmup_ids[0])
        wait_for_quiet_host(notes, "1b")
        with cpu_pressure(pressure, "1b"):
            burst = measure_burst(burst_blueprints, marks, latency.engine, [w.pid for w in workers])

        print("2: cache hit -> download ...", flush=True)
        wait_for_http(port)
        client = WebClient(port)
        client.login(PM_USER, PM_PASSWORD)
        wait_for_quiet_host(notes, "2")
        with cpu_pressure(pressure, "2"):
            cache_hit = measure_cache_hit(client, sequential[0].name)

        print(f"3: {args.big_gib} GiB downloads ...", flush=True)
        for worker in workers:
            processes.stop(worker)  # idle, but the downloads get the host to themselves
        wait_for_quiet_host(notes, "3")
        with cpu_pressure(pressure, "3"):
            big = measure_big_download(
                port,
                gunicorn_worker_pid(gunicorn.pid),
                client.cookies,
                (f"/builds/{big_build}/download/disk-raw/", static_path),
                args.big_gib * 1024**3,
            )
        report(latency, burst, cache_hit, big, pressure, notes)
    finally:
        processes.stop_all()
        with contextlib.suppress(subprocess.CalledProcessError):
            redis_flush(REDIS_URL)
        if "django" in sys.modules:
            drop_database()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
