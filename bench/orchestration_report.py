"""The report of bench/orchestration.py: how each figure is made, then one table of figures,
targets and PASS/FAIL."""

from __future__ import annotations

import os
import statistics

from bench.orchestration_builds import WORKERS, BurstResult, LatencyResult
from bench.orchestration_downloads import BigDownloadResult, CacheHitResult

OVERHEAD_TARGET_S = 0.100
CACHE_HIT_TARGET_S = 1.0
RSS_TARGET_BYTES = 100 * 1000**2
THROUGHPUT_TARGET_RATIO = 0.9
Row = tuple[str, str, str, bool | None]  # measure, measured, target, passed (None: no target)


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


def print_table(rows: list[Row]) -> None:
    width = max(len(row[0]) for row in rows)
    print(f"{'measure':<{width}}  {'measured':>12}  {'target':>10}  result")
    print("-" * (width + 36))
    for name, measured, target, ok in rows:
        result = "" if ok is None else verdict(ok)
        print(f"{name:<{width}}  {measured:>12}  {target:>10}  {result}")


def explain_engine_and_latency(latency: LatencyResult, pressure: dict[str, float]) -> str:
    """The host, the engine run alone and 1a, with the phases that say where the time goes."""
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
"""


def explain_burst(burst: BurstResult) -> str:
    builds = len(burst.timings)
    gaps, claims = burst.gaps_after_finish(), burst.claim_to_engine()
    gap_figures = median_and_p95(gaps)
    worker_cpu, engine_cpu = ms(burst.worker_cpu / builds), ms(burst.engine_cpu / builds)
    claim_figures = median_and_p95(claims)
    return f"""\
  1b. {builds} distinct builds enqueued at once ({burst.enqueue_seconds:.2f} s to enqueue) ran on
    {WORKERS} workers in {burst.makespan:.2f} s (first enqueue -> last finished). Overhead per
    build = makespan x {WORKERS} / {builds} - the engine's own run time. On one worker:
      finished -> next claim (clean-up, result, ack, next message)  {gap_figures}
      claimed -> engine main()                                      {claim_figures}
    CPU time per build: worker process {worker_cpu}, engine process {engine_cpu}; that is
    {WORKERS} workers on {os.cpu_count()} CPUs, with PostgreSQL, Redis and this script beside them.
"""


def explain_downloads(cache_hit: CacheHitResult, big: BigDownloadResult) -> str:
    gib = big.view[0].size / 1024**3
    static_peak = mb(max(d.server_peak_rss for d in big.static))
    view_rates = "  ".join(gbps(d.bytes_per_second) for d in big.view)
    static_rates = "  ".join(gbps(d.bytes_per_second) for d in big.static)
    view_cpu, static_cpu = big.cpu_per_gib(big.view), big.cpu_per_gib(big.static)
    return f"""\
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


def explain(
    latency: LatencyResult,
    burst: BurstResult,
    cache_hit: CacheHitResult,
    big: BigDownloadResult,
    pressure: dict[str, float],
) -> str:
    """How each figure is made, with the breakdowns that say where the time goes."""
    return (
        explain_engine_and_latency(latency, pressure)
        + explain_burst(burst)
        + explain_downloads(cache_hit, big)
    )


def build_rows(latency: LatencyResult, burst: BurstResult) -> list[Row]:
    """The engine alone, 1a and 1b."""
    engine = latency.engine
    overheads = latency.overheads()
    strict = [t.total - engine.work for t in latency.timings]
    return [
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
    ]


def download_rows(cache_hit: CacheHitResult, big: BigDownloadResult) -> list[Row]:
    """2 and 3."""
    cache_median = statistics.median(cache_hit.seconds)
    view_peak = max(d.server_peak_rss for d in big.view)
    return [
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
    print_table(build_rows(latency, burst) + download_rows(cache_hit, big))
