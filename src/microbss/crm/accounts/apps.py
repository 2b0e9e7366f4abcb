"""Django app configuration of the accounts area."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "microbss.crm.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
