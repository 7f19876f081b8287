from django.contrib import admin
from django.http import HttpRequest

from builds.models import Artifact, Build, BuildHost, ReleaseEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows only the site's own services write: Django's admin shows them, nothing more."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ArtifactInline(admin.TabularInline):
    model = Artifact
    readonly_fields = ["kind", "path", "size", "sha256", "created_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # artifacts are published by the worker, never typed in

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Build)
class BuildAdmin(ReadOnlyAdmin):
    """Builds are queued, run and published by services (builds/services.py); a row made or
    changed here would skip the state machine and the artifacts on disk, and deleting one
    would leave its files behind: the admin only reads them (cancel and release are in the
    site)."""

    list_display = ["id", "revision", "profile", "state", "created_at", "finished_at"]
    list_filter = ["state", "profile"]
    readonly_fields = [f.name for f in Build._meta.fields]
    inlines = [ArtifactInline]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(BuildHost)
class BuildHostAdmin(ReadOnlyAdmin):
    """What each worker last reported; the workers write these rows, so nobody edits them
    (deleting one is harmless: its worker announces itself again at its next beat)."""

    list_display = ["name", "architectures", "queues", "heartbeat_at", "stopped_at"]
    readonly_fields = [f.name for f in BuildHost._meta.fields]


@admin.register(ReleaseEvent)
class ReleaseEventAdmin(ReadOnlyAdmin):
    """The release history (builds/releases.py writes it): nobody edits or deletes a line."""

    list_display = ["at", "action", "build", "by", "override"]
    list_filter = ["action", "override"]
    readonly_fields = [f.name for f in ReleaseEvent._meta.fields]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
