from django.apps import AppConfig


class PackageIndexConfig(AppConfig):
    name = "package_index"
