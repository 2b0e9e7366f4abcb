"""The form to add a VAT rate."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from microbss.crm.core.date_input import OperatorDateInput


class VatRateForm(forms.Form):
    rate = forms.DecimalField(
        label=_("Rate (%)"),
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        max_digits=5,
        decimal_places=2,
        help_text=_("Percent, for example 21 or 10.5."),
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    effective_from = forms.DateField(
        label=_("Effective from"),
        help_text=_("The first day (operator's time zone) the rate applies."),
        widget=OperatorDateInput(),
    )
