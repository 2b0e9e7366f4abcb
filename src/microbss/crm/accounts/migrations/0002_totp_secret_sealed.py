"""TOTP secrets are stored encrypted: a wider column, then every plain secret sealed in place."""

from __future__ import annotations

from typing import Any

from django.db import migrations

import microbss.crm.accounts.sealed
from microbss.crm.accounts import sealed


def _rewrite(schema_editor: Any, change: Any) -> None:
    """Apply ``change`` to every non-empty stored secret, with plain SQL: the model field would
    encrypt and decrypt on its own, and here the column's raw text is what must change."""
    connection = schema_editor.connection
    table = connection.ops.quote_name("csr_users")
    column = connection.ops.quote_name("totp_secret")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
        rows = cursor.fetchall()
        for user_id, stored in rows:
            changed = change(stored)
            if changed != stored:
                cursor.execute(
                    f"UPDATE {table} SET {column} = %s WHERE id = %s",  # noqa: S608
                    [changed, user_id],
                )


def seal_plain_secrets(apps: Any, schema_editor: Any) -> None:
    _rewrite(
        schema_editor, lambda stored: stored if sealed.is_sealed(stored) else sealed.seal(stored)
    )


def unseal_secrets(apps: Any, schema_editor: Any) -> None:
    _rewrite(
        schema_editor, lambda stored: sealed.unseal(stored) if sealed.is_sealed(stored) else stored
    )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="csruser",
            name="totp_secret",
            field=microbss.crm.accounts.sealed.SealedSecretField(
                blank=True, editable=False, max_length=255
            ),
        ),
        migrations.RunPython(seal_plain_secrets, unseal_secrets),
    ]
