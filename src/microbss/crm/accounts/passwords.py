"""Password rules beyond Django's built-in validators."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

MAX_PASSWORD_LENGTH = 128


class MaximumLengthValidator:
    """Refuses passwords longer than 128 characters.

    Argon2 hashes the whole password, so nothing is silently truncated; the cap only keeps a
    multi-megabyte "password" from costing the server a hash of that size.
    """

    def __init__(self, max_length: int = MAX_PASSWORD_LENGTH) -> None:
        self.max_length = max_length

    def validate(self, password: str, user: Any = None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                ngettext(
                    "This password is too long. It must contain at most %(max)d character.",
                    "This password is too long. It must contain at most %(max)d characters.",
                    self.max_length,
                )
                % {"max": self.max_length},
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return _("Your password must contain at most %(max)d characters.") % {
            "max": self.max_length
        }
