"""Django's admin stays for emergencies, and is safe there: every page it links opens (no 500),
and what only the site's own code may write — builds, blueprint revisions — is read-only.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from blueprints.models import Blueprint, BlueprintRevision
from builds.models import Build
from tests.factories import BuildFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def build(seeded: None, build_host: object) -> Build:
    return BuildFactory(state=Build.State.FAILED)


def _admin_urls(build: Build) -> list[str]:
    """Every list, add and change page of every model the admin shows."""
    objects = {
        Build: build,
        Blueprint: build.revision.blueprint,
        BlueprintRevision: build.revision,
        type(build.profile): build.profile,
    }
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls += [reverse(f"{name}_changelist"), reverse(f"{name}_add")]
        if model in objects:
            urls.append(reverse(f"{name}_change", args=[objects[model].pk]))
    return urls


def test_every_admin_page_opens_or_is_refused_never_a_server_error(
    admin_client_role: Client, build: Build
) -> None:
    for url in _admin_urls(build):
        response = admin_client_role.get(url)
        assert response.status_code in (200, 302, 403), url


def test_a_build_cannot_be_added_changed_or_deleted_in_the_admin(
    admin_client_role: Client, build: Build
) -> None:
    # What the add page posts: its only form is the (empty) artifacts inline.
    inline = {"artifacts-TOTAL_FORMS": 0, "artifacts-INITIAL_FORMS": 0, "_save": "Save"}
    add = admin_client_role.post(reverse("admin:builds_build_add"), inline)
    change_url = reverse("admin:builds_build_change", args=[build.pk])
    change = admin_client_role.post(change_url, {**inline, "state": Build.State.SUCCEEDED})
    delete = admin_client_role.post(
        reverse("admin:builds_build_delete", args=[build.pk]), {"post": "yes"}
    )
    page = admin_client_role.get(change_url).content.decode()

    assert add.status_code == 403
    assert change.status_code == 403
    assert delete.status_code == 403
    assert Build.objects.get(pk=build.pk).state == Build.State.FAILED
    assert 'name="_save"' not in page  # a page to read, with nothing to save


def test_a_build_is_still_readable_in_the_admin(admin_client_role: Client, build: Build) -> None:
    response = admin_client_role.get(reverse("admin:builds_build_change", args=[build.pk]))

    assert response.status_code == 200
    assert build.error in response.content.decode()


def test_a_blueprint_revision_cannot_be_added_changed_or_deleted_in_the_admin(
    admin_client_role: Client, build: Build
) -> None:
    revision = build.revision
    source = revision.source
    add = admin_client_role.post(
        reverse("admin:blueprints_blueprintrevision_add"),
        {"blueprint": revision.blueprint.pk, "number": 99, "source": "{}", "data": "{}"},
    )
    change = admin_client_role.post(
        reverse("admin:blueprints_blueprintrevision_change", args=[revision.pk]),
        {"source": "{}"},
    )
    delete = admin_client_role.post(
        reverse("admin:blueprints_blueprintrevision_delete", args=[revision.pk]),
        {"post": "yes"},
    )

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert BlueprintRevision.objects.get(pk=revision.pk).source == source
    assert not BlueprintRevision.objects.filter(number=99).exists()


def test_a_blueprint_is_not_made_in_the_admin_without_its_first_revision(
    admin_client_role: Client, seeded: None
) -> None:
    response = admin_client_role.post(
        reverse("admin:blueprints_blueprint_add"), {"name": "bare", "revisions-TOTAL_FORMS": 0}
    )

    assert response.status_code == 403
    assert not Blueprint.objects.filter(name="bare").exists()
