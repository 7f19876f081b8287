"""Target 1 of bench/orchestration.py: what a build costs beyond the engine's own run time,
one at a time on idle workers (1a) and many at once (1b). Needs Django set up first."""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.host import cpu_seconds
from tests.harness import ROOT, wait_until

PROFILE = "kvm-x86_64"
WORKERS = 2


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
