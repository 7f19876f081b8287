"""Builds of a blueprint revision for one hardware profile, and the files they produce."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import models


class BootTestState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


class Build(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINAL_STATES = frozenset({State.SUCCEEDED, State.FAILED, State.CANCELLED})

    revision = models.ForeignKey(
        "blueprints.BlueprintRevision", on_delete=models.PROTECT, related_name="builds"
    )
    profile = models.ForeignKey(
        "hardware_profiles.HardwareProfile", on_delete=models.PROTECT, related_name="builds"
    )
    spec = models.JSONField(help_text="The frozen BuildSpec the engine received.")
    spec_hash = models.CharField(max_length=64, db_index=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    phase = models.CharField(max_length=40, blank=True, help_text="Engine step while running.")
    step_number = models.PositiveSmallIntegerField(
        default=0, help_text="Which of the engine's steps is running (1 = the first)."
    )
    step_count = models.PositiveSmallIntegerField(
        default=0, help_text="How many steps the engine reported it runs."
    )
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True, help_text="Why the build failed or was cancelled.")
    failed_step = models.CharField(
        max_length=40,
        blank=True,
        help_text="The engine step that failed (rootfs, services, files...), or the site's "
        "reason (worker-lost, no-host, time-limit...): builds/presenting.py explains it.",
    )
    cache_hit_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cache_hits",
        help_text="The earlier build whose artifacts this one reuses.",
    )
    released = models.BooleanField(default=False)
    # "Rebuild with the latest packages": the engine makes a fresh base tree instead of
    # reusing a cached one (image_builder/base_cache.py).
    fresh_base = models.BooleanField(default=False)
    # The boot test (builds/boot_tests.py): queued when the build's files are published, run
    # on its own queue. "" = never run: the build was made before boot tests existed.
    boot_test_state = models.CharField(
        max_length=10, choices=BootTestState.choices, blank=True, default=""
    )
    boot_test_started_at = models.DateTimeField(null=True, blank=True)
    boot_test_finished_at = models.DateTimeField(null=True, blank=True)
    boot_test_heartbeat_at = models.DateTimeField(null=True, blank=True)
    boot_test_task_id = models.CharField(max_length=64, blank=True)
    boot_test_login_seconds = models.FloatField(
        null=True, blank=True, help_text="From power-on to the serial console's login prompt."
    )
    # Where the time to login went (image_builder.boottest.boot_phases): phase → seconds.
    boot_test_phases = models.JSONField(default=dict, blank=True)
    # The units that took longest to start, from systemd-analyze blame: [[unit, seconds]].
    boot_test_units = models.JSONField(default=list, blank=True)
    boot_test_applied = models.JSONField(
        default=dict, blank=True, help_text="system.ini keys the device applied: key → value."
    )
    boot_test_rejected = models.JSONField(
        default=dict, blank=True, help_text="system.ini keys the device rejected: key → why."
    )
    boot_test_error = models.TextField(
        blank=True, help_text="Why the boot test failed or was skipped, in words."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("release_build", "Can release a build to field technicians"),
            ("cancel_build", "Can cancel a build"),
        ]
        indexes = [models.Index(fields=["state", "created_at"])]
        constraints = [
            # Identical specs never build twice at once: the second request joins the first.
            models.UniqueConstraint(
                fields=["spec_hash"],
                condition=models.Q(state__in=["queued", "running"]),
                name="one_active_build_per_spec",
            )
        ]

    def __str__(self) -> str:
        return f"Build #{self.pk} {self.revision} for {self.profile.slug}"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINAL_STATES

    @property
    def artifact_source(self) -> Build:
        """The build whose files this one offers: itself, or the build it was a cache hit of."""
        return self.cache_hit_of or self


def builds_visible_to(user: AbstractBaseUser | AnonymousUser) -> models.QuerySet[Build]:
    """The builds a person may see: all of them for blueprint readers; field technicians see
    what was released to them (only a succeeded build can be released)."""
    builds = Build.objects.select_related("revision__blueprint", "profile", "cache_hit_of")
    if not user.has_perm("blueprints.view_blueprint"):
        builds = builds.filter(released=True, state=Build.State.SUCCEEDED)
    return builds


class Artifact(models.Model):
    class Kind(models.TextChoices):
        SYSTEM_IMG = "system-img", "system.img (update file)"
        DISK_RAW = "disk-raw", "Disk image (.img)"
        DISK_ZST = "disk-zst", "Disk image, zstd (.img.zst)"
        DISK_XZ = "disk-xz", "Disk image, xz (.img.xz)"
        DISK_QCOW2 = "disk-qcow2", "QEMU disk (.qcow2)"
        BMAP = "bmap", "Block map"
        SHA256SUMS = "sha256sums", "Checksums"
        MANIFEST = "manifest", "Manifest"
        SBOM = "sbom", "Software bill of materials (SPDX JSON)"
        LOG = "log", "Build log"
        CONSOLE_LOG = "console-log", "Boot test console log"

    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="artifacts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    path = models.CharField(max_length=500, help_text="Relative to GENPACK_ARTIFACTS_DIR.")
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["build", "kind"]
        permissions = [("download_artifact", "Can download build artifacts")]
        constraints = [
            models.UniqueConstraint(fields=["build", "kind"], name="unique_artifact_kind")
        ]

    def __str__(self) -> str:
        return self.path


class BuildHost(models.Model):
    """A Celery worker that takes builds, as it last reported itself (builds/host_agent.py).

    The row is the only liveness signal: the embedded broker has no broadcast, so nothing
    asks workers; each one announces itself at start, beats every
    GENPACK_BUILD_HOST_HEARTBEAT_SECONDS and says goodbye at a clean stop.
    """

    name = models.CharField(max_length=200, unique=True, help_text="Celery node name.")
    architectures = models.JSONField(
        default=list, help_text="What this host can really build (its probe at start)."
    )
    queues = models.JSONField(default=list, help_text="The Celery queues it consumes.")
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True, help_text="A clean stop.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def builds_for(self) -> list[str]:
        """The architectures it takes builds of: those it can build and whose queue it reads."""
        return [arch for arch in self.architectures if arch in self.queues]


class ReleaseEvent(models.Model):
    """Who released or withdrew which build, when and why (the release history).

    `override` marks a release an admin made without a passed boot test; its `reason` is shown
    on the build page and to technicians.
    """

    class Action(models.TextChoices):
        RELEASED = "released", "Released"
        WITHDRAWN = "withdrawn", "Withdrawn"

    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="release_events")
    action = models.CharField(max_length=10, choices=Action.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField(blank=True)
    override = models.BooleanField(
        default=False, help_text="Released without a passed boot test, by an admin."
    )

    class Meta:
        ordering = ["-at", "-pk"]
        permissions = [
            ("override_boot_test", "Can release a build whose boot test did not pass"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} build #{self.build_id}"
