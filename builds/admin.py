from django.contrib import admin

from builds.models import Artifact, Build, BuildHost


class ArtifactInline(admin.TabularInline):
    model = Artifact
    readonly_fields = ["kind", "path", "size", "sha256", "created_at"]
    extra = 0
    can_delete = False


@admin.register(Build)
class BuildAdmin(admin.ModelAdmin):
    list_display = ["id", "revision", "profile", "state", "created_at", "finished_at"]
    list_filter = ["state", "profile"]
    readonly_fields = [f.name for f in Build._meta.fields]
    inlines = [ArtifactInline]


@admin.register(BuildHost)
class BuildHostAdmin(admin.ModelAdmin):
    """What each worker last reported; the workers write these rows, so nobody edits them
    (deleting one is harmless: its worker announces itself again at its next beat)."""

    list_display = ["name", "architectures", "queues", "heartbeat_at", "stopped_at"]
    readonly_fields = [f.name for f in BuildHost._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
