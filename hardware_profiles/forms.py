from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms

from hardware_profiles.models import HardwareProfile
from image_builder import BuildSpec, kmods
from image_builder.boot import combination_problem
from image_builder.errors import SpecError


@dataclass(frozen=True)
class PackagesVerdict:
    """What the package index says of a profile's package names (blueprints.profile_checks)."""

    problems: dict[str, str] = field(default_factory=dict)  # form field → message
    not_loaded: list[str] = field(default_factory=list)  # package lists not loaded: unchecked


PackagesCheck = Callable[[HardwareProfile], PackagesVerdict]


class WordListField(forms.CharField):
    """A list of package or component names typed as words separated by spaces or commas."""

    def prepare_value(self, value: object) -> object:
        return " ".join(value) if isinstance(value, list) else value

    def to_python(self, value: object) -> list[str]:
        text = super().to_python(value) or ""
        return [word for word in text.replace(",", " ").split() if word]


class HardwareProfileForm(forms.ModelForm):
    components = WordListField(help_text="Debian components, e.g. main non-free-firmware.")
    firmware_packages = WordListField(required=False, help_text="Firmware packages.")
    wifi_packages = WordListField(
        required=False,
        label="Wi-Fi firmware packages",
        help_text=(
            "The radio's firmware, installed only when the profile has the “Wi-Fi” "
            "capability. The Wi-Fi client itself is always added with it."
        ),
    )
    extra_packages = WordListField(
        required=False, help_text="Packages every image for this board needs."
    )
    kernel_modules = WordListField(
        required=False,
        label="Kernel modules",
        help_text=HardwareProfile._meta.get_field("kernel_modules").help_text,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    capabilities = forms.MultipleChoiceField(
        choices=HardwareProfile.Capability.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    output_formats = forms.MultipleChoiceField(
        choices=HardwareProfile.OutputFormat.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = HardwareProfile
        fields = [
            "slug",
            "name",
            "description",
            "arch",
            "boot_scheme",
            "partition_table",
            "suite",
            "components",
            "kernel_package",
            "firmware_packages",
            "wifi_packages",
            "extra_packages",
            "kernel_modules",
            "kernel_args",
            "serial_console",
            "capabilities",
            "output_formats",
            "boot_test_machine",
            "boot_test_firmware",
            "boot_test_dtb",
            "boot_test_memory_mib",
            "boot_test_timeout_seconds",
            "enabled",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(
        self, *args: Any, packages_check: PackagesCheck | None = None, **kwargs: Any
    ) -> None:
        """`packages_check`, when given, checks the package names against the package index
        (the site's pages pass it; Django's admin, for emergencies, does without)."""
        super().__init__(*args, **kwargs)
        self.packages_check = packages_check
        self.packages_not_loaded: list[str] = []
        classes = ", ".join(f"@{name}" for name in (*kmods.CLASSES, "devicetree"))
        self.fields["kernel_modules"].help_text += f" Classes: {classes}."
        if self.instance.pk:
            # File names, download links and builds use the slug: it stays what it was.
            self.fields["slug"].disabled = True
            self.fields["slug"].help_text = "Fixed once the profile exists: file names use it."

    def clean_components(self) -> list[str]:
        components = self.cleaned_data["components"]
        if "main" not in components:
            raise forms.ValidationError("Debian's main component is always needed.")
        return components

    def clean_kernel_modules(self) -> list[str]:
        """The builder's own check (a selector's form, known classes), at the form."""
        selectors = self.cleaned_data["kernel_modules"]
        try:
            BuildSpec(name="check", kernel_modules=tuple(selectors)).normalise()
        except SpecError as error:
            raise forms.ValidationError(str(error).removeprefix("kernel_modules: ")) from error
        return selectors

    def clean(self) -> dict[str, object]:
        """The builder decides which architecture, boot scheme and partition table go
        together: a profile it cannot make is refused here, not minutes into a build."""
        cleaned = super().clean()
        arch, boot, table = (cleaned.get(f) for f in ("arch", "boot_scheme", "partition_table"))
        if not (arch and boot and table):
            return cleaned  # a missing field already has its own error
        problem = combination_problem(arch, boot, table)
        if problem:
            self.add_error(_field_at_fault(arch, boot), f"The builder cannot make this: {problem}.")
        self._packages_check(cleaned)
        return cleaned

    def _packages_check(self, cleaned: dict[str, Any]) -> None:
        needed = ("arch", "suite", "components", "kernel_package")
        if self.packages_check is None or not all(cleaned.get(name) for name in needed):
            return
        candidate = HardwareProfile(
            **{
                name: cleaned.get(name) or []
                for name in (*needed, "firmware_packages", "wifi_packages", "extra_packages")
            }
        )
        verdict = self.packages_check(candidate)
        for name, message in verdict.problems.items():
            self.add_error(name, message)
        self.packages_not_loaded = verdict.not_loaded


def _field_at_fault(arch: str, boot: str) -> str:
    """The field to mark: the partition table when another table would do, else the arch."""
    tables = HardwareProfile.PartitionTable.values
    if any(combination_problem(arch, boot, table) is None for table in tables):
        return "partition_table"
    return "arch"
