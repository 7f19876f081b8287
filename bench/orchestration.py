"""Build-queue benchmark: orchestration overhead, cache-hit download latency, big downloads.

    .venv/bin/python bench/orchestration.py [--builds 40] [--latency-builds 10] [--big-gib 4]

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
from the test suite's harness (tests/harness.py); the targets live in orchestration_builds
(1), orchestration_downloads (2, 3) and orchestration_report (the table). Project modules
are imported inside functions because the settings they read come from the environment this
script sets first (see configure_django).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `bench` and `tests` from the project root

from bench.host import cpu_pressure, gunicorn_worker_pid, wait_for_quiet_host  # noqa: E402
from bench.orchestration_builds import (  # noqa: E402
    WORKERS,
    enqueue,
    make_blueprints,
    measure_burst,
    measure_latency,
    wait_for_builds,
)
from bench.orchestration_downloads import (  # noqa: E402
    WebClient,
    link_as_static_file,
    measure_big_download,
    measure_cache_hit,
    publish_big_artifact,
    wait_for_http,
)
from bench.orchestration_report import report  # noqa: E402
from tests.harness import (  # noqa: E402
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
PM_USER, PM_PASSWORD = "bench-pm", "bench-password-7f3a"


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
    from builds.hosts import online_build_hosts
    from genpack_site.celery import app

    if not wait_until(lambda: len(app.control.ping(timeout=0.5)) >= count, timeout, interval=0):
        raise RuntimeError(f"{count} Celery workers did not answer within {timeout:.0f} s")
    # build_enqueue refuses builds no online build host would take: wait for their rows too.
    if not wait_until(lambda: online_build_hosts().count() >= count, timeout):
        raise RuntimeError(f"{count} workers did not announce themselves as build hosts")


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


# --- Main ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=40, help="builds in the burst (1b)")
    parser.add_argument("--latency-builds", type=int, default=10, help="builds one by one (1a)")
    parser.add_argument("--big-gib", type=int, default=4, help="size of the big artifact (3)")
    return parser.parse_args()


@dataclass
class Prepared:
    """The database, the blueprints of each part and the big artifact, before any process."""

    warmup: list
    sequential: list
    burst: list
    big_build: int
    big_paths: tuple[str, str]  # the download view's path and the static file's


def prepare(env: dict[str, str], args: argparse.Namespace) -> Prepared:
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
    view_path = f"/builds/{big_build}/download/disk-raw/"
    return Prepared(warmup, sequential, burst_blueprints, big_build, (view_path, static_path))


def run(processes: Processes, prepared: Prepared, args: argparse.Namespace) -> None:
    """Start the workers and gunicorn, measure the three parts, print the report."""
    workers = start_workers(processes)
    wait_for_workers(WORKERS)
    port = free_port()
    gunicorn = start_gunicorn(processes, port)
    marks = Path(processes.env["FAKE_ENGINE_MARKS"])
    # First tasks pay for connections and lazy imports once per worker, not per build.
    warmup_ids = [enqueue(blueprint) for blueprint in prepared.warmup]
    wait_for_builds(warmup_ids)

    pressure: dict[str, float] = {}
    notes: list[str] = []
    print("1: orchestration overhead ...", flush=True)
    wait_for_quiet_host(notes, "1a")
    with cpu_pressure(pressure, "1a"):
        latency = measure_latency(prepared.sequential, marks, reference_build_id=warmup_ids[0])
    wait_for_quiet_host(notes, "1b")
    with cpu_pressure(pressure, "1b"):
        burst = measure_burst(prepared.burst, marks, latency.engine, [w.pid for w in workers])

    print("2: cache hit -> download ...", flush=True)
    wait_for_http(port)
    client = WebClient(port)
    client.login(PM_USER, PM_PASSWORD)
    wait_for_quiet_host(notes, "2")
    with cpu_pressure(pressure, "2"):
        cache_hit = measure_cache_hit(client, prepared.sequential[0].name)

    print(f"3: {args.big_gib} GiB downloads ...", flush=True)
    for worker in workers:
        processes.stop(worker)  # idle, but the downloads get the host to themselves
    wait_for_quiet_host(notes, "3")
    with cpu_pressure(pressure, "3"):
        server_pid = gunicorn_worker_pid(gunicorn.pid)
        big = measure_big_download(
            port, server_pid, client.cookies, prepared.big_paths, args.big_gib * 1024**3
        )
    report(latency, burst, cache_hit, big, pressure, notes)


def main() -> None:
    args = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="genpack-bench-queue-", dir="/var/tmp"))
    env = bench_environment(data_dir, max_pending=args.builds + 10)
    processes = Processes(env, log_dir=data_dir)
    try:
        print(f"setting up in {data_dir} (database {BENCH_DB}, {REDIS_URL}) ...", flush=True)
        run(processes, prepare(env, args), args)
    finally:
        processes.stop_all()
        with contextlib.suppress(subprocess.CalledProcessError):
            redis_flush(REDIS_URL)
        if "django" in sys.modules:
            drop_database()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
