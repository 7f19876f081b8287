from django.contrib import admin
from django.http import HttpRequest

from blueprints.models import Blueprint, BlueprintRevision


class RevisionInline(admin.TabularInline):
    model = BlueprintRevision
    fields = ["number", "message", "author", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # revisions are written by the editor only, never by hand

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Blueprint)
class BlueprintAdmin(admin.ModelAdmin):
    list_display = ["name", "latest_revision", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["latest_revision"]
    inlines = [RevisionInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a blueprint starts with its first revision: made in the site's editor


@admin.register(BlueprintRevision)
class BlueprintRevisionAdmin(admin.ModelAdmin):
    """Immutable: a changed blueprint is a new revision, written by the editor; builds and
    the blueprint's history point at every one, so none is added, changed or deleted here."""

    list_display = ["blueprint", "number", "message", "author", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
