from django.apps import AppConfig


class HardwareProfilesConfig(AppConfig):
    name = "hardware_profiles"
    verbose_name = "Hardware profiles"
