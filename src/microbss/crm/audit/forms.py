"""The audit log search form."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from microbss.crm.audit.wording import action_choices
from microbss.crm.core.date_input import OperatorDateInput


class AuditSearchForm(forms.Form):
    actor = forms.CharField(label=_("User"), required=False, max_length=64)
    # The codes stay the values (also typed by hand: ``?action=auth`` matches every sign-in
    # action), the words are what the list shows.
    action = forms.CharField(label=_("Action"), required=False, max_length=64)
    target = forms.CharField(label=_("Target"), required=False, max_length=200)
    date_from = forms.DateField(label=_("From"), required=False, widget=OperatorDateInput())
    date_to = forms.DateField(label=_("To"), required=False, widget=OperatorDateInput())

    def action_options(self) -> list[tuple[str, str]]:
        """(code, words) for the Action list; a typed code that is no known action is kept."""
        options = action_choices()
        typed = str(self["action"].value() or "").strip()
        if typed and typed not in dict(options):
            options.insert(0, (typed, typed))
        return options

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned
