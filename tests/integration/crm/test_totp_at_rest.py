"""TOTP secrets are encrypted in csr_users: the column never holds the secret an authenticator
app was given, existing plain rows are sealed by the migration, and keys can be rotated."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from microbss.crm.accounts import sealed, totp
from microbss.crm.accounts.models import CsrUser
from tests.integration.crm.conftest import make_user

pytestmark = pytest.mark.django_db


def stored_column(user: CsrUser) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT totp_secret FROM csr_users WHERE id = %s", [user.pk])
        return str(cursor.fetchone()[0])


def write_column(user: CsrUser, raw: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE csr_users SET totp_secret = %s WHERE id = %s", [raw, user.pk])


def test_the_database_holds_an_encrypted_token_never_the_secret_itself() -> None:
    user = make_user("dora")
    secret = CsrUser.objects.get(pk=user.pk).totp_secret

    raw = stored_column(user)

    assert len(secret) == totp.SECRET_BASE32_CHARS
    assert secret not in raw and raw.startswith(sealed.TOKEN_PREFIX)
    assert sealed.unseal(raw) == secret


def test_the_same_secret_sealed_twice_gives_different_tokens() -> None:
    assert sealed.seal("JBSWY3DPEHPK3PXP") != sealed.seal("JBSWY3DPEHPK3PXP")


def test_a_user_without_mfa_stores_an_empty_column() -> None:
    user = make_user("eve", enrolled=False)
    assert stored_column(user) == ""
    assert CsrUser.objects.get(pk=user.pk).totp_secret == ""


def test_a_token_sealed_with_another_key_reads_as_no_secret_so_codes_are_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = make_user("fred")
    with override_settings(MICROBSS_CRM_TOTP_KEY="a-completely-different-key-0123456789"):
        assert CsrUser.objects.get(pk=user.pk).totp_secret == ""
    assert "needs an MFA reset" in caplog.text


def test_a_new_key_put_first_still_reads_old_secrets_and_reseal_moves_them_to_it() -> None:
    with override_settings(MICROBSS_CRM_TOTP_KEY="old-key-old-key-old-key-old-key"):
        user = make_user("gina")
        secret = CsrUser.objects.get(pk=user.pk).totp_secret
    with override_settings(
        MICROBSS_CRM_TOTP_KEY="new-key-new-key-new-key,old-key-old-key-old-key-old-key"
    ):
        assert CsrUser.objects.get(pk=user.pk).totp_secret == secret
        out = StringIO()
        call_command("reseal_totp_secrets", stdout=out)
        assert "1 TOTP secret(s)" in out.getvalue()
    with override_settings(MICROBSS_CRM_TOTP_KEY="new-key-new-key-new-key"):
        assert CsrUser.objects.get(pk=user.pk).totp_secret == secret


@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_secrets_that_were_stored_in_plain_text() -> None:
    user = make_user("hank")
    secret = CsrUser.objects.get(pk=user.pk).totp_secret
    write_column(user, secret)  # as an install before encryption stored it
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0001_initial")])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    assert stored_column(user) == secret  # rolled back: plain again

    executor.migrate(executor.loader.graph.leaf_nodes("accounts"))

    raw = stored_column(user)
    assert raw.startswith(sealed.TOKEN_PREFIX) and secret not in raw
    assert CsrUser.objects.get(pk=user.pk).totp_secret == secret
