"""Every write to CRM users, each atomic and each leaving one audit row.

Views parse input and call these; nothing else changes a user. The audit rows name the user and
what changed, never a password, a TOTP secret or a code.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from django.contrib.auth import authenticate, update_session_auth_hash
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from microbss.crm.accounts import throttling, totp
from microbss.crm.accounts.models import CsrUser, Language, Role, Theme
from microbss.crm.audit.actions import client_address, record
from microbss.crm.audit.models import Result

# Temporary passwords: 4 groups of 5 characters from an alphabet without look-alikes (0/O, 1/l/I),
# about 100 bits, easy to read out over the phone.
_TEMP_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"


class LoginRefusal(Enum):
    INVALID = "invalid"
    LOCKED = "locked"


@dataclass(frozen=True)
class LoginAttempt:
    """The outcome of a login step: the user, or why not (with the lock's minutes left)."""

    user: CsrUser | None
    refusal: LoginRefusal | None = None
    minutes_locked: int = 0


class UserChangeRefused(Exception):
    """An admin asked for a change to users that is not allowed (message says why)."""


def temporary_password() -> str:
    groups = ("".join(secrets.choice(_TEMP_ALPHABET) for _ in range(5)) for _ in range(4))
    return "-".join(groups)


# Login -----------------------------------------------------------------------------------------


def check_password_step(request: HttpRequest, username: str, password: str) -> LoginAttempt:
    """First login step: the throttle, then the password. The caller logs in or asks for TOTP."""
    now = timezone.now()
    address = client_address(request)
    lock = throttling.active_lock(username, address, now)
    if lock is not None:
        _audit_login_refused(request, username, "locked")
        return LoginAttempt(None, LoginRefusal.LOCKED, lock.minutes_left(now))
    user = authenticate(request, username=username, password=password)
    if not isinstance(user, CsrUser):
        return _failed(request, username, "wrong_password_or_unknown_user", now)
    return LoginAttempt(user)


def check_totp_step(request: HttpRequest, user: CsrUser, code: str) -> LoginAttempt:
    """Second login step: the throttle, then the code (accepted once, ±1 step)."""
    now = timezone.now()
    lock = throttling.active_lock(user.username, client_address(request), now)
    if lock is not None:
        _audit_login_refused(request, user.username, "locked")
        return LoginAttempt(None, LoginRefusal.LOCKED, lock.minutes_left(now))
    if not _consume_totp(user, code, now):
        return _failed(request, user.username, "wrong_or_reused_totp_code", now)
    return LoginAttempt(user)


def record_login(request: HttpRequest, user: CsrUser) -> None:
    with transaction.atomic():
        throttling.clear_account(user.username)
        record(user, "auth.login", target=f"user:{user.username}", request=request)


def record_logout(request: HttpRequest, user: CsrUser) -> None:
    with transaction.atomic():
        record(user, "auth.logout", target=f"user:{user.username}", request=request)


def _failed(request: HttpRequest, username: str, reason: str, now: datetime) -> LoginAttempt:
    lock = throttling.register_failure(username, client_address(request), now)
    with transaction.atomic():
        record(
            None,
            "auth.login",
            target=f"user:{username}",
            result=Result.DENIED,
            details={"reason": reason, "locked": lock is not None},
            request=request,
        )
    if lock is not None:
        return LoginAttempt(None, LoginRefusal.LOCKED, lock.minutes_left(now))
    return LoginAttempt(None, LoginRefusal.INVALID)


def _audit_login_refused(request: HttpRequest, username: str, reason: str) -> None:
    with transaction.atomic():
        record(
            None,
            "auth.login",
            target=f"user:{username}",
            result=Result.DENIED,
            details={"reason": reason},
            request=request,
        )


def _consume_totp(user: CsrUser, code: str, now: datetime) -> bool:
    """Check the code and move the user's replay guard to its step, race-free across workers."""
    step = totp.matching_step(user.totp_secret, code, now, user.totp_last_step)
    if step is None:
        return False
    # Conditional update: of two requests racing with the same code, only one moves the guard.
    moved = CsrUser.objects.filter(pk=user.pk, totp_last_step__lt=step).update(totp_last_step=step)
    if moved == 1:
        user.totp_last_step = step
    return moved == 1


# MFA enrolment ---------------------------------------------------------------------------------


def bind_totp(request: HttpRequest, user: CsrUser, secret: str, code: str) -> bool:
    """Bind a new authenticator after a correct code from it; False (and nothing changed) if not."""
    step = totp.matching_step(secret, code, timezone.now(), last_step=0)
    if step is None:
        with transaction.atomic():
            record(
                user,
                "auth.mfa_enrol",
                target=f"user:{user.username}",
                result=Result.DENIED,
                request=request,
            )
        return False
    with transaction.atomic():
        was_enrolled = user.totp_enrolled
        user.totp_secret, user.totp_enrolled, user.totp_last_step = secret, True, step
        user.save(update_fields=["totp_secret", "totp_enrolled", "totp_last_step"])
        record(
            user,
            "auth.mfa_enrol",
            target=f"user:{user.username}",
            details={"replaced_previous": was_enrolled},
            request=request,
        )
    return True


def reset_mfa(request: HttpRequest, admin: CsrUser, user: CsrUser) -> None:
    """Unbind a user's authenticator: they must enrol again at their next request."""
    with transaction.atomic():
        user.totp_secret, user.totp_enrolled, user.totp_last_step = "", False, 0
        user.save(update_fields=["totp_secret", "totp_enrolled", "totp_last_step"])
        record(admin, "user.mfa_reset", target=f"user:{user.username}", request=request)


# Passwords -------------------------------------------------------------------------------------


def change_own_password(request: HttpRequest, user: CsrUser, new_password: str) -> None:
    """The user's own change (validated by the form); keeps this session, ends the others."""
    with transaction.atomic():
        user.set_password(new_password)
        user.must_change_password = False
        user.save(update_fields=["password", "must_change_password"])
        record(user, "auth.password_change", target=f"user:{user.username}", request=request)
    update_session_auth_hash(request, user)


def rotate_password(request: HttpRequest, admin: CsrUser, user: CsrUser) -> str:
    """Give the user a new temporary password (returned once); ends every session they have."""
    password = temporary_password()
    with transaction.atomic():
        user.set_password(password)
        user.must_change_password = True
        user.save(update_fields=["password", "must_change_password"])
        record(admin, "user.password_rotate", target=f"user:{user.username}", request=request)
    return password


# Users -----------------------------------------------------------------------------------------


def create_user(
    request: HttpRequest,
    admin: CsrUser,
    *,
    username: str,
    display_name: str,
    email: str,
    role: str,
) -> tuple[CsrUser, str]:
    """A new user with a temporary password (returned once) they must change at first login."""
    password = temporary_password()
    with transaction.atomic():
        user = CsrUser.objects.create_user(
            username,
            password,
            display_name=display_name,
            email=email,
            role=role,
            must_change_password=True,
        )
        record(
            admin,
            "user.create",
            target=f"user:{user.username}",
            details={"role": role, "display_name": display_name, "email": email},
            request=request,
        )
    return user, password


def update_user(
    request: HttpRequest, admin: CsrUser, user: CsrUser, *, display_name: str, email: str, role: str
) -> None:
    if user.pk == admin.pk and role != Role.ADMIN:
        raise UserChangeRefused(_("You cannot remove your own administrator role."))
    changes = _changes(user, display_name=display_name, email=email, role=role)
    if not changes:
        return
    with transaction.atomic():
        for name, (_old, new) in changes.items():
            setattr(user, name, new)
        user.save(update_fields=list(changes))
        record(
            admin,
            "user.update",
            target=f"user:{user.username}",
            details=_as_details(changes),
            request=request,
        )


def set_active(request: HttpRequest, admin: CsrUser, user: CsrUser, active: bool) -> None:
    """Activate or deactivate; a deactivated user's sessions end at their next request."""
    if user.pk == admin.pk and not active:
        raise UserChangeRefused(_("You cannot deactivate yourself."))
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active"])
        record(
            admin,
            "user.activate" if active else "user.deactivate",
            target=f"user:{user.username}",
            request=request,
        )


def update_profile(
    request: HttpRequest,
    user: CsrUser,
    *,
    display_name: str,
    email: str,
    theme: str,
    language: str,
) -> None:
    """The user's own preferences; applied from the next page on."""
    if theme not in Theme.values or language not in Language.values:
        raise ValueError("unknown theme or language")
    changes = _changes(user, display_name=display_name, email=email, theme=theme, language=language)
    if not changes:
        return
    with transaction.atomic():
        for name, (_old, new) in changes.items():
            setattr(user, name, new)
        user.save(update_fields=list(changes))
        record(
            user,
            "profile.update",
            target=f"user:{user.username}",
            details=_as_details(changes),
            request=request,
        )


def _changes(user: CsrUser, **values: str) -> dict[str, tuple[str, str]]:
    return {
        name: (getattr(user, name), value)
        for name, value in values.items()
        if getattr(user, name) != value
    }


def _as_details(changes: dict[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    return {name: {"from": old, "to": new} for name, (old, new) in changes.items()}
