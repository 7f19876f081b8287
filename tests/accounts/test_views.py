"""People and roles managed in the site by admins (issue 12): list, add with a one-time password
link, change role, deactivate; everyone changes their own password."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.urls import reverse

from accounts.services import person_role
from genpack_site import roles

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a long and unusual passphrase"


def _user(username: str) -> AbstractUser:
    return get_user_model().objects.get(username=username)


def _can_log_in(username: str, password: str) -> bool:
    """Through the login page, as a person does (django-axes wants the request)."""
    response = Client().post(reverse("login"), {"username": username, "password": password})
    return response.status_code == 302


def _add(admin: Client, username: str = "nina", role: str = roles.FIELD_TECHNICIAN):
    return admin.post(
        reverse("accounts:new"),
        {"username": username, "first_name": "Nina", "last_name": "Berg", "role": role},
        follow=True,
    )


def _link_of(page: str) -> str:
    start = page.index('id="password-link"')
    value = page.index('value="', start) + len('value="')
    return page[value : page.index('"', value)]


def _set_password(link: str) -> Client:
    """What the new person does with the link: opens it, types a password twice."""
    visitor = Client()
    form = visitor.get(link, follow=True)
    assert form.status_code == 200
    assert form.context["validlink"]
    done = visitor.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Password set" in done.content.decode()
    return visitor


def test_admin_sees_everyone_with_their_role(
    admin_client_role: Client, product_manager: Client, technician: Client
) -> None:
    response = admin_client_role.get(reverse("accounts:people"))

    rows = response.content.decode()
    assert response.status_code == 200
    for name, role in (("ada", "Admin"), ("pam", "Product manager"), ("tom", "Field technician")):
        row = rows[rows.index(f">{name}</a>") :]
        assert role in row[: row.index("</tr>")]


def test_people_is_in_the_navigation_for_admins_only(
    admin_client_role: Client, product_manager: Client, technician: Client
) -> None:
    people = f'href="{reverse("accounts:people")}"'

    assert people in admin_client_role.get("/").content.decode()
    assert people not in product_manager.get("/").content.decode()
    assert people not in technician.get("/").content.decode()


def test_adding_a_person_gives_the_role_and_a_one_time_password_link(
    admin_client_role: Client,
) -> None:
    response = _add(admin_client_role, role=roles.PRODUCT_MANAGER)

    nina = _user("nina")
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("accounts:detail", args=[nina.pk])
    assert person_role(nina) == roles.PRODUCT_MANAGER
    assert not nina.has_usable_password()
    link = _link_of(page)
    assert link.startswith("http://testserver/accounts/set-password/")
    # Shown once: a reload of the page does not show it again.
    again = admin_client_role.get(reverse("accounts:detail", args=[nina.pk])).content.decode()
    assert 'id="password-link"' not in again

    _set_password(link)

    assert _can_log_in("nina", NEW_PASSWORD)
    used = Client().get(link, follow=True)
    assert not used.context["validlink"]
    assert "Ask an admin for a new one" in used.content.decode()


def test_a_new_admin_gets_the_emergency_django_admin_too(admin_client_role: Client) -> None:
    _add(admin_client_role, username="ari", role=roles.ADMIN)

    assert _user("ari").is_staff
    assert _user("ari").has_perm("auth.change_user")


def test_a_user_name_is_taken_whatever_its_case(
    admin_client_role: Client, technician: Client
) -> None:
    response = _add(admin_client_role, username="TOM")

    assert response.status_code == 200
    assert "Someone already has this user name." in response.content.decode()
    assert not get_user_model().objects.filter(username="TOM").exists()


def test_admin_makes_a_new_password_link_for_someone_who_forgot(
    admin_client_role: Client, technician: Client
) -> None:
    tom = technician.user
    response = admin_client_role.post(reverse("accounts:password_link", args=[tom.pk]), follow=True)

    _set_password(_link_of(response.content.decode()))

    assert _can_log_in("tom", NEW_PASSWORD)


def test_admin_changes_a_role(admin_client_role: Client, product_manager: Client) -> None:
    pam = product_manager.user

    response = admin_client_role.post(
        reverse("accounts:role", args=[pam.pk]), {"role": roles.FIELD_TECHNICIAN}, follow=True
    )

    assert "pam is now: Field technician." in response.content.decode()
    assert person_role(_user("pam")) == roles.FIELD_TECHNICIAN
    assert not _user("pam").has_perm("blueprints.change_blueprint")
    assert product_manager.get(reverse("blueprints:new")).status_code == 403


def test_demoting_an_admin_takes_the_django_admin_away(
    admin_client_role: Client, seeded: None
) -> None:
    _add(admin_client_role, username="ari", role=roles.ADMIN)
    ari = _user("ari")

    admin_client_role.post(reverse("accounts:role", args=[ari.pk]), {"role": roles.PRODUCT_MANAGER})

    ari = _user("ari")
    assert person_role(ari) == roles.PRODUCT_MANAGER
    assert not ari.is_staff


def test_a_deactivated_person_cannot_log_in_and_is_still_listed(
    admin_client_role: Client, technician: Client
) -> None:
    tom = technician.user

    response = admin_client_role.post(reverse("accounts:deactivate", args=[tom.pk]), follow=True)

    assert "tom is deactivated" in response.content.decode()
    assert get_user_model().objects.filter(username="tom", is_active=False).exists()
    assert not _can_log_in("tom", "correct horse battery")
    # Their open session ends too.
    assert technician.get(reverse("builds:list")).status_code == 302
    assert ">tom</a>" in admin_client_role.get(reverse("accounts:people")).content.decode()

    admin_client_role.post(reverse("accounts:reactivate", args=[tom.pk]))
    assert _can_log_in("tom", "correct horse battery")


def test_an_admin_cannot_deactivate_or_demote_themselves(admin_client_role: Client) -> None:
    ada = admin_client_role.user

    deactivate = admin_client_role.post(reverse("accounts:deactivate", args=[ada.pk]), follow=True)
    demote = admin_client_role.post(
        reverse("accounts:role", args=[ada.pk]), {"role": roles.FIELD_TECHNICIAN}, follow=True
    )

    assert "You cannot deactivate your own account" in deactivate.content.decode()
    assert "You cannot change the role of your own account" in demote.content.decode()
    ada = _user("ada")
    assert ada.is_active and person_role(ada) == roles.ADMIN and ada.is_staff


def test_own_page_offers_no_role_change_or_deactivation(admin_client_role: Client) -> None:
    page = admin_client_role.get(
        reverse("accounts:detail", args=[admin_client_role.user.pk])
    ).content.decode()

    assert "another admin changes your role" in page
    assert ">Deactivate<" not in page
    assert 'name="role"' not in page


@pytest.mark.parametrize("persona", ["product_manager", "technician", "outsider"])
def test_only_admins_manage_people(
    request: pytest.FixtureRequest,
    persona: str,
    admin_client_role: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client: Client = request.getfixturevalue(persona)
    ada = admin_client_role.user
    pages = [reverse("accounts:people"), reverse("accounts:new")]
    pages.append(reverse("accounts:detail", args=[ada.pk]))
    writes = [
        (reverse("accounts:new"), {"username": "sneaky", "role": roles.ADMIN}),
        (reverse("accounts:role", args=[client.user.pk]), {"role": roles.ADMIN}),
        (reverse("accounts:role", args=[ada.pk]), {"role": roles.FIELD_TECHNICIAN}),
        (reverse("accounts:deactivate", args=[ada.pk]), {}),
        (reverse("accounts:password_link", args=[ada.pk]), {}),
    ]

    with caplog.at_level(logging.WARNING, logger="django.request"):
        statuses = [client.get(url).status_code for url in pages]
        statuses += [client.post(url, data).status_code for url, data in writes]

    assert statuses == [403] * len(statuses)
    assert not get_user_model().objects.filter(username="sneaky").exists()
    assert person_role(_user(client.user.username)) != roles.ADMIN
    ada = _user("ada")
    assert ada.is_active and person_role(ada) == roles.ADMIN
    forbidden = [r for r in caplog.records if r.name == "django.request"]
    assert len(forbidden) == len(statuses)  # one line per refusal ...
    assert [r for r in forbidden if r.exc_info] == []  # ... and no traceback


@pytest.mark.parametrize("persona", ["technician", "product_manager", "admin_client_role"])
def test_everyone_changes_their_own_password(request: pytest.FixtureRequest, persona: str) -> None:
    client: Client = request.getfixturevalue(persona)
    assert f'href="{reverse("password_change")}"' in client.get("/").content.decode()

    response = client.post(
        reverse("password_change"),
        {
            "old_password": "correct horse battery",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        follow=True,
    )

    assert "Password changed" in response.content.decode()
    assert _can_log_in(client.user.username, NEW_PASSWORD)


def test_a_wrong_old_password_changes_nothing(technician: Client) -> None:
    response = technician.post(
        reverse("password_change"),
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert _can_log_in("tom", "correct horse battery")
