"""Django app configuration of the audit area."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "microbss.crm.audit"
    label = "audit"
    default_auto_field = "django.db.models.BigAutoField"
