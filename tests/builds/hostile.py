"""A released, succeeded build whose log holds markup, as a product manager can cause: the
engine echoes file paths and user comments into the log, and a path like
`/etc/<img src=x onerror=…>` passes the path rules."""

from __future__ import annotations

import hashlib

from builds import paths
from builds.logs import BuildLog
from builds.models import BootTestState, Build
from builds.services import (
    ProducedFile,
    build_claim,
    build_enqueue,
    build_publish,
    build_release,
)
from hardware_profiles.models import HardwareProfile
from tests.builds.conftest import make_blueprint

IMG_MARKUP = '<img src=x onerror="window.__pwned=1">'
SCRIPT_MARKUP = "<script>window.__pwned=2</script>"
HOSTILE_LINES = [
    f"customize: placing /etc/{IMG_MARKUP}",
    f"users: comment {SCRIPT_MARKUP}",
    'files: </pre><svg onload="window.__pwned=3"></svg> &amp; &lt;b&gt;',
]


def released_build_with_hostile_log(
    profile: HardwareProfile, *, filler_lines: int = 0, name: str = "hostile"
) -> Build:
    """Written the way the worker writes logs (BuildLog); `filler_lines` make the log long
    enough to arrive in several chunks, with the markup at its start and at its end."""
    build = build_enqueue(
        revision=make_blueprint(name).latest_revision, profile=profile, requested_by=None
    )
    build_claim(build_id=build.pk, worker="w", task_id="t")
    log = BuildLog(paths.build_log_path(build.pk))
    for line in HOSTILE_LINES:
        log.write(line)
    for number in range(filler_lines):
        log.write(f"apt: unpacking package number {number:06d} of a long build …")
    for line in HOSTILE_LINES:
        log.write(line)
    log.close()
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    (staging / f"{name}.img").write_bytes(b"image")
    produced = ProducedFile("disk-raw", f"{name}.img", 5, hashlib.sha256(b"image").hexdigest())
    assert build_publish(build_id=build.pk, staging=staging, files=[produced])
    Build.objects.filter(pk=build.pk).update(boot_test_state=BootTestState.PASSED)
    build = Build.objects.get(pk=build.pk)
    assert build_release(build=build)
    return Build.objects.get(pk=build.pk)
