"""The Debian package index: one row per binary package of a (suite, component, arch)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models


class Package(models.Model):
    """One binary package of a mirror's index, as the blueprint designer searches and checks it.

    Rows of one (suite, component, arch) are replaced together by the package index update;
    `arch` is the index's architecture, so `Architecture: all` packages appear under each arch.
    Search indexes for substrings (pg_trgm) are added by the migration on PostgreSQL only.
    """

    suite = models.CharField(max_length=40)
    component = models.CharField(max_length=40)
    arch = models.CharField(max_length=16)
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=200)
    summary = models.TextField(blank=True, help_text="First line of the Description.")
    installed_size = models.PositiveBigIntegerField(default=0, help_text="KiB, as dpkg says.")
    size = models.PositiveBigIntegerField(default=0, help_text="Bytes of the .deb file.")
    section = models.CharField(max_length=100, blank=True)
    provides = models.JSONField(default=list, blank=True, help_text="Virtual package names.")
    units = models.JSONField(default=list, blank=True, help_text="systemd units it ships.")
    depends = models.JSONField(
        default=list, blank=True, help_text="Pre-Depends and Depends, first alternatives."
    )
    essential = models.BooleanField(default=False, help_text="Essential: yes (always installed).")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["suite", "arch", "component", "name"], name="unique_package_per_index"
            )
        ]
        # Exact lookups by name. Search walks names in byte order (a prefix is one contiguous
        # range then, whatever the collation): on PostgreSQL through a `name COLLATE "C"` index
        # and trigram indexes that the migration adds; SQLite's plain index is in byte order.
        indexes = [models.Index(fields=["name"], name="package_name")]
        # The table was created by the blueprints app; moving the model kept it and its data.
        db_table = "blueprints_package"

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.suite}/{self.component}/{self.arch})"


class PackageIndexState(models.Model):
    """What the last successful update of one (suite, component, arch) read from the mirror."""

    suite = models.CharField(max_length=40)
    component = models.CharField(max_length=40)
    arch = models.CharField(max_length=16)
    mirror = models.CharField(max_length=300)
    updated_at = models.DateTimeField()
    package_count = models.PositiveIntegerField(default=0)
    release_date = models.DateTimeField(null=True, blank=True, help_text="Release `Date`.")
    valid_until = models.DateTimeField(null=True, blank=True, help_text="Release `Valid-Until`.")
    etag = models.CharField(max_length=200, blank=True, help_text="ETag of the Release file.")
    source_sha256 = models.CharField(
        max_length=64, blank=True, help_text="Digest of the index files read; same → no reload."
    )
    index_format = models.PositiveSmallIntegerField(
        default=1, help_text="What the rows hold (store.INDEX_FORMAT); older → read again."
    )

    class Meta:
        ordering = ["suite", "component", "arch"]
        constraints = [
            models.UniqueConstraint(
                fields=["suite", "component", "arch"], name="unique_package_index_state"
            )
        ]
        db_table = "blueprints_packageindexstate"

    def __str__(self) -> str:
        return f"{self.suite}/{self.component}/{self.arch}"


def packages_of(
    *, suite: str, arches: Iterable[str], components: Iterable[str]
) -> models.QuerySet[Package]:
    """The rows of the named indexes."""
    return Package.objects.filter(suite=suite, arch__in=list(arches), component__in=components)
