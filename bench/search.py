"""Package-search latency over the full Debian index, with 20 concurrent clients.

    .venv/bin/python bench/search.py [--clients 20] [--queries 300] [--pause-ms 0]

Uses its own PostgreSQL database (`genpack_bench`, created and migrated if missing; set
BENCH_DATABASE_URL to use another) holding the real bookworm/main/amd64 index, read from the
mirror the first time. Each client is a thread with its own database connection that types
like a designer: the first 1..6 letters of a real package name, one keystroke at a time, or a
word from a real summary. It calls `package_search`, the service the search box calls, and
the figures are per call. Target: p95 below 50 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # run as a script: project modules from the project root
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/genpack_bench"
)
SUITE, COMPONENT, ARCH = "bookworm", "main", "amd64"
TARGET_P95_MS = 50.0


def database_ensure(url: str) -> None:
    """Create the bench database if the server lacks it (never touches any other database)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def django_setup() -> None:
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genpack_site.settings")
    import django

    django.setup()


def index_ensure() -> str:
    from django.conf import settings
    from django.core.management import call_command

    from package_index.models import Package
    from package_index.store import package_index_update

    call_command("migrate", verbosity=0)
    count = Package.objects.filter(suite=SUITE, component=COMPONENT, arch=ARCH).count()
    if count:
        return f"{count} packages already loaded"
    result = package_index_update(
        suite=SUITE, component=COMPONENT, arch=ARCH, mirror=settings.GENPACK_DEBIAN_MIRROR
    )
    return f"loaded {result.packages} packages from the mirror in {result.seconds:.1f} s"


Session = tuple[str, list[str]]  # what kind of typing, the queries sent keystroke by keystroke


def index_rows() -> list[tuple[str, str]]:
    from package_index.models import Package

    rows = Package.objects.filter(suite=SUITE, component=COMPONENT, arch=ARCH)
    return list(rows.values_list("name", "summary"))


def typing_sessions(rows: list[tuple[str, str]], count: int, seed: int) -> list[Session]:
    """What designers type: the start of a real name, or a word of a real summary."""
    rng = random.Random(seed)
    sessions: list[Session] = []
    for _ in range(count):
        name, summary = rng.choice(rows)
        words = [w for w in summary.lower().split() if len(w) >= 3 and w.isalpha()]
        if rng.random() < 0.8 or not words:
            length = rng.randint(1, 6)
            sessions.append(("name", [name[:n] for n in range(1, min(length, len(name)) + 1)]))
        else:
            sessions.append(("summary word", [rng.choice(words)]))
    return sessions


def sample_kind(kind: str, query: str) -> str:
    if kind != "name":
        return kind
    return {1: "name, 1 char", 2: "name, 2 chars"}.get(len(query), "name, 3-6 chars")


def client(
    sessions: list[Session], pause: float, start: threading.Barrier, out: list[tuple[str, float]]
) -> None:
    from django.db import connection

    from package_index.search import package_search

    scope = {"suite": SUITE, "arches": [ARCH], "components": [COMPONENT]}
    package_search(query="warm-up", **scope)  # opens this thread's own connection
    start.wait()
    try:
        for kind, queries in sessions:
            for query in queries:
                began = time.perf_counter()
                package_search(query=query, **scope)
                out.append((sample_kind(kind, query), (time.perf_counter() - began) * 1000))
                if pause:
                    time.sleep(pause)
    finally:
        connection.close()


def run(
    rows: list[tuple[str, str]], clients: int, queries: int, pause_ms: float, seed: int
) -> tuple[list[tuple[str, float]], float]:
    per_client = max(1, queries // 3)  # a session is ~3 keystrokes on average
    results: list[list[tuple[str, float]]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    threads = [
        threading.Thread(
            target=client,
            args=(typing_sessions(rows, per_client, seed + i), pause_ms / 1000, start, results[i]),
        )
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return [sample for result in results for sample in result], time.perf_counter() - began


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else 0


def row(label: str, samples: list[float], seconds: float | None = None) -> str:
    rate = f"{len(samples) / seconds:8.0f}" if seconds else " " * 8
    return (
        f"{label:<26} {len(samples):6} {rate} {statistics.mean(samples):7.1f} "
        f"{percentile(samples, 50):7.1f} {percentile(samples, 95):7.1f} "
        f"{percentile(samples, 99):7.1f} {max(samples):7.1f}"
    )


def report(title: str, samples: list[tuple[str, float]], seconds: float) -> float:
    latencies = [ms for _, ms in samples]
    print(f"\n{title}")
    print(
        f"{'':<26} {'calls':>6} {'calls/s':>8} {'mean':>7} {'p50':>7} {'p95':>7} {'p99':>7} "
        f"{'max':>7}   (ms)"
    )
    print(row("all queries", latencies, seconds))
    for kind in ("name, 1 char", "name, 2 chars", "name, 3-6 chars", "summary word"):
        part = [ms for sample_kind, ms in samples if sample_kind == kind]
        if part:
            print(row(f"  {kind}", part))
    return percentile(latencies, 95)


def editor_render_times(runs: int = 30) -> list[float]:
    """Milliseconds to render the whole editor page of a realistic blueprint (server side)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.test import Client

    from blueprints.models import Blueprint
    from blueprints.services import blueprint_create, blueprint_update
    from genpack_site.roles import ADMIN
    from hardware_profiles.models import HardwareProfile

    call_command("seed", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    Blueprint.objects.filter(name="bench-editor").delete()
    blueprint = blueprint_create(
        name="bench-editor",
        author=None,
        targets=list(HardwareProfile.objects.filter(slug__in=["pc-x86_64", "kvm-x86_64"])),
    )
    packages = [name for name, _ in index_rows()[:40]]
    blueprint_update(
        blueprint=blueprint,
        message="bench",
        author=None,
        based_on=1,
        changes={
            "packages": packages,
            "services": ["ssh"],
            "users": [{"name": f"user{n}", "ssh_keys": []} for n in range(5)],
            "settings": [{"section": "app", "key": f"k{n}", "type": "string"} for n in range(8)],
            "system_ini": {"hostname": "bench", "timezone": "Europe/Berlin"},
        },
    )
    user, _ = get_user_model().objects.get_or_create(username="bench-admin", is_superuser=True)
    user.groups.add(*Group.objects.filter(name=ADMIN))
    browser = Client(HTTP_HOST="localhost")
    browser.force_login(user)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = browser.get("/blueprints/bench-editor/edit/")
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--queries", type=int, default=300, help="per client, about")
    parser.add_argument("--pause-ms", type=float, default=0, help="think time per keystroke")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    if DATABASE_URL.startswith("postgres"):
        database_ensure(DATABASE_URL)
    django_setup()
    from django.db import connection

    print(f"database: {DATABASE_URL} ({connection.display_name})")
    print(f"index: {SUITE}/{COMPONENT}/{ARCH}: {index_ensure()}")
    connection.close()

    from django.core.cache import cache
    from django.core.cache.backends.dummy import DummyCache

    from package_index import search as package_search_module

    pause = f"{args.pause_ms:g} ms think time" if args.pause_ms else "back to back"
    package_search_module.cache = DummyCache("bench", {})  # every call reaches the database
    rows = index_rows()
    single, single_s = run(rows, 1, args.queries, 0, args.seed)
    report("1 client, back to back, no result cache (baseline)", single, single_s)
    many, many_s = run(rows, args.clients, args.queries, args.pause_ms, args.seed)
    raw_p95 = report(f"{args.clients} clients, {pause}, no result cache", many, many_s)
    package_search_module.cache = cache
    cache.clear()  # starts cold, as after a restart
    many, many_s = run(rows, args.clients, args.queries, args.pause_ms, args.seed)
    p95 = report(f"{args.clients} clients, {pause}, result cache as deployed", many, many_s)
    print(
        f"\ntarget p95 < {TARGET_P95_MS:g} ms with {args.clients} clients "
        f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end):"
    )
    for label, value in (("no result cache", raw_p95), ("result cache", p95)):
        verdict = "PASS" if value < TARGET_P95_MS else "FAIL"
        print(f"  {label:<16} p95 {value:6.1f} ms  {verdict}")
    renders = editor_render_times()
    print(
        f"\neditor page render (40 packages, 5 users, 8 settings, 2 targets), "
        f"{len(renders)} runs: p50 {percentile(renders, 50):.1f} ms, "
        f"p95 {percentile(renders, 95):.1f} ms, max {max(renders):.1f} ms"
    )


if __name__ == "__main__":
    main()
