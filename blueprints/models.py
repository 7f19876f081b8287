"""Blueprints: an appliance described once, kept as immutable revisions."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Blueprint(models.Model):
    name = models.SlugField(
        max_length=64, unique=True, help_text="Becomes the artifact name, e.g. kiosk-player."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    latest_revision = models.ForeignKey(
        "BlueprintRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        permissions = [
            ("run_setup_commands", "Can write setup commands that run as root in the image"),
        ]

    def __str__(self) -> str:
        return self.name


class BlueprintRevision(models.Model):
    """One saved state of a blueprint. Never changed after it is written: edits add a revision."""

    blueprint = models.ForeignKey(Blueprint, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    source = models.TextField(help_text="The blueprint as JSON5, exactly as saved.")
    data = models.JSONField(help_text="The parsed, validated blueprint.")
    description = models.TextField(blank=True)
    version = models.CharField(max_length=40, blank=True)
    targets = models.ManyToManyField(
        "hardware_profiles.HardwareProfile", blank=True, related_name="blueprint_revisions"
    )
    message = models.CharField(max_length=200, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["blueprint", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["blueprint", "number"], name="unique_revision_number")
        ]

    def __str__(self) -> str:
        return f"{self.blueprint.name} r{self.number}"
