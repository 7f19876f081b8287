from django.contrib import admin

from hardware_profiles.forms import HardwareProfileForm
from hardware_profiles.models import HardwareProfile


@admin.register(HardwareProfile)
class HardwareProfileAdmin(admin.ModelAdmin):
    # The site's own form: Django's admin too refuses a profile the builder cannot make.
    form = HardwareProfileForm
    list_display = ["name", "slug", "arch", "boot_scheme", "enabled"]
    list_filter = ["arch", "boot_scheme", "enabled"]
    search_fields = ["name", "slug"]
