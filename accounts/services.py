"""People and their roles, managed in the site: a person has one role (a group of
genpack_site/roles.py), is active or deactivated (never deleted: builds and revisions name
their authors), and gets a one-time link to set their password — there is no mail server.

One rule holds whatever the order of changes: at least one active admin is left, and no admin
deactivates or demotes themselves (another admin does that), so nobody locks the site out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from genpack_site import roles

# The roles a person can have, as people read them, most powerful first.
ROLE_LABELS: dict[str, str] = {
    roles.ADMIN: "Admin",
    roles.PRODUCT_MANAGER: "Product manager",
    roles.FIELD_TECHNICIAN: "Field technician",
}


class PeopleChangeRefused(Exception):
    """A change that would lock admins out; the message says why, for the admin."""


@dataclass(frozen=True)
class PasswordLink:
    path: str
    expires_at: datetime


def person_role(person: AbstractUser) -> str | None:
    """The role group a person is in (the most powerful one, if several); None: no role.
    A superuser counts as an admin: Django gives them every permission."""
    if person.is_superuser:
        return roles.ADMIN
    names = {group.name for group in person.groups.all()}
    return next((role for role in ROLE_LABELS if role in names), None)


def role_label(role: str | None) -> str:
    return ROLE_LABELS.get(role, "No role") if role else "No role"


def people_all() -> QuerySet[AbstractUser]:
    return get_user_model().objects.prefetch_related("groups").order_by("-is_active", "username")


def _active_admins() -> QuerySet[AbstractUser]:
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name=roles.ADMIN))
        .distinct()
    )


def _admins_lock() -> None:
    """Serialise changes that could remove an admin: two admins demoting each other at the same
    moment must not both succeed. The admins' group row is the lock."""
    Group.objects.select_for_update().get(name=roles.ADMIN)


def _refuse_lock_out(*, person: AbstractUser, by: AbstractUser, action: str) -> None:
    if person.pk == by.pk:
        raise PeopleChangeRefused(
            f"You cannot {action} your own account: ask another admin to do it, "
            "so the site always keeps an admin who can log in."
        )
    remaining = _active_admins().exclude(pk=person.pk)
    if person_role(person) == roles.ADMIN and person.is_active and not remaining.exists():
        raise PeopleChangeRefused(
            f"{person.get_username()} is the last active admin: make someone else an admin "
            f"first, then {action} this account."
        )


def _role_apply(person: AbstractUser, role: str) -> None:
    person.groups.remove(*Group.objects.filter(name__in=ROLE_LABELS))
    person.groups.add(Group.objects.get(name=role))
    # Admins get Django's admin (for emergencies); every other role loses it, and the
    # superuser flag too, or the role shown here would not be what the person can do.
    person.is_staff = role == roles.ADMIN
    if role != roles.ADMIN:
        person.is_superuser = False
    person.save(update_fields=["is_staff", "is_superuser"])


@transaction.atomic
def person_create(
    *, username: str, first_name: str = "", last_name: str = "", role: str
) -> AbstractUser:
    """A new, active person with `role` and no password yet: they set one with
    `password_link`."""
    person = get_user_model()(username=username, first_name=first_name, last_name=last_name)
    person.set_unusable_password()
    person.save()
    _role_apply(person, role)
    return person


@transaction.atomic
def person_role_set(*, person: AbstractUser, role: str, by: AbstractUser) -> None:
    if role not in ROLE_LABELS:
        raise ValueError(f"unknown role {role!r}")
    if person_role(person) == role:
        return
    if person_role(person) == roles.ADMIN:
        _admins_lock()
        _refuse_lock_out(person=person, by=by, action="change the role of")
    _role_apply(person, role)


@transaction.atomic
def person_deactivate(*, person: AbstractUser, by: AbstractUser) -> None:
    """The person can no longer log in (their open sessions end at their next request);
    their name stays on the builds and revisions they made."""
    if not person.is_active:
        return
    _admins_lock()
    _refuse_lock_out(person=person, by=by, action="deactivate")
    person.is_active = False
    person.save(update_fields=["is_active"])


def person_reactivate(*, person: AbstractUser) -> None:
    person.is_active = True
    person.save(update_fields=["is_active"])


def password_link(*, person: AbstractUser) -> PasswordLink:
    """The path of a link that lets `person` set a new password, once: setting it changes the
    password hash the token is made from. It lapses after PASSWORD_RESET_TIMEOUT."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(person.pk)),
            "token": default_token_generator.make_token(person),
        },
    )
    expires_at = timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    return PasswordLink(path=path, expires_at=expires_at)
