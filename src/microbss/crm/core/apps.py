"""Django app configuration of the CRM shell."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "microbss.crm.core"
    label = "core"
