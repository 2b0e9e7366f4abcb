"""Security headers and cookies, error pages without tracebacks, and `microbss crm` commands."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.urls import reverse

from microbss.crm import cli
from microbss.crm.accounts.models import CsrUser, Role
from microbss.crm.audit.models import AuditEvent
from microbss.crm.core.views import server_error

pytestmark = pytest.mark.django_db


def test_production_passwords_are_hashed_with_argon2() -> None:
    from microbss.crm import settings as crm_settings

    assert crm_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_pages_carry_csp_frame_nosniff_and_referrer_headers() -> None:
    response = Client().get(reverse("accounts:login"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_no_page_loads_anything_from_another_site() -> None:
    page = Client().get(reverse("accounts:login")).content.decode()
    assert "https://" not in page and "http://" not in page
    assert "<script>" not in page and "<style" not in page


def test_session_and_csrf_cookies_are_httponly_and_samesite(
    bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    client = signed_in(bob)
    session = client.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"] and session["samesite"] == "Lax"
    csrf = client.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"


def test_static_files_are_served_locally() -> None:
    response = Client().get("/static/vendor/bootstrap/css/bootstrap.min.css")
    assert response.status_code == 200


def test_the_500_page_explains_without_a_traceback() -> None:
    request = RequestFactory().get("/")
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    response = server_error(request)
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body and "Traceback" not in body


def test_an_unknown_address_gives_the_404_page() -> None:
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_createadmin_reads_the_password_from_stdin_and_prints_nothing_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("stone-meadow-kettle-19\n"))
    code = cli.main(
        ["createadmin", "--username", "root", "--email", "root@example.net", "--password-stdin"]
    )
    assert code == 0
    out = capsys.readouterr()
    assert "stone-meadow-kettle-19" not in out.out + out.err
    root = CsrUser.objects.get(username="root")
    assert root.role == Role.ADMIN and root.check_password("stone-meadow-kettle-19")
    assert not root.totp_enrolled
    assert AuditEvent.objects.filter(action="user.create", target="user:root").exists()


def test_createadmin_refuses_a_weak_password_or_an_existing_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["createadmin", "--username", "root", "--email", "", "--password-stdin"]) == 2
    assert "password refused" in capsys.readouterr().err
    CsrUser.objects.create_user("root", "stone-meadow-kettle-19", role=Role.ADMIN)
    monkeypatch.setattr("sys.stdin", io.StringIO("stone-meadow-kettle-20\n"))
    assert cli.main(["createadmin", "--username", "root", "--email", "", "--password-stdin"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_ensure_demo_admin_creates_one_admin_only_when_there_is_no_user() -> None:
    out = io.StringIO()
    assert cli.ensure_demo_admin(out) is True
    admin = CsrUser.objects.get()
    printed = out.getvalue()
    password = printed.split("Password: ")[1].split()[0]
    assert admin.username == "admin" and admin.is_admin and admin.check_password(password)
    again = io.StringIO()
    assert cli.ensure_demo_admin(again) is False
    assert again.getvalue() == ""


def test_ensure_demo_vat_records_21_percent_once_so_demo_usage_shows_vat() -> None:
    from decimal import Decimal

    from microbss.crm.vat.models import VatConfig
    from microbss.crm.vat.rates import current_vat_rate

    assert cli.ensure_demo_vat(io.StringIO()) is False  # no admin yet to record it
    cli.ensure_demo_admin(io.StringIO())
    out = io.StringIO()

    assert cli.ensure_demo_vat(out) is True

    row = VatConfig.objects.get()
    assert current_vat_rate() == Decimal("21.00") and row.effective_from.month == 1
    assert "21.00%" in out.getvalue()
    assert AuditEvent.objects.filter(action="vat.add", target=f"vat:{row.pk}").exists()
    assert cli.ensure_demo_vat(io.StringIO()) is False
    assert VatConfig.objects.count() == 1


def test_serve_runs_gunicorn_on_the_configured_address() -> None:
    command = cli.gunicorn_command("127.0.0.1:8123", 3)
    assert command[1:4] == ["-m", "gunicorn", "microbss.crm.wsgi:application"]
    assert command[command.index("--bind") + 1] == "127.0.0.1:8123"
    assert command[command.index("--workers") + 1] == "3"
