"""Login: password then TOTP code, the same error for every bad login, throttling, new session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from microbss.crm.accounts import throttling
from microbss.crm.accounts.models import CsrUser, LoginThrottle, Role
from tests.integration.crm.conftest import PASSWORD, make_user, next_code, sign_in, submit_password

pytestmark = pytest.mark.django_db

SAME_ERROR = "Wrong username or password."


def test_the_login_page_opens_for_anyone() -> None:
    response = Client().get(reverse("accounts:login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content and b'name="password"' in response.content


def test_unknown_user_wrong_password_and_inactive_user_get_the_same_error(
    bob: CsrUser, charlie: CsrUser
) -> None:
    answers = [
        submit_password(Client(), "nobody", PASSWORD),
        submit_password(Client(), "bob", "not-the-password-at-all"),
        submit_password(Client(), "charlie", PASSWORD),
    ]
    assert {answer.status_code for answer in answers} == {401}
    for answer in answers:
        assert SAME_ERROR in answer.content.decode()
        assert "_auth_user_id" not in answer.wsgi_request.session


def test_the_password_alone_does_not_sign_an_enrolled_user_in(bob: CsrUser) -> None:
    client = Client()
    response = submit_password(client, "bob")
    assert response["Location"] == reverse("accounts:login_code")
    assert client.get(reverse("core:home"))["Location"].startswith(reverse("accounts:login"))


def test_password_and_current_code_sign_the_user_in_with_a_new_session_id(bob: CsrUser) -> None:
    client = Client()
    client.get(reverse("accounts:login"))
    submit_password(client, "bob")
    key_before_code = client.session.session_key
    response = client.post(reverse("accounts:login_code"), {"code": next_code(bob)})
    assert response.status_code == 302 and response["Location"] == reverse("core:home")
    assert client.session.session_key != key_before_code
    assert client.get(reverse("core:home")).status_code == 200
    bob.refresh_from_db()
    assert bob.last_login is not None


def test_a_wrong_code_is_refused_and_the_user_stays_signed_out(bob: CsrUser) -> None:
    client = Client()
    submit_password(client, "bob")
    response = client.post(reverse("accounts:login_code"), {"code": "000000"})
    assert response.status_code == 401
    assert "not valid" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_code_used_once_cannot_be_used_again_in_another_login(bob: CsrUser) -> None:
    code = next_code(bob)
    first = Client()
    submit_password(first, "bob")
    assert first.post(reverse("accounts:login_code"), {"code": code}).status_code == 302
    second = Client()
    submit_password(second, "bob")
    replay = second.post(reverse("accounts:login_code"), {"code": code})
    assert replay.status_code == 401
    assert "_auth_user_id" not in second.session


def test_the_code_step_without_the_password_step_goes_back_to_login(bob: CsrUser) -> None:
    response = Client().post(reverse("accounts:login_code"), {"code": next_code(bob)})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")


def test_a_user_without_mfa_is_sent_to_set_it_up_after_the_password(db: None) -> None:
    make_user("dora", enrolled=False)
    response = submit_password(Client(), "dora")
    assert response["Location"] == reverse("accounts:mfa_setup")


def test_a_user_with_a_temporary_password_must_change_it_first(db: None) -> None:
    make_user("erin", enrolled=False, must_change_password=True)
    client = Client()
    response = submit_password(client, "erin")
    assert response["Location"] == reverse("accounts:password_change")
    assert client.get(reverse("subscribers:search"))["Location"] == reverse(
        "accounts:password_change"
    )


def test_next_is_followed_after_login_but_never_to_another_site(bob: CsrUser) -> None:
    client = Client()
    submit_password(client, "bob", next="/admin/vat/")
    response = client.post(reverse("accounts:login_code"), {"code": next_code(bob)})
    assert response["Location"] == "/admin/vat/"
    evil = Client()
    submit_password(evil, "bob", next="https://evil.example/")
    response = evil.post(reverse("accounts:login_code"), {"code": next_code(bob)})
    assert response["Location"] == reverse("core:home")


@override_settings(MICROBSS_LOGIN_MAX_FAILURES=5, MICROBSS_LOGIN_LOCK_MINUTES=15)
def test_five_failures_lock_the_account_even_against_the_right_password(bob: CsrUser) -> None:
    for _ in range(5):
        submit_password(Client(REMOTE_ADDR="10.0.0.1"), "bob", "wrong-password-xyz")
    locked = submit_password(Client(REMOTE_ADDR="10.0.0.2"), "bob", PASSWORD)
    assert locked.status_code == 401
    assert "Too many failed attempts. Try again in 15 minutes." in locked.content.decode()
    assert "_auth_user_id" not in locked.wsgi_request.session


@override_settings(MICROBSS_LOGIN_MAX_FAILURES=5, MICROBSS_LOGIN_LOCK_MINUTES=15)
def test_a_lock_on_one_account_does_not_lock_another(bob: CsrUser, alice: CsrUser) -> None:
    for _ in range(5):
        submit_password(Client(REMOTE_ADDR="10.0.0.1"), "bob", "wrong-password-xyz")
    sign_in(Client(REMOTE_ADDR="10.0.0.9"), alice)


@override_settings(MICROBSS_LOGIN_MAX_FAILURES=5, MICROBSS_LOGIN_LOCK_MINUTES=15)
def test_many_failures_from_one_address_lock_that_address_for_every_account(
    alice: CsrUser,
) -> None:
    limit = 5 * throttling.ADDRESS_LIMIT_FACTOR
    for attempt in range(limit):
        submit_password(Client(REMOTE_ADDR="10.9.9.9"), f"guess{attempt}", "wrong-password-xyz")
    locked = submit_password(Client(REMOTE_ADDR="10.9.9.9"), "alice", PASSWORD)
    assert "Too many failed attempts" in locked.content.decode()
    sign_in(Client(REMOTE_ADDR="10.1.1.1"), alice)


@override_settings(MICROBSS_LOGIN_MAX_FAILURES=5, MICROBSS_LOGIN_LOCK_MINUTES=15)
def test_the_lock_ends_after_its_time(bob: CsrUser) -> None:
    for _ in range(5):
        submit_password(Client(), "bob", "wrong-password-xyz")
    LoginThrottle.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    sign_in(Client(), bob)


@override_settings(MICROBSS_LOGIN_MAX_FAILURES=5, MICROBSS_LOGIN_LOCK_MINUTES=15)
def test_wrong_codes_count_towards_the_lock_too(bob: CsrUser) -> None:
    client = Client()
    submit_password(client, "bob")
    for _ in range(5):
        response = client.post(reverse("accounts:login_code"), {"code": "000000"})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
    again = submit_password(Client(), "bob")
    assert "Too many failed attempts" in again.content.decode()


def test_a_successful_login_clears_the_account_failures(bob: CsrUser) -> None:
    submit_password(Client(), "bob", "wrong-password-xyz")
    sign_in(Client(), bob)
    assert not LoginThrottle.objects.filter(key=throttling.account_key("bob")).exists()


def test_logout_is_a_post_and_ends_the_session(alice: CsrUser) -> None:
    client = sign_in(Client(), alice)
    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"))
    assert response["Location"] == reverse("accounts:login")
    assert client.get(reverse("core:home")).status_code == 302


def test_an_admin_role_user_is_an_admin(db: None) -> None:
    assert make_user("root", role=Role.ADMIN).is_admin
