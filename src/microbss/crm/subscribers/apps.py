"""Django app configuration for the CRM's subscribers area."""

from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "microbss.crm.subscribers"
    default_auto_field = "django.db.models.BigAutoField"
