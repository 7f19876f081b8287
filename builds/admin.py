from django.contrib import admin

from builds.models import Artifact, Build


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
