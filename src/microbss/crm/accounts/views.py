"""Login (password, then TOTP code), logout, MFA setup, password change and the user's profile.

The login flow keeps the half-logged-in user in the session only by id and only for a few minutes
between the password step and the code step; Django's ``login()`` (which gives the session a new
id) runs only when every required factor has been checked.
"""

from __future__ import annotations

import time
from typing import cast

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from microbss.crm.accounts import actions, totp
from microbss.crm.accounts.actions import LoginAttempt, LoginRefusal
from microbss.crm.accounts.decorators import csr_required, pending_step_redirect
from microbss.crm.accounts.forms import (
    ConfirmPasswordForm,
    LoginForm,
    OwnPasswordChangeForm,
    ProfileForm,
    TotpCodeForm,
)
from microbss.crm.accounts.models import CsrUser

PENDING_USER = "login_pending_user"
PENDING_SINCE = "login_pending_since"
PENDING_NEXT = "login_pending_next"
PENDING_MAX_SECONDS = 300
ENROL_SECRET = "mfa_enrol_secret"
ENROL_CONFIRMED_AT = "mfa_enrol_password_confirmed_at"
ENROL_CONFIRM_MAX_SECONDS = 600


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _refusal_message(attempt: LoginAttempt) -> str:
    if attempt.refusal is LoginRefusal.LOCKED:
        return ngettext(
            "Too many failed attempts. Try again in %(minutes)d minute.",
            "Too many failed attempts. Try again in %(minutes)d minutes.",
            attempt.minutes_locked,
        ) % {"minutes": attempt.minutes_locked}
    return _("Wrong username or password.")


def _finish_login(request: HttpRequest, user: CsrUser, next_url: str) -> HttpResponse:
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    actions.record_login(request, user)
    pending = pending_step_redirect(user)
    if pending is not None:
        return pending
    return redirect(next_url or "core:home")


@never_cache
@sensitive_post_parameters("password")
@require_http_methods(["GET", "HEAD", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("core:home")
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    form = LoginForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        attempt = actions.check_password_step(
            request, form.cleaned_data["username"], form.cleaned_data["password"]
        )
        if attempt.user is None:
            error = _refusal_message(attempt)
        elif attempt.user.totp_enrolled:
            request.session.cycle_key()
            request.session[PENDING_USER] = attempt.user.pk
            request.session[PENDING_SINCE] = time.time()
            request.session[PENDING_NEXT] = next_url
            return redirect("accounts:login_code")
        else:
            return _finish_login(request, attempt.user, next_url)
    status = 200 if not error else 401
    return render(
        request,
        "accounts/login.html",
        {"form": form, "error": error, "next": next_url},
        status=status,
    )


def _pending_user(request: HttpRequest) -> CsrUser | None:
    user_id = request.session.get(PENDING_USER)
    since = float(request.session.get(PENDING_SINCE, 0))
    if user_id is None or time.time() - since > PENDING_MAX_SECONDS:
        return None
    return CsrUser.objects.filter(pk=user_id, is_active=True, totp_enrolled=True).first()


def _forget_pending(request: HttpRequest) -> str:
    request.session.pop(PENDING_USER, None)
    request.session.pop(PENDING_SINCE, None)
    return str(request.session.pop(PENDING_NEXT, "") or "")


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def login_code_view(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        _forget_pending(request)
        messages.info(request, _("Please sign in again."))
        return redirect("accounts:login")
    form = TotpCodeForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        attempt = actions.check_totp_step(request, user, form.cleaned_data["code"])
        if attempt.user is not None:
            return _finish_login(request, user, _forget_pending(request))
        if attempt.refusal is LoginRefusal.LOCKED:
            _forget_pending(request)
            messages.error(request, _refusal_message(attempt))
            return redirect("accounts:login")
        error = _("That code is not valid. Codes change every 30 seconds; each works only once.")
    return render(
        request,
        "accounts/login_code.html",
        {"form": form, "error": error},
        status=401 if error else 200,
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        actions.record_logout(request, cast(CsrUser, request.user))
    logout(request)
    messages.success(request, _("You have signed out."))
    return redirect("accounts:login")


@never_cache
@login_required
@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@require_http_methods(["GET", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    user = cast(CsrUser, request.user)
    form = OwnPasswordChangeForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        actions.change_own_password(request, user, form.cleaned_data["new_password1"])
        messages.success(request, _("Your password has been changed."))
        pending = pending_step_redirect(user)
        return pending if pending is not None else redirect("accounts:profile")
    return render(
        request,
        "accounts/password_change.html",
        {"form": form, "forced": user.must_change_password},
    )


def _password_recently_confirmed(request: HttpRequest) -> bool:
    confirmed_at = float(request.session.get(ENROL_CONFIRMED_AT, 0))
    return time.time() - confirmed_at <= ENROL_CONFIRM_MAX_SECONDS


@never_cache
@login_required
@sensitive_post_parameters("password", "code")
@require_http_methods(["GET", "POST"])
def mfa_setup_view(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator. Re-enrolling (already enrolled) first asks for the password."""
    user = cast(CsrUser, request.user)
    if user.must_change_password:
        return redirect("accounts:password_change")
    if user.totp_enrolled and not _password_recently_confirmed(request):
        return _confirm_password_for_enrolment(request, user)
    secret = request.session.get(ENROL_SECRET) or totp.new_secret()
    request.session[ENROL_SECRET] = secret
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and "code" in request.POST and form.is_valid():
        if actions.bind_totp(request, user, secret, form.cleaned_data["code"]):
            request.session.pop(ENROL_SECRET, None)
            request.session.pop(ENROL_CONFIRMED_AT, None)
            messages.success(request, _("Your authenticator app is set up."))
            return redirect("core:home")
        form.add_error("code", _("That code does not match. Check the app's clock and try again."))
    uri = totp.provisioning_uri(secret, user.username)
    context = {
        "form": form,
        "qr_svg": totp.qr_code_svg(uri),
        "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
        "otpauth_uri": uri,
        "re_enrol": user.totp_enrolled,
    }
    return render(request, "accounts/mfa_setup.html", context)


def _confirm_password_for_enrolment(request: HttpRequest, user: CsrUser) -> HttpResponse:
    form = ConfirmPasswordForm(user, request.POST or None)
    if request.method == "POST" and "password" in request.POST and form.is_valid():
        request.session[ENROL_CONFIRMED_AT] = time.time()
        request.session.pop(ENROL_SECRET, None)
        return redirect("accounts:mfa_setup")
    return render(request, "accounts/mfa_confirm_password.html", {"form": form})


@csr_required
@require_http_methods(["GET", "POST"])
def profile_view(request: HttpRequest) -> HttpResponse:
    user = cast(CsrUser, request.user)
    form = ProfileForm(request.POST or None, initial=_profile_initial(user))
    if request.method == "POST" and form.is_valid():
        actions.update_profile(
            request,
            user,
            display_name=form.cleaned_data["display_name"],
            email=form.cleaned_data["email"],
            theme=form.cleaned_data["theme"],
            language=form.cleaned_data["language"],
        )
        messages.success(request, _("Your profile has been saved."))
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form, "profile_user": user})


def _profile_initial(user: CsrUser) -> dict[str, str]:
    return {
        "display_name": user.display_name,
        "email": user.email,
        "theme": user.theme,
        "language": user.language,
    }
