from django.apps import AppConfig


class GenpackSiteConfig(AppConfig):
    name = "genpack_site"
    verbose_name = "genpack-site"
