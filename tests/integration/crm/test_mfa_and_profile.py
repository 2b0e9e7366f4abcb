"""MFA enrolment (QR code, secret, bind after a correct code, re-enrol after the password, admin
reset) and the profile (theme, language, email applied at once)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from microbss.crm.accounts import totp
from microbss.crm.accounts.models import CsrUser
from microbss.crm.accounts.views import ENROL_SECRET
from tests.integration.crm.conftest import PASSWORD, make_user, submit_password

pytestmark = pytest.mark.django_db


def _first_login_without_mfa(username: str = "dora") -> tuple[Client, CsrUser]:
    user = make_user(username, enrolled=False)
    client = Client()
    submit_password(client, username)
    return client, user


def _current_code(secret: str) -> str:
    return totp.code_for_step(secret, totp.step_at(timezone.now()))


def test_the_setup_page_shows_a_qr_svg_the_secret_as_text_and_an_otpauth_uri(db: None) -> None:
    client, _ = _first_login_without_mfa()
    page = client.get(reverse("accounts:mfa_setup")).content.decode()
    secret = client.session[ENROL_SECRET]
    assert "<svg" in page
    assert " ".join(secret[i : i + 4] for i in range(0, 32, 4)) in page
    assert len(secret) == 32


def test_a_correct_code_binds_the_authenticator_and_opens_the_workspace(db: None) -> None:
    client, user = _first_login_without_mfa()
    client.get(reverse("accounts:mfa_setup"))
    secret = client.session[ENROL_SECRET]
    response = client.post(reverse("accounts:mfa_setup"), {"code": _current_code(secret)})
    assert response["Location"] == reverse("core:home")
    user.refresh_from_db()
    assert user.totp_enrolled and user.totp_secret == secret
    assert client.get(reverse("core:home")).status_code == 200


def test_a_wrong_code_binds_nothing(db: None) -> None:
    client, user = _first_login_without_mfa()
    client.get(reverse("accounts:mfa_setup"))
    response = client.post(reverse("accounts:mfa_setup"), {"code": "000000"})
    assert response.status_code == 200
    assert "does not match" in response.content.decode()
    user.refresh_from_db()
    assert not user.totp_enrolled and user.totp_secret == ""


def test_the_secret_stays_the_same_while_the_user_is_on_the_setup_page(db: None) -> None:
    client, _ = _first_login_without_mfa()
    client.get(reverse("accounts:mfa_setup"))
    first = client.session[ENROL_SECRET]
    client.get(reverse("accounts:mfa_setup"))
    assert client.session[ENROL_SECRET] == first


def test_re_enrolling_asks_for_the_password_first(
    bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    client = signed_in(bob)
    page = client.get(reverse("accounts:mfa_setup")).content.decode()
    assert "Confirm it is you" in page and "<svg" not in page
    wrong = client.post(reverse("accounts:mfa_setup"), {"password": "not-my-password-1"})
    assert "The password is not correct." in wrong.content.decode()
    client.post(reverse("accounts:mfa_setup"), {"password": PASSWORD})
    assert "<svg" in client.get(reverse("accounts:mfa_setup")).content.decode()
    old_secret = bob.totp_secret
    new_secret = client.session[ENROL_SECRET]
    client.post(reverse("accounts:mfa_setup"), {"code": _current_code(new_secret)})
    bob.refresh_from_db()
    assert bob.totp_secret == new_secret != old_secret


def test_an_admin_resets_another_users_mfa_and_they_must_enrol_again(
    alice: CsrUser, bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    bobs_browser = signed_in(bob)
    signed_in(alice).post(reverse("users:reset_mfa", args=[bob.pk]))
    bob.refresh_from_db()
    assert not bob.totp_enrolled and bob.totp_secret == ""
    assert bobs_browser.get(reverse("core:home"))["Location"] == reverse("accounts:mfa_setup")


def test_the_profile_saves_theme_language_and_email_and_applies_them_at_once(
    bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    client = signed_in(bob)
    response = client.post(
        reverse("accounts:profile"),
        {
            "display_name": "Bob B.",
            "email": "bob@operator.example",
            "theme": "dark",
            "language": "es",
        },
    )
    assert response.status_code == 302
    bob.refresh_from_db()
    assert (bob.theme, bob.language, bob.email, bob.display_name) == (
        "dark",
        "es",
        "bob@operator.example",
        "Bob B.",
    )
    page = client.get(reverse("core:home")).content.decode()
    assert re.search(r'<html lang="es" data-bs-theme="dark">', page)
    assert "Buscar un abonado" in page or "Abonados" in page


def test_a_bad_email_or_theme_on_the_profile_is_refused_with_the_field_named(
    bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    client = signed_in(bob)
    response = client.post(
        reverse("accounts:profile"),
        {"display_name": "", "email": "not-an-email", "theme": "neon", "language": "en"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"email", "theme"}
    bob.refresh_from_db()
    assert bob.theme == "light" and bob.email == "bob@example.net"


def test_a_forced_password_change_then_mfa_setup_then_the_workspace(db: None) -> None:
    make_user("erin", enrolled=False, must_change_password=True)
    client = Client()
    submit_password(client, "erin")
    new = "quiet-river-lantern-58"
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response["Location"] == reverse("accounts:mfa_setup")


def test_a_short_or_common_new_password_is_refused(
    bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    client = signed_in(bob)
    for weak in ("short-pw", "password1234"):
        response = client.post(
            reverse("accounts:password_change"),
            {"old_password": PASSWORD, "new_password1": weak, "new_password2": weak},
        )
        assert response.status_code == 200
        assert "new_password2" in response.context["form"].errors
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)


def test_a_64_character_password_works_whole(
    bob: CsrUser, signed_in: Callable[[CsrUser], Client]
) -> None:
    client = signed_in(bob)
    long_password = "correct-horse-" * 4 + "battery!"
    assert len(long_password) == 64
    client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": long_password, "new_password2": long_password},
    )
    bob.refresh_from_db()
    assert bob.check_password(long_password)
    assert not bob.check_password(long_password[:-1])
