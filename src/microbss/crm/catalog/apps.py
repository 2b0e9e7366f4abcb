"""Django app configuration for the CRM's catalog area."""

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "microbss.crm.catalog"
    default_auto_field = "django.db.models.BigAutoField"
