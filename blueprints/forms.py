from __future__ import annotations

from django import forms

from blueprints.checks import NAME_PATTERN
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


class BlueprintImportForm(forms.Form):
    source = forms.CharField(
        required=False,
        label="Paste genpack.json5",
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "code"}),
    )
    upload = forms.FileField(
        required=False, label="…or upload a file", help_text="A genpack.json5 file, up to 2 MiB."
    )
    name = forms.CharField(
        required=False,
        max_length=63,
        label="Import as (optional)",
        help_text="A new name makes a copy; leave empty to use the name in the file.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if name and not NAME_PATTERN.match(name):
            raise forms.ValidationError("Use lower-case letters, digits and hyphens.")
        return name

    def clean(self) -> dict[str, object]:
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if upload and upload.size > 2 * 1024 * 1024:
            raise forms.ValidationError("The file is larger than 2 MiB.")
        if not upload and not cleaned.get("source", "").strip():
            raise forms.ValidationError("Paste the blueprint or choose a file to upload.")
        return cleaned

    def source_text(self) -> str:
        upload = self.cleaned_data.get("upload")
        if upload:
            raw = upload.read()
            try:
                return raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.") from None
        return self.cleaned_data["source"]
