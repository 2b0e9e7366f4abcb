"""Django app configuration for the CRM's vouchers area."""

from django.apps import AppConfig


class VouchersConfig(AppConfig):
    name = "microbss.crm.vouchers"
    default_auto_field = "django.db.models.BigAutoField"
