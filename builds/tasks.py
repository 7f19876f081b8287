"""Celery tasks for builds: thin glue that takes ids and calls services (see STYLE.md)."""
