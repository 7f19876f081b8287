from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from accounts.services import ROLE_LABELS

ROLE_CHOICES = list(ROLE_LABELS.items())
ROLE_HELP = (
    "Admins manage people and hardware profiles; product managers edit blueprints and start "
    "builds; field technicians download released builds."
)


class PersonCreateForm(forms.ModelForm):
    role = forms.ChoiceField(choices=ROLE_CHOICES, help_text=ROLE_HELP)

    class Meta:
        model = get_user_model()
        fields = ["username", "first_name", "last_name"]
        help_texts = {"username": "What they log in with: letters, digits and @ . + - _ only."}

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("Someone already has this user name.")
        return username


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, help_text=ROLE_HELP)
