"""A date text box in the page language's convention, with the format shown as its placeholder.

Browsers draw ``<input type=date>`` in the browser's own locale (``mm/dd/yyyy`` on an American
browser next to ``2026-11-27`` everywhere else on the page), so date fields are plain text boxes
that take the convention of ``microbss.crm.formats`` (ISO is always accepted too).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _


class OperatorDateInput(forms.DateInput):
    input_type = "text"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={
                # Translators: how a date is typed, in the order of this language's date format.
                "placeholder": _("YYYY-MM-DD"),
                "inputmode": "numeric",
                "autocomplete": "off",
                **(attrs or {}),
            }
        )
