"""factory_boy factories shared by the tests.

Blueprints, revisions and builds are made through the services, the way the site makes them
(blueprint_create, blueprint_update, build_enqueue, build_claim, build_publish...): what a
factory returns is something the code under test could have made. Artifact rows are plain
rows, for tests about rows that no service would write. Builds and blueprints need the seeded
profiles (the `seeded` or `kvm` fixture); published builds also need `data_dirs`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser

from blueprints.models import Blueprint, BlueprintRevision
from blueprints.services import blueprint_create, blueprint_update
from builds import paths
from builds.models import Artifact, Build
from builds.services import (
    ProducedFile,
    build_cancel,
    build_claim,
    build_enqueue,
    build_fail,
    build_publish,
)
from hardware_profiles.models import HardwareProfile

KVM = "kvm-x86_64"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def groups(self, create: bool, extracted: list | None, **kwargs: object) -> None:
        if create and extracted:
            self.groups.add(*extracted)
        if create:
            self.save()


class BlueprintFactory(factory.Factory):
    """A blueprint made by blueprint_create, targeting the KVM profile; given `packages`,
    a second revision adds them (blueprint_update), as the editor's packages section does."""

    class Meta:
        model = Blueprint

    name = factory.Sequence(lambda n: f"blueprint-{n}")
    author = None
    targets = factory.LazyFunction(lambda: list(HardwareProfile.objects.filter(slug=KVM)))
    packages: tuple[str, ...] = ()

    @classmethod
    def _create(
        cls,
        model_class: type[Blueprint],
        *,
        name: str,
        author: AbstractBaseUser | None,
        targets: list[HardwareProfile],
        packages: list[str] | tuple[str, ...],
    ) -> Blueprint:
        blueprint = blueprint_create(name=name, author=author, targets=list(targets))
        if packages:
            RevisionFactory(blueprint=blueprint, changes={"packages": list(packages)})
        return blueprint


class RevisionFactory(factory.Factory):
    """The next revision of `blueprint` (a new one unless given), saved by blueprint_update
    with `changes` (by default a new version). `blueprint` is refreshed to point at it."""

    class Meta:
        model = BlueprintRevision

    blueprint = factory.SubFactory(BlueprintFactory)
    changes = factory.Sequence(lambda n: {"version": f"1.{n + 1}"})
    message = factory.LazyAttribute(lambda revision: ", ".join(revision.changes))
    author = None

    @classmethod
    def _create(
        cls,
        model_class: type[BlueprintRevision],
        *,
        blueprint: Blueprint,
        changes: dict[str, Any],
        message: str,
        author: AbstractBaseUser | None,
    ) -> BlueprintRevision:
        revision = blueprint_update(
            blueprint=blueprint,
            changes=changes,
            message=message,
            author=author,
            based_on=blueprint.latest_revision.number,
        )
        blueprint.refresh_from_db()
        return revision


def _latest_revision_of_a_new_blueprint() -> BlueprintRevision:
    return BlueprintFactory().latest_revision


def _publish(build: Build, files: list[tuple[str, str, bytes]]) -> None:
    """What the worker does with what the engine wrote: stage the files, build_publish them."""
    staging = paths.build_staging_dir(build.pk)
    staging.mkdir(parents=True)
    produced = []
    for kind, name, payload in files:
        (staging / name).write_bytes(payload)
        produced.append(ProducedFile(kind, name, len(payload), hashlib.sha256(payload).hexdigest()))
    if not build_publish(build_id=build.pk, staging=staging, files=produced):
        raise RuntimeError(f"build {build.pk} was not published")


class BuildFactory(factory.Factory):
    """A build of `revision` (of a new blueprint unless given) for the KVM profile, queued by
    build_enqueue (its task is sent on commit, so not inside a django_db test), then taken as
    far as `state`: RUNNING (claimed by worker "w"), SUCCEEDED (published with `files`, each
    (kind, name, bytes)), FAILED (with `error`) or CANCELLED; `boot_test_state`, when given,
    is set last (publishing leaves it pending). Returns a fresh row."""

    class Meta:
        model = Build

    revision = factory.LazyFunction(_latest_revision_of_a_new_blueprint)
    profile = factory.LazyFunction(lambda: HardwareProfile.objects.get(slug=KVM))
    requested_by = None
    state = Build.State.QUEUED
    files = factory.LazyFunction(lambda: [("disk-raw", "kiosk.img", b"image")])
    error = "the engine failed"
    boot_test_state = None  # None: as publishing left it; "passed" etc.: set afterwards

    @classmethod
    def _create(
        cls,
        model_class: type[Build],
        *,
        revision: BlueprintRevision,
        profile: HardwareProfile,
        requested_by: AbstractBaseUser | None,
        state: str,
        files: list[tuple[str, str, bytes]],
        error: str,
        boot_test_state: str | None,
    ) -> Build:
        build = build_enqueue(revision=revision, profile=profile, requested_by=requested_by)
        if state == Build.State.CANCELLED:
            build_cancel(build=build, by=None)
        elif state != Build.State.QUEUED:
            if not build_claim(build_id=build.pk, worker="w", task_id="t"):
                raise RuntimeError(f"build {build.pk} could not be claimed (state {build.state})")
            if state == Build.State.SUCCEEDED:
                _publish(build, files)
            elif state == Build.State.FAILED:
                build_fail(build_id=build.pk, error=error)
        if boot_test_state is not None:
            Build.objects.filter(pk=build.pk).update(boot_test_state=boot_test_state)
        return Build.objects.get(pk=build.pk)


class ArtifactFactory(factory.django.DjangoModelFactory):
    """An Artifact row by itself, with no file behind it unless the test writes one: for rows
    no service writes (a forged path, a file gone from disk)."""

    class Meta:
        model = Artifact

    build = factory.SubFactory(BuildFactory, state=Build.State.SUCCEEDED)
    kind = Artifact.Kind.LOG
    path = factory.LazyAttribute(lambda artifact: f"builds/{artifact.build.pk}/build.log")
    size = 0
    sha256 = "0" * 64
