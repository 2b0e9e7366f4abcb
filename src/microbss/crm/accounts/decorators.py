"""Access checks for CRM views: `csr_required` for every workspace page, `admin_required` for
the admin area.

A user who is logged in but still owes a step of the login flow (a forced password change, or the
MFA enrolment every user must do) is sent to that step instead of the page. An anonymous user is
sent to the login page with ``next``; a CSR opening an admin page gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from microbss.crm.accounts.models import CsrUser

View = TypeVar("View", bound=Callable[..., HttpResponse])


def pending_step_redirect(user: CsrUser) -> HttpResponse | None:
    """The login step the user still owes, as a redirect, or None when fully signed in."""
    if user.must_change_password:
        return redirect("accounts:password_change")
    if not user.totp_enrolled:
        return redirect("accounts:mfa_setup")
    return None


def csr_required(view: View) -> View:
    """Logged in and through every login step; both roles."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        pending = pending_step_redirect(cast(CsrUser, request.user))
        if pending is not None:
            return pending
        return view(request, *args, **kwargs)

    return cast(View, wrapper)


def admin_required(view: View) -> View:
    """Logged in, through every login step (so MFA-enrolled) and role ADMIN; a CSR gets 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        user = cast(CsrUser, request.user)
        pending = pending_step_redirect(user)
        if pending is not None:
            return pending
        if not user.is_admin:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return cast(View, wrapper)
