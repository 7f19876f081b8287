from __future__ import annotations

from django import forms

from hardware_profiles.models import HardwareProfile


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
    extra_packages = WordListField(
        required=False, help_text="Packages every image for this board needs."
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
            "extra_packages",
            "kernel_args",
            "serial_console",
            "capabilities",
            "output_formats",
            "boot_test_machine",
            "boot_test_firmware",
            "enabled",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def clean_components(self) -> list[str]:
        components = self.cleaned_data["components"]
        if "main" not in components:
            raise forms.ValidationError("Debian's main component is always needed.")
        return components

    def clean(self) -> dict[str, object]:
        cleaned = super().clean()
        boot, table = cleaned.get("boot_scheme"), cleaned.get("partition_table")
        if boot == HardwareProfile.BootScheme.RPI_FIRMWARE and table != "mbr":
            self.add_error("partition_table", "The Raspberry Pi firmware only reads MBR disks.")
        if boot == HardwareProfile.BootScheme.RPI_FIRMWARE and cleaned.get("arch") != "arm64":
            self.add_error("arch", "Raspberry Pi profiles are arm64.")
        return cleaned
