"""The CRM user (`csr_users`) and the login throttle counters.

Users live only in the CRM's own database: the charging engine knows nothing about them and only
ever sees their username as the acting user (``x-actor``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils.translation import gettext_lazy as _

from microbss.crm.accounts.sealed import SealedSecretField


class Role(models.TextChoices):
    CSR = "CSR", _("Customer service rep")
    ADMIN = "ADMIN", _("Administrator")


class Theme(models.TextChoices):
    LIGHT = "light", _("Light")
    DARK = "dark", _("Dark")


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    SPANISH = "es", "Español"


class CsrUserManager(BaseUserManager["CsrUser"]):
    """Creates users; every write that an operator triggers goes through accounts.actions."""

    def create_user(self, username: str, password: str | None = None, **fields: Any) -> CsrUser:
        user = self.model(username=self.model.normalize_username(username), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(
        self, username: str, password: str | None = None, **fields: Any
    ) -> CsrUser:
        fields.setdefault("role", Role.ADMIN)
        return self.create_user(username, password, **fields)


class CsrUser(AbstractBaseUser):
    """A customer-service rep or admin of the CRM.

    ``totp_secret`` is the base32 shared secret of the user's authenticator. It is written once at
    enrolment, read only to check a code, and never rendered, logged or put in an audit row; the
    column holds it encrypted (:mod:`microbss.crm.accounts.sealed`).
    ``totp_last_step`` is the last accepted 30-second step: a code for that step or an earlier one
    is a replay and is refused.
    """

    username = models.CharField(_("username"), max_length=64, unique=True)
    display_name = models.CharField(_("display name"), max_length=128, blank=True)
    email = models.EmailField(_("email"), max_length=254, blank=True)
    role = models.CharField(_("role"), max_length=8, choices=Role.choices, default=Role.CSR)
    is_active = models.BooleanField(_("active"), default=True)
    theme = models.CharField(_("theme"), max_length=8, choices=Theme.choices, default=Theme.LIGHT)
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.ENGLISH
    )
    totp_secret = SealedSecretField(max_length=255, blank=True, editable=False)
    totp_enrolled = models.BooleanField(_("MFA enrolled"), default=False)
    totp_last_step = models.BigIntegerField(default=0, editable=False)
    must_change_password = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[CsrUserManager] = CsrUserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        db_table = "csr_users"
        ordering: ClassVar[list[str]] = ["username"]

    def __str__(self) -> str:
        return self.username

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def name_to_show(self) -> str:
        return self.display_name or self.username

    @property
    def is_fully_signed_in(self) -> bool:
        """Through every login step: no password change or MFA enrolment still owed."""
        return self.totp_enrolled and not self.must_change_password


class LoginThrottle(models.Model):
    """Recent login failures of one account or one client address.

    Kept in the database (not process memory) so that a lock holds across every gunicorn worker
    and a restart. ``key`` is ``user:<username>`` or ``addr:<client address>``.
    """

    key = models.CharField(max_length=200, unique=True)
    failures = models.PositiveIntegerField(default=0)
    first_failure_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "csr_login_throttle"

    def __str__(self) -> str:
        return f"{self.key}: {self.failures} failures"
