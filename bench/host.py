"""What /proc says about the bench's processes and the shared host: CPU time, CPU pressure
(other sessions' load), a server's worker process and its peak memory (Linux only)."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


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
