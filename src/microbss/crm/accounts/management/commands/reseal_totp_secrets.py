"""`microbss crm manage reseal_totp_secrets`: encrypt every TOTP secret again with the first key
of MICROBSS_CRM_TOTP_KEY, after a new key was put first (the old keys can then be removed)."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from microbss.crm.accounts import sealed


class Command(BaseCommand):
    help = "Encrypt every stored TOTP secret again with the first configured key."

    def handle(self, *args: Any, **options: Any) -> None:
        table = connection.ops.quote_name("csr_users")
        column = connection.ops.quote_name("totp_secret")
        count, unreadable = 0, 0
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT id, {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
            for user_id, stored in cursor.fetchall():
                try:
                    fresh = sealed.reseal(stored)
                except InvalidToken:
                    unreadable += 1  # no configured key opens it: that user needs an MFA reset
                    continue
                cursor.execute(
                    f"UPDATE {table} SET {column} = %s WHERE id = %s",  # noqa: S608
                    [fresh, user_id],
                )
                count += 1
        self.stdout.write(f"{count} TOTP secret(s) encrypted with the current key")
        if unreadable:
            self.stdout.write(f"{unreadable} secret(s) no configured key opens: reset their MFA")
