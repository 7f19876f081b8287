"""The release gate (builds/releases.py), its forms on the build page, and the release history."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.utils.timezone import localtime

from builds.models import BootTestState, Build, ReleaseEvent
from builds.releases import (
    REASON_MAX_LENGTH,
    RELEASABLE_WITHOUT_OVERRIDE,
    ReleaseRefusedError,
    boot_test_problem,
    release,
    withdraw,
)
from builds.services import build_enqueue, build_release
from hardware_profiles.models import HardwareProfile
from tests.factories import BlueprintFactory, BuildFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("data_dirs", "build_host")]

NOT_PASSED = [
    (BootTestState.FAILED, "failed"),
    (BootTestState.PENDING, "pending"),
    (BootTestState.RUNNING, "running"),
    (BootTestState.CANCELLED, "cancelled"),
    (BootTestState.SKIPPED, "skipped"),  # on an emulated profile: it should have run
    ("", "never run"),  # made before boot tests existed
]
OVERRIDE_ADVICE = "An admin can release it anyway with a written reason."


def _succeeded(boot_test: str, profile: HardwareProfile | None = None, name: str = "kiosk"):
    profile = profile or HardwareProfile.objects.get(slug="kvm-x86_64")
    revision = BlueprintFactory(name=name, targets=[profile]).latest_revision
    build = BuildFactory(revision=revision, profile=profile, state=Build.State.SUCCEEDED)
    Build.objects.filter(pk=build.pk).update(boot_test_state=boot_test)
    return Build.objects.get(pk=build.pk)


def _not_emulated() -> HardwareProfile:
    """The KVM profile with its emulator switched off, as an admin can set it."""
    HardwareProfile.objects.filter(slug="kvm-x86_64").update(boot_test_machine="")
    return HardwareProfile.objects.get(slug="kvm-x86_64")


def _unchanged(build: Build) -> bool:
    build.refresh_from_db()
    return not build.released and not ReleaseEvent.objects.filter(build=build).exists()


# --- the gate, in the service ----------------------------------------------------------------


def test_a_product_manager_releases_a_build_whose_boot_test_passed(product_manager) -> None:
    build = _succeeded(BootTestState.PASSED)
    event = release(build, by=product_manager.user)
    build.refresh_from_db()
    assert build.released
    assert (event.action, event.by, event.override, event.reason) == (
        ReleaseEvent.Action.RELEASED,
        product_manager.user,
        False,
        "",
    )


@pytest.mark.parametrize(("state", "label"), NOT_PASSED)
def test_a_product_manager_cannot_release_without_a_passed_boot_test(
    product_manager, state: str, label: str
) -> None:
    build = _succeeded(state)
    with pytest.raises(ReleaseRefusedError) as refused:
        release(build, by=product_manager.user, reason="it looks fine to me")
    assert f"has not passed ({label})" in str(refused.value)
    assert str(refused.value).endswith(OVERRIDE_ADVICE)
    assert _unchanged(build)


@pytest.mark.parametrize(("state", "label"), NOT_PASSED)
def test_an_admin_overrides_any_boot_test_that_did_not_pass_with_a_reason(
    admin_client_role, state: str, label: str
) -> None:
    build = _succeeded(state)
    event = release(build, by=admin_client_role.user, reason="  Customer demo tomorrow.\n")
    build.refresh_from_db()
    assert build.released
    assert event.override and event.reason == "Customer demo tomorrow."
    assert event.by == admin_client_role.user


def test_an_admin_releasing_a_passed_build_is_no_override(admin_client_role) -> None:
    event = release(_succeeded(BootTestState.PASSED), by=admin_client_role.user)
    assert not event.override


@pytest.mark.parametrize("reason", ["", "   ", "\n\t \n"])
def test_an_override_without_a_written_reason_is_refused(admin_client_role, reason) -> None:
    build = _succeeded(BootTestState.FAILED)
    with pytest.raises(ReleaseRefusedError, match="write why"):
        release(build, by=admin_client_role.user, reason=reason)
    assert _unchanged(build)


def test_a_reason_longer_than_the_limit_or_with_a_nul_is_refused(admin_client_role) -> None:
    build = _succeeded(BootTestState.FAILED)
    with pytest.raises(ReleaseRefusedError, match=f"keep it to {REASON_MAX_LENGTH}"):
        release(build, by=admin_client_role.user, reason="x" * (REASON_MAX_LENGTH + 1))
    with pytest.raises(ReleaseRefusedError, match="NUL"):
        release(build, by=admin_client_role.user, reason="demo\x00")
    assert _unchanged(build)
    release(build, by=admin_client_role.user, reason="x" * REASON_MAX_LENGTH)  # the limit is fine


def test_the_failure_is_quoted_in_the_refusal(product_manager) -> None:
    build = _succeeded(BootTestState.FAILED)
    Build.objects.filter(pk=build.pk).update(boot_test_error="Kernel panic - not syncing")
    with pytest.raises(ReleaseRefusedError) as refused:
        release(Build.objects.get(pk=build.pk), by=product_manager.user)
    assert str(refused.value).startswith(
        "The boot test has not passed (failed): the image did not start up in the emulator "
        "(Kernel panic - not syncing)."
    )


def test_a_cache_hit_is_released_on_its_source_builds_boot_test(product_manager) -> None:
    source = _succeeded(BootTestState.PASSED)
    hit = build_enqueue(revision=source.revision, profile=source.profile, requested_by=None)
    assert hit.cache_hit_of == source and hit.boot_test_state == ""
    release(hit, by=product_manager.user)
    hit.refresh_from_db()
    assert hit.released


def test_a_cache_hit_of_a_failed_build_is_refused_whatever_its_own_state(product_manager) -> None:
    source = _succeeded(BootTestState.FAILED)
    hit = build_enqueue(revision=source.revision, profile=source.profile, requested_by=None)
    Build.objects.filter(pk=hit.pk).update(boot_test_state=BootTestState.PASSED)
    hit = Build.objects.get(pk=hit.pk)
    with pytest.raises(ReleaseRefusedError) as refused:
        release(hit, by=product_manager.user)
    assert f"The boot test of build #{source.pk}, whose files this build reuses," in str(
        refused.value
    )
    assert _unchanged(hit)


def test_a_build_for_a_profile_that_is_not_emulated_is_released_once_skipped(
    product_manager,
) -> None:
    build = _succeeded(BootTestState.SKIPPED, profile=_not_emulated())
    release(build, by=product_manager.user)
    build.refresh_from_db()
    assert build.released


@pytest.mark.parametrize("state", ["", BootTestState.PENDING])
def test_not_emulated_still_needs_an_override_before_the_skip_is_recorded(
    product_manager, admin_client_role, state: str
) -> None:
    """A build older than boot tests, or one whose skip is not recorded yet, was never
    looked at: admin override only, even on a profile that is not emulated."""
    build = _succeeded(state, profile=_not_emulated())
    with pytest.raises(ReleaseRefusedError, match="has not passed"):
        release(build, by=product_manager.user)
    assert release(build, by=admin_client_role.user, reason="Checked on the bench.").override


@pytest.mark.parametrize("state", [s for s in BootTestState.values] + [""])
@pytest.mark.parametrize("emulated", [True, False])
@pytest.mark.parametrize("cache_hit", [True, False])
def test_the_updates_condition_agrees_with_the_gate_in_words(
    seeded, state: str, emulated: bool, cache_hit: bool
) -> None:
    """The conditional UPDATE re-checks the gate in SQL: it must say yes exactly when
    boot_test_problem has nothing to say."""
    profile = HardwareProfile.objects.get(slug="kvm-x86_64") if emulated else _not_emulated()
    build = _succeeded(state, profile=profile)
    if cache_hit:
        build = build_enqueue(revision=build.revision, profile=profile, requested_by=None)
        assert build.cache_hit_of is not None
    in_sql = Build.objects.filter(RELEASABLE_WITHOUT_OVERRIDE, pk=build.pk).exists()
    assert in_sql == (boot_test_problem(build) == "")


def test_only_a_succeeded_build_can_be_released(admin_client_role) -> None:
    build = BuildFactory(state=Build.State.FAILED)
    with pytest.raises(ReleaseRefusedError, match="Only a succeeded build can be released"):
        release(build, by=admin_client_role.user, reason="please")
    assert _unchanged(build)


def test_releasing_twice_records_one_release(product_manager) -> None:
    build = _succeeded(BootTestState.PASSED)
    release(build, by=product_manager.user)
    with pytest.raises(ReleaseRefusedError, match="already released"):
        release(build, by=product_manager.user)
    assert ReleaseEvent.objects.filter(build=build).count() == 1


@pytest.mark.parametrize("who", ["technician", "outsider", "anonymous"])
def test_who_may_not_release_cannot_release_or_withdraw(request, who: str) -> None:
    client = request.getfixturevalue(who)
    user = getattr(client, "user", AnonymousUser())
    build = _succeeded(BootTestState.PASSED)
    with pytest.raises(ReleaseRefusedError, match="may not release"):
        release(build, by=user, reason="x")
    assert _unchanged(build)
    assert build_release(build=build)
    with pytest.raises(ReleaseRefusedError, match="may not withdraw"):
        withdraw(build, by=user)
    build.refresh_from_db()
    assert build.released


def test_withdraw_records_who_and_why(product_manager) -> None:
    build = _succeeded(BootTestState.PASSED)
    release(build, by=product_manager.user)
    event = withdraw(build, by=product_manager.user, reason=" Wrong Wi-Fi country. ")
    build.refresh_from_db()
    assert not build.released
    assert (event.action, event.by, event.reason) == (
        ReleaseEvent.Action.WITHDRAWN,
        product_manager.user,
        "Wrong Wi-Fi country.",
    )
    with pytest.raises(ReleaseRefusedError, match="is not released"):
        withdraw(build, by=product_manager.user)
    assert ReleaseEvent.objects.filter(build=build).count() == 2


def test_build_release_applies_the_gate_without_an_override(seeded) -> None:
    """The old service, kept for its callers: no person, so never an override."""
    failed = _succeeded(BootTestState.FAILED)
    assert not build_release(build=failed)
    assert _unchanged(failed)
    passed = _succeeded(BootTestState.PASSED, name="other")
    assert build_release(build=passed)
    assert build_release(build=passed, released=False)
    actions = ReleaseEvent.objects.filter(build=passed).values_list("action", "by", "override")
    assert sorted(actions) == [("released", None, False), ("withdrawn", None, False)]


# --- the views ---------------------------------------------------------------------------------


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_build_page_offers_a_release_button_when_allowed(product_manager: Client) -> None:
    build = _succeeded(BootTestState.PASSED)
    page = product_manager.get(f"/builds/{build.pk}/").content.decode()
    assert f'action="/builds/{build.pk}/release/"' in page
    assert "Release to technicians" in page and 'name="reason"' not in page
    response = product_manager.post(f"/builds/{build.pk}/release/", follow=True)
    assert _messages(response) == ["Released to field technicians."]
    assert "Withdraw from technicians" in response.content.decode()


def test_the_build_page_says_why_not_and_offers_no_button_to_a_product_manager(
    product_manager: Client,
) -> None:
    build = _succeeded(BootTestState.FAILED)
    page = product_manager.get(f"/builds/{build.pk}/").content.decode()
    assert f'action="/builds/{build.pk}/release/"' not in page
    assert "The boot test has not passed (failed)" in page and OVERRIDE_ADVICE in page


def test_the_build_page_asks_an_admin_for_a_reason_to_override(admin_client_role: Client) -> None:
    build = _succeeded("")
    page = admin_client_role.get(f"/builds/{build.pk}/").content.decode()
    assert f'action="/builds/{build.pk}/release/"' in page
    assert '<textarea id="release-reason" name="reason"' in page
    assert "The boot test has not passed (never run)" in page
    assert "Release anyway" in page


def test_a_technician_sees_no_release_form(technician: Client) -> None:
    build = _succeeded(BootTestState.PASSED)
    assert build_release(build=build)
    page = technician.get(f"/builds/{build.pk}/").content.decode()
    assert "/release/" not in page and "/withdraw/" not in page


@pytest.mark.parametrize("data", [{}, {"reason": ""}, {"reason": "  \n "}], ids=str)
def test_an_admin_override_without_a_reason_is_refused_with_a_message(
    admin_client_role: Client, data: dict
) -> None:
    build = _succeeded(BootTestState.FAILED)
    response = admin_client_role.post(f"/builds/{build.pk}/release/", data, follow=True)
    assert response.status_code == 200
    (message,) = _messages(response)
    assert "has not passed (failed)" in message and "write why" in message
    assert _unchanged(build)


def test_a_huge_reason_is_refused_with_a_message(admin_client_role: Client) -> None:
    build = _succeeded(BootTestState.FAILED)
    response = admin_client_role.post(
        f"/builds/{build.pk}/release/", {"reason": "x" * 100_000}, follow=True
    )
    assert response.status_code == 200
    assert "keep it to" in _messages(response)[0]
    assert _unchanged(build)


def test_a_product_manager_cannot_override_by_crafting_a_post(product_manager: Client) -> None:
    build = _succeeded(BootTestState.FAILED)
    response = product_manager.post(
        f"/builds/{build.pk}/release/", {"reason": "I know better"}, follow=True
    )
    assert response.redirect_chain == [(f"/builds/{build.pk}/", 302)]
    assert OVERRIDE_ADVICE in _messages(response)[0]
    assert _unchanged(build)


@pytest.mark.parametrize(("who", "status"), [("technician", 403), ("outsider", 403)])
def test_people_without_the_permission_are_refused_by_the_views(
    request, who: str, status: int
) -> None:
    client = request.getfixturevalue(who)
    build = _succeeded(BootTestState.FAILED)
    assert client.post(f"/builds/{build.pk}/release/", {"reason": "x"}).status_code == status
    assert _unchanged(build)
    passed = _succeeded(BootTestState.PASSED, name="other")
    assert build_release(build=passed)
    assert client.post(f"/builds/{passed.pk}/withdraw/", {"reason": "x"}).status_code == status
    passed.refresh_from_db()
    assert passed.released and ReleaseEvent.objects.filter(build=passed).count() == 1


def test_an_anonymous_post_is_sent_to_the_login_page(anonymous: Client) -> None:
    build = _succeeded(BootTestState.PASSED)
    response = anonymous.post(f"/builds/{build.pk}/release/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert _unchanged(build)


def test_release_and_withdraw_are_post_only_and_a_missing_build_is_404(
    product_manager: Client,
) -> None:
    build = _succeeded(BootTestState.PASSED)
    assert product_manager.get(f"/builds/{build.pk}/release/").status_code == 405
    assert product_manager.get(f"/builds/{build.pk}/withdraw/").status_code == 405
    assert product_manager.post("/builds/999999/release/").status_code == 404
    assert product_manager.post("/builds/999999/withdraw/").status_code == 404
    assert _unchanged(build)


def test_withdraw_through_the_page_with_and_without_a_reason(product_manager: Client) -> None:
    build = _succeeded(BootTestState.PASSED)
    product_manager.post(f"/builds/{build.pk}/release/")
    response = product_manager.post(f"/builds/{build.pk}/withdraw/", follow=True)
    assert _messages(response)[-1] == "No longer offered to field technicians."
    again = product_manager.post(f"/builds/{build.pk}/withdraw/", {"reason": "x"}, follow=True)
    assert "is not released" in _messages(again)[-1]
    product_manager.post(f"/builds/{build.pk}/release/")
    product_manager.post(f"/builds/{build.pk}/withdraw/", {"reason": "Recalled."})
    reasons = list(
        ReleaseEvent.objects.filter(build=build).order_by("pk").values_list("action", "reason")
    )
    assert reasons == [
        ("released", ""),
        ("withdrawn", ""),
        ("released", ""),
        ("withdrawn", "Recalled."),
    ]


# --- the override reason, where technicians look ---------------------------------------------

HOSTILE_REASON = '<script>alert(1)</script> Demo & "field trial"'


def _overridden(admin: Client) -> Build:
    build = _succeeded(BootTestState.FAILED)
    response = admin.post(f"/builds/{build.pk}/release/", {"reason": HOSTILE_REASON}, follow=True)
    assert "without a passed boot test" in _messages(response)[0]
    return build


def test_the_override_reason_is_shown_to_technicians_as_text(
    admin_client_role: Client, technician: Client
) -> None:
    build = _overridden(admin_client_role)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; Demo &amp; &quot;field trial&quot;"
    today = localtime(ReleaseEvent.objects.get(build=build).at).strftime("%Y-%m-%d")
    for url in (f"/builds/{build.pk}/", f"/builds/{build.pk}/personalise/", "/builds/"):
        page = technician.get(url).content.decode()
        assert "Released without a passed boot test:" in page, url
        assert escaped in page and "<script>alert" not in page, url
        assert f"— ada, {today}" in page, url


def test_the_note_goes_once_a_plain_release_follows(
    admin_client_role: Client, product_manager: Client, technician: Client
) -> None:
    build = _overridden(admin_client_role)
    product_manager.post(f"/builds/{build.pk}/withdraw/")
    Build.objects.filter(pk=build.pk).update(boot_test_state=BootTestState.PASSED)
    product_manager.post(f"/builds/{build.pk}/release/")
    page = technician.get(f"/builds/{build.pk}/").content.decode()
    assert "Released without a passed boot test" not in page


# --- the release history -----------------------------------------------------------------------


def test_the_history_lists_who_released_and_withdrew_what_when_and_why(
    admin_client_role: Client, product_manager: Client
) -> None:
    build = _overridden(admin_client_role)
    product_manager.post(f"/builds/{build.pk}/withdraw/", {"reason": "Recalled by QA."})
    page = product_manager.get("/builds/releases/").content.decode()
    assert page.count('data-testid="release-event"') == 2
    assert page.index("Recalled by QA.") < page.index("&lt;script&gt;")  # newest first
    assert "Withdrawn" in page and "Released" in page and ">pam<" in page and ">ada<" in page
    assert page.count('data-testid="override"') == 1
    assert f'<a href="/builds/{build.pk}/">#{build.pk}</a>' in page
    assert f"{build.revision.blueprint.name} r{build.revision.number}" in page
    assert build.profile.name in page
    assert "<script>alert" not in page


def test_the_history_is_linked_from_the_builds_list_and_the_build_page(
    product_manager: Client,
) -> None:
    build = _succeeded(BootTestState.PASSED)
    assert 'href="/builds/releases/"' in product_manager.get("/builds/").content.decode()
    page = product_manager.get(f"/builds/{build.pk}/").content.decode()
    assert 'href="/builds/releases/"' in page
    product_manager.post(f"/builds/{build.pk}/release/")
    page = product_manager.get(f"/builds/{build.pk}/").content.decode()
    assert f'href="/builds/releases/?build={build.pk}"' in page


def test_technicians_see_only_the_history_of_builds_released_to_them(
    product_manager: Client, technician: Client
) -> None:
    shown = _succeeded(BootTestState.PASSED, name="shown-kiosk")
    hidden = _succeeded(BootTestState.PASSED, name="hidden-kiosk")
    for build in (shown, hidden):
        product_manager.post(f"/builds/{build.pk}/release/")
    product_manager.post(f"/builds/{hidden.pk}/withdraw/", {"reason": "secret recall"})
    page = technician.get("/builds/releases/").content.decode()
    assert "shown-kiosk" in page
    assert "hidden-kiosk" not in page and "secret recall" not in page
    one = technician.get(f"/builds/releases/?build={hidden.pk}").content.decode()
    assert 'data-testid="no-releases"' in one and "hidden-kiosk" not in one
    pm_page = product_manager.get("/builds/releases/").content.decode()
    assert "hidden-kiosk" in pm_page and "secret recall" in pm_page


def test_the_history_filters_by_build_and_is_paginated(product_manager: Client) -> None:
    build = _succeeded(BootTestState.PASSED)
    other = _succeeded(BootTestState.PASSED, name="other")
    build_release(build=other)
    for _ in range(30):
        build_release(build=build)
        build_release(build=build, released=False)
    first = product_manager.get("/builds/releases/").content.decode()
    assert first.count('data-testid="release-event"') == 50 and "Page 1 of 2" in first
    second = product_manager.get("/builds/releases/", {"page": "2"}).content.decode()
    assert second.count('data-testid="release-event"') == 11
    only = product_manager.get("/builds/releases/", {"build": str(other.pk)}).content.decode()
    assert only.count('data-testid="release-event"') == 1


@pytest.mark.parametrize(
    "query", [{"page": "abc"}, {"page": "999"}, {"page": "-1"}, {"build": "x"}, {"build": "9" * 40}]
)
def test_the_history_never_fails_on_bad_parameters(product_manager: Client, query) -> None:
    build_release(build=_succeeded(BootTestState.PASSED))
    assert product_manager.get("/builds/releases/", query).status_code == 200


def test_an_empty_history_says_what_it_will_hold(product_manager: Client, technician) -> None:
    for client in (product_manager, technician):
        page = client.get("/builds/releases/").content.decode()
        assert 'data-testid="no-releases"' in page and "Nothing released yet" in page
