"""The build page and list after and during a build: why it failed and where to fix it, the
phase in plain words with its step and time, the place in the queue, durations."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from builds.models import BootTestState, Build
from builds.services import (
    SiteFailure,
    build_fail,
    build_heartbeat,
    build_requeue,
    builds_reap,
)
from hardware_profiles.models import HardwareProfile
from image_builder.chroot import Chroot
from image_builder.customize import enable_services
from image_builder.errors import BuildError
from image_builder.report import NullReporter
from image_builder.runner import Runner
from image_builder.spec import BuildSpec
from tests.factories import BlueprintFactory, BuildFactory, RevisionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]
REBUILD = "Rebuild with the latest packages"
# What rootfs.build_rootfs says when apt cannot find a package (its failure hint).
MISSING_PACKAGE = "package(s) not found in Debian bookworm/amd64 (main): pyhton3, notapkg-xyz"
# apt's words when the mirror cannot be reached (cli marks them transient).
MIRROR_DOWN = (
    "mmdebstrap failed with exit code 1:\n"
    "E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  "
    "Temporary failure resolving 'deb.debian.org'"
)


def _failed(step: str, message: str, **factory: object) -> Build:
    """A running build failed the way the task records an engine failure."""
    build = BuildFactory(state=Build.State.RUNNING, **factory)
    assert build_fail(build_id=build.pk, error=message, step=step)
    return Build.objects.get(pk=build.pk)


def _missing_service_error(build: Build, tmp_path: Path) -> BuildError:
    """The engine's own failure for a unit nothing in the image provides, raised by the
    services step on an (empty) tree."""
    spec = BuildSpec.from_dict({**build.spec, "services": ["frobnicator.service"]})
    with pytest.raises(BuildError) as raised:
        enable_services(spec, Chroot(tmp_path, Runner(NullReporter())))
    return raised.value


def _status(client: Client, build: Build) -> str:
    response = client.get(f"/builds/{build.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def _fix_link(page: str) -> tuple[str, str] | None:
    match = re.search(r'<a class="button primary" href="([^"]+)">(Fix in [^<]+)</a>', page)
    return (match.group(1), match.group(2)) if match else None


def test_a_unit_nobody_provides_is_told_plainly_with_a_link_to_the_services_section(
    product_manager: Client, tmp_path: Path
) -> None:
    build = BuildFactory(state=Build.State.RUNNING)
    error = _missing_service_error(build, tmp_path)
    build_fail(build_id=build.pk, error=error.message, step=error.step)

    page = _status(product_manager, build)

    name = build.revision.blueprint.name
    assert _fix_link(page) == (f"/blueprints/{name}/edit/#section-services", "Fix in Services")
    assert "turns on services that nothing in the image provides: frobnicator.service" in page
    assert REBUILD not in page  # the same blueprint would fail the same way
    assert "What the builder said (services)" in page


def test_a_package_that_does_not_exist_links_to_the_packages_section(
    product_manager: Client,
) -> None:
    build = _failed("rootfs", MISSING_PACKAGE)

    page = _status(product_manager, build)

    assert _fix_link(page) == (
        f"/blueprints/{build.revision.blueprint.name}/edit/#section-packages",
        "Fix in Packages",
    )
    assert "Debian bookworm does not have for this board: pyhton3, notapkg-xyz" in page
    assert REBUILD not in page


def test_a_mirror_problem_offers_the_rebuild_and_no_fix_in_the_blueprint(
    product_manager: Client,
) -> None:
    build = _failed("rootfs", f"{MIRROR_DOWN} (gave up after retries)")

    page = _status(product_manager, build)

    assert "The Debian mirror could not be reached" in page
    assert "Nothing in the blueprint is wrong" in page
    assert _fix_link(page) is None
    assert 'class="primary" title="Build again, ignoring the cache, with the mirror' in page
    assert REBUILD in page


def test_a_transient_failure_keeps_its_step_when_the_retries_give_up(kvm) -> None:
    build = BuildFactory(state=Build.State.RUNNING)
    assert build_requeue(build_id=build.pk, reason=MIRROR_DOWN, step="rootfs")
    # builds.tasks.build_run_task, out of retries, fails the queued row without a step.
    assert build_fail(build_id=build.pk, error=f"{MIRROR_DOWN} (gave up after retries)")
    assert Build.objects.get(pk=build.pk).failed_step == "rootfs"


def test_a_worker_lost_midway_says_so_and_offers_the_rebuild(
    product_manager: Client, settings
) -> None:
    settings.GENPACK_WORKER_LOST_SECONDS = 0
    build = BuildFactory(state=Build.State.RUNNING)
    assert builds_reap()["lost"] == [build.pk]

    page = _status(product_manager, Build.objects.get(pk=build.pk))

    assert Build.objects.get(pk=build.pk).failed_step == SiteFailure.WORKER_LOST
    assert "The build worker stopped responding in the middle of the build" in page
    assert _fix_link(page) is None and REBUILD in page


def test_a_failed_setup_command_names_the_advanced_section_to_who_may_not_edit_it(
    product_manager: Client, admin_client_role: Client
) -> None:
    build = _failed("setup command 2", "sh failed with exit code 127:\nfrobnicate: not found")

    page = _status(product_manager, build)  # product managers may not write setup commands
    assert "Setup command 2 failed." in page
    assert _fix_link(page) is None
    assert "An admin can fix this in the blueprint&#x27;s Advanced section." in page

    name = build.revision.blueprint.name
    assert _fix_link(_status(admin_client_role, build)) == (
        f"/blueprints/{name}/edit/#section-advanced",
        "Fix in Advanced",
    )


def test_after_a_fix_the_failed_build_offers_to_build_the_newer_revision(
    product_manager: Client,
) -> None:
    build = _failed("rootfs", MISSING_PACKAGE)
    newer = RevisionFactory(blueprint=build.revision.blueprint)

    page = _status(product_manager, build)

    assert f"Build r{newer.number} for {build.profile.name}" in page
    assert f"?a={build.revision.number}&amp;b={newer.number}" in page  # what changed


def test_the_heading_links_to_the_blueprint_and_its_revision(product_manager: Client) -> None:
    build = BuildFactory(state=Build.State.SUCCEEDED)
    name = build.revision.blueprint.name

    page = _status(product_manager, build)

    heading = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)
    assert f'<a href="/blueprints/{name}/" data-testid="blueprint-link">{name}</a>' in heading
    assert f'href="/blueprints/{name}/history/"' in heading
    assert f">r{build.revision.number}</a>" in heading
    assert re.sub(r"<[^>]+>", "", heading).split() == [
        "Build",
        f"#{build.pk}",
        name,
        f"r{build.revision.number}",
        "for",
        *build.profile.name.split(),
    ]


def test_a_technician_sees_the_heading_without_links_to_blueprints(
    technician: Client, product_manager: Client
) -> None:
    build = BuildFactory(state=Build.State.SUCCEEDED)
    Build.objects.filter(pk=build.pk).update(boot_test_state=BootTestState.PASSED)
    product_manager.post(f"/builds/{build.pk}/release/")

    page = _status(technician, build)

    assert 'data-testid="blueprint-link"' not in page
    assert f"{build.revision.blueprint.name} r{build.revision.number} for" in page


def test_a_running_build_names_its_phase_step_and_elapsed_time(product_manager: Client) -> None:
    build = BuildFactory(state=Build.State.RUNNING)
    Build.objects.filter(pk=build.pk).update(started_at=timezone.now() - timedelta(seconds=125))
    build_heartbeat(build_id=build.pk, phase="rootfs", progress=0.0, step_number=1, step_count=7)

    page = _status(product_manager, build)

    assert '<span class="phase" data-testid="phase">Installing packages</span>' in page
    assert "(step 1 of 7)" in page
    assert re.search(r"Running for 2 min [5-9] s", page)
    assert "rootfs" not in page.split('id="build-log"')[0]


def test_the_htmx_poll_brings_the_next_phase_and_stops_with_the_failure(
    product_manager: Client,
) -> None:
    build = BuildFactory(state=Build.State.RUNNING)
    build_heartbeat(build_id=build.pk, phase="squashfs", progress=0.6, step_number=5, step_count=7)

    poll = product_manager.get(f"/builds/{build.pk}/", HTTP_HX_REQUEST="true")

    assert poll.status_code == 200
    body = poll.content.decode()
    assert (
        body.lstrip().startswith('<section id="build-status"')
        and "<h1>" not in body
        and 'hx-trigger="every 3s"' in body
    )
    assert "Packing the system image" in body and "(step 5 of 7)" in body

    build_fail(build_id=build.pk, error="disk full", step="disk")
    final = product_manager.get(f"/builds/{build.pk}/", HTTP_HX_REQUEST="true")
    assert final.status_code == 286  # htmx swaps this last one in and stops polling
    body = final.content.decode()
    assert "Writing the disk image failed." in body and "hx-trigger" not in body


def _history(profile: HardwareProfile, seconds: int) -> None:
    """A finished real build of `profile` that took `seconds`."""
    done = BuildFactory(state=Build.State.SUCCEEDED, profile=profile)
    finished = timezone.now() - timedelta(hours=1)
    Build.objects.filter(pk=done.pk).update(
        started_at=finished - timedelta(seconds=seconds), finished_at=finished
    )


def _running_for(seconds: int, step: int, steps: int = 7) -> Build:
    build = BuildFactory(state=Build.State.RUNNING)
    Build.objects.filter(pk=build.pk).update(started_at=timezone.now() - timedelta(seconds=seconds))
    build_heartbeat(build_id=build.pk, phase="outputs", step_number=step, step_count=steps)
    return build


def test_the_estimate_counts_down_in_minutes(product_manager: Client, kvm) -> None:
    _history(kvm, 600)

    page = _status(product_manager, _running_for(200, step=2))

    assert "about 7 min left (builds for this board usually take 10 min)" in page


def test_an_overdue_build_says_finishing_never_zero_left(product_manager: Client, kvm) -> None:
    _history(kvm, 600)

    page = _status(product_manager, _running_for(620, step=7))

    assert "· finishing…</p>" in page
    assert not re.search(r"0:00:00|\b0 s left|\b0 min left", page)
    much_later = _status(product_manager, _running_for(1500, step=7))
    assert "finishing… (longer than the usual 10 min)" in much_later


def test_an_overdue_build_with_steps_to_go_says_it_takes_longer_than_usual(
    product_manager: Client, kvm
) -> None:
    _history(kvm, 600)

    page = _status(product_manager, _running_for(700, step=2))

    assert "taking longer than usual (builds for this board usually take 10 min)" in page
    assert "finishing" not in page


def test_a_queued_build_shows_its_place_in_the_queue(product_manager: Client) -> None:
    first, second, third = (BuildFactory() for _ in range(3))

    assert "Next in line for a build worker." in _status(product_manager, first)
    assert "1 build is ahead of it in the queue." in _status(product_manager, second)
    assert "2 builds are ahead of it in the queue." in _status(product_manager, third)


def test_a_build_retried_after_a_mirror_problem_says_so_while_it_waits(
    product_manager: Client,
) -> None:
    build = BuildFactory(state=Build.State.RUNNING)
    build_requeue(build_id=build.pk, reason=MIRROR_DOWN, step="rootfs")

    page = _status(product_manager, build)

    assert "Trying again after a problem: The Debian mirror could not be reached" in page
    assert "What went wrong" not in page


def test_the_builds_list_shows_durations_and_why_builds_failed(
    product_manager: Client, kvm
) -> None:
    _history(kvm, 754)
    _failed("rootfs", MISSING_PACKAGE)
    BuildFactory(state=Build.State.CANCELLED)
    never = BuildFactory(state=Build.State.RUNNING)
    build_fail(build_id=never.pk, error="lost", step=SiteFailure.WORKER_LOST)
    Build.objects.filter(pk=never.pk).update(
        started_at=timezone.now() - timedelta(seconds=95), finished_at=timezone.now()
    )

    page = product_manager.get("/builds/").content.decode()

    assert '<th scope="col">Duration</th>' in page
    durations = re.findall(r'<td data-testid="duration">([^<]*)</td>', page)
    assert "12 min" in durations and "1 min 35 s" in durations
    reasons = re.findall(r'<span class="reason" data-testid="reason">([^<]*)</span>', page)
    assert any("does not have for this board: pyhton3, notapkg-xyz" in r for r in reasons)
    assert any(r == "Cancelled by the system." for r in reasons)
    assert any("The build worker stopped responding" in r for r in reasons)


def test_a_failure_recorded_before_steps_were_kept_is_explained_by_its_words(
    product_manager: Client,
) -> None:
    blueprint = BlueprintFactory(name="legacy")
    build = BuildFactory(state=Build.State.RUNNING, revision=blueprint.latest_revision)
    build_fail(build_id=build.pk, error="service(s) not found in the image: nope.service (…)")

    page = _status(product_manager, build)

    assert "Fix in Services" in page and "nope.service" in page
