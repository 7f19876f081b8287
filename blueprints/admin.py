from django.contrib import admin

from blueprints.models import Blueprint, BlueprintRevision


class RevisionInline(admin.TabularInline):
    model = BlueprintRevision
    fields = ["number", "message", "author", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False  # revisions are written by the editor only, never by hand


@admin.register(Blueprint)
class BlueprintAdmin(admin.ModelAdmin):
    list_display = ["name", "latest_revision", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["latest_revision"]
    inlines = [RevisionInline]


@admin.register(BlueprintRevision)
class BlueprintRevisionAdmin(admin.ModelAdmin):
    list_display = ["blueprint", "number", "message", "author", "created_at"]

    def has_change_permission(self, request, obj=None):
        return False  # immutable: a changed blueprint is a new revision
