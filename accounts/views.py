from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from accounts.forms import PersonCreateForm, RoleForm
from accounts.services import (
    PeopleChangeRefused,
    password_link,
    people_all,
    person_create,
    person_deactivate,
    person_reactivate,
    person_role,
    person_role_set,
    role_label,
)
from genpack_site.permissions import permission_required

# The one-time link, kept in the admin's session from the POST that made it until the person's
# page shows it once (a reload does not make another one).
LINK_KEY = "accounts_password_link"


def _person(pk: int) -> AbstractUser:
    return get_object_or_404(get_user_model(), pk=pk)


def _link_keep(request: HttpRequest, person: AbstractUser) -> None:
    link = password_link(person=person)
    request.session[LINK_KEY] = {
        "person": person.pk,
        "url": request.build_absolute_uri(link.path),
        "expires_at": link.expires_at.isoformat(),
    }


@permission_required("auth.view_user")
@require_safe
def people_list(request: HttpRequest) -> HttpResponse:
    people = [(person, role_label(person_role(person))) for person in people_all()]
    return render(request, "accounts/people.html", {"people": people})


@permission_required("auth.add_user")
def person_new(request: HttpRequest) -> HttpResponse:
    form = PersonCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        person = person_create(**form.cleaned_data)
        _link_keep(request, person)
        messages.success(request, f"{person.get_username()} added.")
        return redirect("accounts:detail", pk=person.pk)
    return render(request, "accounts/new.html", {"form": form})


@permission_required("auth.view_user")
@require_safe
def person_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(pk)
    link = request.session.get(LINK_KEY)
    if link and link["person"] == person.pk:
        del request.session[LINK_KEY]
        link["expires_at"] = datetime.fromisoformat(link["expires_at"])
    else:
        link = None
    role = person_role(person)
    context = {
        "person": person,
        "role": role_label(role),
        "role_form": RoleForm(initial={"role": role}),
        "is_self": person.pk == request.user.pk,
        "link": link,
    }
    return render(request, "accounts/detail.html", context)


@permission_required("auth.change_user")
@require_POST
def person_role_change(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
        return redirect("accounts:detail", pk=person.pk)
    try:
        person_role_set(person=person, role=form.cleaned_data["role"], by=request.user)
    except PeopleChangeRefused as refused:
        messages.error(request, str(refused))
    else:
        role = role_label(form.cleaned_data["role"])
        messages.success(request, f"{person.get_username()} is now: {role}.")
    return redirect("accounts:detail", pk=person.pk)


@permission_required("auth.change_user")
@require_POST
def person_deactivate_view(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(pk)
    try:
        person_deactivate(person=person, by=request.user)
    except PeopleChangeRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, f"{person.get_username()} is deactivated and cannot log in.")
    return redirect("accounts:detail", pk=person.pk)


@permission_required("auth.change_user")
@require_POST
def person_reactivate_view(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(pk)
    person_reactivate(person=person)
    messages.success(request, f"{person.get_username()} can log in again.")
    return redirect("accounts:detail", pk=person.pk)


@permission_required("auth.change_user")
@require_POST
def person_password_link(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person(pk)
    _link_keep(request, person)
    return redirect("accounts:detail", pk=person.pk)
