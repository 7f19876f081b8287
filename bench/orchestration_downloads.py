"""Targets 2 and 3 of bench/orchestration.py: a cache hit's download through gunicorn, and a
big artifact streamed by the download view against the same file as a static file."""

from __future__ import annotations

import hashlib
import http.client
import http.cookies
import os
import re
import statistics
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from bench.host import cpu_seconds, peak_rss, status_kib
from bench.orchestration_builds import PROFILE


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
