"""Forms of voucher administration: the list filters and the state-change confirmation."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from microbss.crm.vouchers.actions import RESTORE, WITHDRAW

STATES = [
    ("", gettext_lazy("Any state")),
    ("NEW", gettext_lazy("New")),
    ("USED", gettext_lazy("Used")),
    ("ERROR", gettext_lazy("Withdrawn (error)")),
]
_NAME = r"^[A-Za-z0-9._-]*$"


class VoucherFilterForm(forms.Form):
    state = forms.ChoiceField(label=gettext_lazy("State"), choices=STATES, required=False)
    batch = forms.RegexField(
        label=gettext_lazy("Batch"),
        regex=_NAME,
        max_length=64,
        required=False,
        error_messages={"invalid": gettext_lazy("Letters, digits, dot, dash and underscore.")},
    )
    serial = forms.RegexField(
        label=gettext_lazy("Serial starts with"),
        regex=_NAME,
        max_length=64,
        required=False,
        error_messages={"invalid": gettext_lazy("Letters, digits, dot, dash and underscore.")},
    )

    def criteria(self) -> dict[str, str]:
        return {key: str(value).strip() for key, value in self.cleaned_data.items()}


class StateChangeForm(forms.Form):
    """Withdraw or restore one serial or a whole batch; the reason is required."""

    new_state = forms.ChoiceField(
        choices=[(WITHDRAW, gettext_lazy("Withdraw")), (RESTORE, gettext_lazy("Restore"))],
        widget=forms.HiddenInput,
    )
    serial = forms.RegexField(regex=_NAME, max_length=64, required=False, widget=forms.HiddenInput)
    batch = forms.RegexField(regex=_NAME, max_length=64, required=False, widget=forms.HiddenInput)
    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError(_("Give a reason."))
        return reason

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("serial")) == bool(data.get("batch")):
            raise forms.ValidationError(_("Choose one voucher serial or one batch."))
        return data

    @property
    def is_withdrawal(self) -> bool:
        return self["new_state"].value() == WITHDRAW
