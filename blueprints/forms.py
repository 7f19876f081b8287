from __future__ import annotations

import base64
import binascii
import codecs

from django import forms

from blueprints.checks import NAME_PATTERN
from blueprints.limits import MAX_SOURCE_BYTES, size_text
from blueprints.models import Blueprint
from hardware_profiles.models import HardwareProfile


class BlueprintCreateForm(forms.Form):
    name = forms.CharField(
        max_length=63,
        help_text="Lower-case letters, digits and hyphens; becomes the image file name.",
    )
    description = forms.CharField(
        required=False,
        max_length=2000,  # as in the editor's Basics
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
        required=False,
        label="…or upload a file",
        help_text=f"A genpack.json5 file (UTF-8 or UTF-16), up to {size_text(MAX_SOURCE_BYTES)}.",
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
        if upload:
            # UTF-16 takes two bytes a character: allow for it, the text's own limit follows.
            if upload.size > 2 * MAX_SOURCE_BYTES + 4:
                raise forms.ValidationError(
                    f"The file is larger than {size_text(MAX_SOURCE_BYTES)}."
                )
            cleaned["source_text"] = upload_text(upload.read())
        elif not cleaned.get("source", "").strip():
            raise forms.ValidationError("Paste the blueprint or choose a file to upload.")
        else:
            cleaned["source_text"] = cleaned["source"]
        return cleaned

    def source_text(self) -> str:
        return self.cleaned_data["source_text"]


class BlueprintImportUpdateForm(BlueprintImportForm):
    """An exported genpack.json5 as the next revision of an existing blueprint."""

    name = None  # the blueprint is the one being updated


class BlueprintImportConfirmForm(forms.Form):
    """The text a person saw the changes of, and the revision they were made against.

    The text travels base64-encoded, so the browser gives it back byte for byte (form
    submission turns every line end into CRLF)."""

    source_b64 = forms.CharField(widget=forms.HiddenInput)
    based_on = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    @staticmethod
    def encoded(source: str) -> str:
        return base64.b64encode(source.encode("utf-8")).decode("ascii")

    def clean_source_b64(self) -> str:
        try:
            raw = base64.b64decode(self.cleaned_data["source_b64"], validate=True)
        except (binascii.Error, ValueError):
            raise forms.ValidationError("The import was damaged; start it again.") from None
        return upload_text(raw)

    def source_text(self) -> str:
        return self.cleaned_data["source_b64"]


def upload_text(raw: bytes) -> str:
    """An uploaded text file as text: UTF-8 (with or without a BOM), or UTF-16 with a BOM."""
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise forms.ValidationError("The file is UTF-32; save it as UTF-8 and upload it again.")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")  # the BOM says the byte order, and is dropped
        except UnicodeDecodeError:
            raise forms.ValidationError(
                "The file starts like UTF-16 text but is not; save it as UTF-8 and upload it again."
            ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise forms.ValidationError(
            f"The file is not UTF-8 text (line {line} has the byte 0x{raw[error.start]:02X}, as "
            "Latin-1 or Windows encodings write accents); save it as UTF-8 and upload it again."
        ) from None
