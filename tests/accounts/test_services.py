"""The rules behind the people pages: one role each, and never no admin left."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from accounts.services import (
    PeopleChangeRefused,
    person_create,
    person_deactivate,
    person_role,
    person_role_set,
)
from genpack_site import roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def helpdesk(seeded: None):
    """Someone given the people permissions by hand in Django's admin, but not the admin role."""
    user = person_create(username="helpdesk", role=roles.FIELD_TECHNICIAN)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="auth"))
    return user


def test_a_new_person_has_exactly_one_role_and_no_password(seeded: None) -> None:
    person = person_create(username="nina", first_name="Nina", role=roles.PRODUCT_MANAGER)

    assert list(person.groups.values_list("name", flat=True)) == [roles.PRODUCT_MANAGER]
    assert not person.has_usable_password()
    assert not person.is_staff


def test_a_role_change_keeps_groups_that_are_not_roles(seeded: None, helpdesk) -> None:
    other = Group.objects.create(name="Night shift")
    person = person_create(username="nina", role=roles.PRODUCT_MANAGER)
    person.groups.add(other)

    person_role_set(person=person, role=roles.FIELD_TECHNICIAN, by=helpdesk)

    assert set(person.groups.values_list("name", flat=True)) == {
        roles.FIELD_TECHNICIAN,
        "Night shift",
    }


def test_a_demoted_superuser_loses_every_permission_of_an_admin(seeded: None) -> None:
    root = get_user_model().objects.create_superuser(username="root", password="x", email="")
    ada = person_create(username="ada", role=roles.ADMIN)

    person_role_set(person=root, role=roles.PRODUCT_MANAGER, by=ada)

    root = get_user_model().objects.get(username="root")
    assert person_role(root) == roles.PRODUCT_MANAGER
    assert not root.is_superuser and not root.is_staff
    assert not root.has_perm("auth.change_user")


def test_the_last_active_admin_is_neither_demoted_nor_deactivated(seeded: None, helpdesk) -> None:
    ada = person_create(username="ada", role=roles.ADMIN)

    with pytest.raises(PeopleChangeRefused, match="ada is the last active admin"):
        person_role_set(person=ada, role=roles.FIELD_TECHNICIAN, by=helpdesk)
    with pytest.raises(PeopleChangeRefused, match="ada is the last active admin"):
        person_deactivate(person=ada, by=helpdesk)

    ada = get_user_model().objects.get(username="ada")
    assert ada.is_active and person_role(ada) == roles.ADMIN


def test_two_admins_demoting_each_other_leave_one(seeded: None) -> None:
    ada = person_create(username="ada", role=roles.ADMIN)
    ari = person_create(username="ari", role=roles.ADMIN)

    person_role_set(person=ari, role=roles.PRODUCT_MANAGER, by=ada)
    with pytest.raises(PeopleChangeRefused):
        person_role_set(person=ada, role=roles.PRODUCT_MANAGER, by=ari)

    assert person_role(get_user_model().objects.get(username="ada")) == roles.ADMIN


def test_a_deactivated_admin_does_not_count(seeded: None, helpdesk) -> None:
    ada = person_create(username="ada", role=roles.ADMIN)
    ari = person_create(username="ari", role=roles.ADMIN)
    person_deactivate(person=ari, by=ada)

    with pytest.raises(PeopleChangeRefused):
        person_deactivate(person=ada, by=helpdesk)
