"""Django app configuration of the VAT area."""

from django.apps import AppConfig


class VatConfigApp(AppConfig):
    name = "microbss.crm.vat"
    label = "vat"
    default_auto_field = "django.db.models.BigAutoField"
