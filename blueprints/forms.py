from __future__ import annotations

from django import forms

from blueprints.json5_io import NAME_PATTERN
from blueprints.models import Blueprint
from hardware_profiles.models import HardwareProfile


class BlueprintCreateForm(forms.Form):
    name = forms.CharField(
        max_length=63,
        help_text="Lower-case letters, digits and hyphens; becomes the image file name.",
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the appliance does, in one or two sentences.",
    )
    targets = forms.ModelMultipleChoiceField(
        queryset=HardwareProfile.objects.filter(enabled=True),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="The boards and machines to build for. You can change this later.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not NAME_PATTERN.match(name):
            raise forms.ValidationError(
                "Use lower-case letters, digits and hyphens, starting with a letter or digit."
            )
        if Blueprint.objects.filter(name=name).exists():
            raise forms.ValidationError("A blueprint with this name exists already.")
        return name


class BlueprintSourceForm(forms.Form):
    source = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false", "class": "code"}),
        help_text="The whole blueprint as JSON5 (genpack.json5 field names).",
    )
    message = forms.CharField(
        max_length=200, required=False, help_text="What changed, for the history."
    )
    based_on = forms.IntegerField(widget=forms.HiddenInput)
