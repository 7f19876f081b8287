from django.contrib import admin

from hardware_profiles.models import HardwareProfile


@admin.register(HardwareProfile)
class HardwareProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "arch", "boot_scheme", "enabled"]
    list_filter = ["arch", "boot_scheme", "enabled"]
    search_fields = ["name", "slug"]
