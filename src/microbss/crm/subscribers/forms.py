"""Forms of the subscriber workspace: search, new subscriber, voucher redemption, termination.

The new-subscriber form checks everything it can before the engine is called (formats with the
engine's own identifier rules, the plan against the payment type, the payment data against the
method), and maps the engine's field names ("payment.iban") back to its fields so a refusal is
shown next to what the CSR typed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from microbss.crm.catalog.names import cycle_label
from microbss.crm.core.date_input import OperatorDateInput
from microbss.crm.engine_client import (
    Address,
    EngineRejected,
    FieldError,
    NewSubscriber,
    Payment,
    RefData,
)
from microbss.crm.refusals import refusal_text
from microbss.engine.domain.errors import InvalidArgument
from microbss.engine.domain.identifiers import parse_iban, parse_imei, parse_imsi, parse_msisdn

PAYMENT_TYPES = [("PREPAID", gettext_lazy("Prepaid")), ("POSTPAID", gettext_lazy("Postpaid"))]
PAYMENT_METHODS = [
    ("CASH", gettext_lazy("Cash")),
    ("CARD_ON_FILE", gettext_lazy("Card on file")),
    ("DIRECT_DEBIT", gettext_lazy("Direct debit (IBAN)")),
]
OLDEST_BIRTH_YEAR = 1900
MINIMUM_AGE_YEARS = 16

# The engine's field names (CreateSubscriberRequest paths) -> this form's fields.
ENGINE_FIELDS = {
    "msisdn": "msisdn",
    "imsi": "imsi",
    "handset_imei": "handset_imei",
    "identity_number": "identity_number",
    "first_name": "first_name",
    "last_name": "last_name",
    "date_of_birth": "date_of_birth",
    "address.street": "street",
    "address.city": "city",
    "address.postal_code": "postal_code",
    "address.country": "country",
    "email": "email",
    "contact_phone": "contact_phone",
    "payment.method": "payment_method",
    "payment.card_reference": "card_reference",
    "payment.card_last4": "card_last4",
    "payment.iban": "iban",
    "payment.account_holder": "account_holder",
    "payment_type": "payment_type",
    "price_plan_id": "price_plan",
    "bill_cycle_id": "bill_cycle",
}


def _in_the_pages_language(error: InvalidArgument) -> str:
    """One of the engine's identifier rules broken, said as the engine would refuse it."""
    return refusal_text("INVALID_ARGUMENT", FieldError(error.field, error.message))


def _engine_rule(parse: Any, value: str) -> str:
    """Apply one of the engine's identifier rules, as a form ValidationError."""
    try:
        return str(parse(value))
    except InvalidArgument as error:
        raise forms.ValidationError(_in_the_pages_language(error)) from None


class SearchForm(forms.Form):
    msisdn = forms.CharField(label=gettext_lazy("MSISDN"), required=False, max_length=16)
    imsi = forms.CharField(label=gettext_lazy("IMSI"), required=False, max_length=15)
    name = forms.CharField(label=gettext_lazy("Name"), required=False, max_length=100)
    identity_last_digits = forms.RegexField(
        label=gettext_lazy("Identity number, last digits"),
        required=False,
        regex=r"^[0-9A-Za-z]{2,4}$",
        error_messages={"invalid": gettext_lazy("Enter the last 2 to 4 characters.")},
    )
    include_terminated = forms.BooleanField(
        label=gettext_lazy("Include terminated lines"), required=False
    )

    def clean_msisdn(self) -> str:
        return str(self.cleaned_data["msisdn"]).strip().removeprefix("+")

    def criteria(self) -> dict[str, Any]:
        return {key: value for key, value in self.cleaned_data.items() if value}


class PlanSelect(forms.Select):
    """A plan dropdown whose options carry their payment type, for the filter script."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.payment_types: dict[str, str] = {}

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        payment_type = self.payment_types.get(str(value))
        if payment_type:
            option["attrs"]["data-payment-type"] = payment_type
        return option


def _text(label: str, *, required: bool = True, max_length: int = 100, **kw: Any) -> Any:
    return forms.CharField(label=label, required=required, max_length=max_length, **kw)


class NewSubscriberForm(forms.Form):
    msisdn = _text(gettext_lazy("MSISDN"), max_length=16)
    imsi = _text(gettext_lazy("IMSI"), max_length=15)
    handset_imei = _text(gettext_lazy("Handset (IMEI)"), required=False, max_length=15)
    identity_number = forms.RegexField(
        label=gettext_lazy("Identity number"),
        regex=r"^[0-9A-Za-z]{5,20}$",
        error_messages={"invalid": gettext_lazy("Use 5 to 20 letters and digits, no spaces.")},
    )
    first_name = _text(gettext_lazy("First name"))
    last_name = _text(gettext_lazy("Last name"))
    date_of_birth = forms.DateField(
        label=gettext_lazy("Date of birth"),
        widget=OperatorDateInput(attrs={"autocomplete": "bday"}),
    )
    street = _text(gettext_lazy("Street and number"), max_length=200)
    city = _text(gettext_lazy("City"))
    postal_code = _text(gettext_lazy("Postal code"), max_length=12)
    country = forms.RegexField(
        label=gettext_lazy("Country"),
        regex=r"^[A-Za-z]{2}$",
        initial="ES",
        error_messages={"invalid": gettext_lazy("Use the two-letter country code, e.g. ES.")},
    )
    email = forms.EmailField(label=gettext_lazy("Email"), max_length=254)
    contact_phone = forms.RegexField(
        label=gettext_lazy("Contact phone"),
        required=False,
        regex=r"^\+?[0-9]{6,15}$",
        error_messages={"invalid": gettext_lazy("Use 6 to 15 digits, optionally with a +.")},
    )
    payment_type = forms.ChoiceField(label=gettext_lazy("Payment type"), choices=PAYMENT_TYPES)
    price_plan = forms.ChoiceField(label=gettext_lazy("Price plan"), widget=PlanSelect)
    bill_cycle = forms.ChoiceField(label=gettext_lazy("Bill cycle"), required=False)
    payment_method = forms.ChoiceField(
        label=gettext_lazy("Payment method"), choices=PAYMENT_METHODS, initial="CASH"
    )
    card_reference = _text(gettext_lazy("Card reference (provider token)"), required=False)
    card_last4 = forms.RegexField(
        label=gettext_lazy("Card last 4 digits"),
        required=False,
        regex=r"^[0-9]{4}$",
        error_messages={"invalid": gettext_lazy("Enter exactly 4 digits.")},
    )
    iban = _text(gettext_lazy("IBAN"), required=False, max_length=42)
    account_holder = _text(gettext_lazy("Account holder"), required=False, max_length=140)

    def __init__(self, *args: Any, ref: RefData, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ref = ref
        plan_field = self.fields["price_plan"]
        plan_field.choices = [("", _("Choose a plan"))] + [
            (str(p.id), p.name) for p in ref.price_plans
        ]
        plan_field.widget.payment_types = {str(p.id): p.payment_type for p in ref.price_plans}
        for field in self.fields.values():
            if isinstance(field, forms.ChoiceField):
                field.widget.attrs["class"] = "form-select"
        self.fields["bill_cycle"].choices = [("", _("Choose a bill cycle"))] + [
            (str(c.id), cycle_label(c)) for c in ref.bill_cycles
        ]

    def clean_msisdn(self) -> str:
        return _engine_rule(parse_msisdn, self.cleaned_data["msisdn"])

    def clean_imsi(self) -> str:
        return _engine_rule(parse_imsi, self.cleaned_data["imsi"])

    def clean_handset_imei(self) -> str:
        value = self.cleaned_data["handset_imei"].strip()
        return _engine_rule(parse_imei, value) if value else ""

    def clean_country(self) -> str:
        return str(self.cleaned_data["country"]).upper()

    def clean_date_of_birth(self) -> date:
        born: date = self.cleaned_data["date_of_birth"]
        today = date.today()
        if born.year < OLDEST_BIRTH_YEAR or born > today:
            raise forms.ValidationError(_("Enter a real date of birth."))
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if age < MINIMUM_AGE_YEARS:
            raise forms.ValidationError(
                _("The subscriber must be at least %(age)d years old.") % {"age": MINIMUM_AGE_YEARS}
            )
        return born

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self._check_plan(data)
        self._check_payment(data)
        return data

    def _check_plan(self, data: dict[str, Any]) -> None:
        payment_type = data.get("payment_type")
        plan_id = data.get("price_plan")
        plan = self.ref.plan(int(plan_id)) if plan_id else None
        if plan is not None and payment_type and plan.payment_type != payment_type:
            self.add_error(
                "price_plan",
                _("%(plan)s is not a %(type)s plan.")
                % {"plan": plan.name, "type": dict(PAYMENT_TYPES)[payment_type].lower()},
            )
        if payment_type == "POSTPAID" and not data.get("bill_cycle"):
            self.add_error("bill_cycle", _("A postpaid line needs a bill cycle."))
        if payment_type == "PREPAID":
            data["bill_cycle"] = ""  # prepaid lines have no bill cycle; ignore a stale choice

    def _check_payment(self, data: dict[str, Any]) -> None:
        method = data.get("payment_method")
        if method == "CARD_ON_FILE":
            if not data.get("card_reference"):
                self.add_error("card_reference", _("Enter the payment provider's card token."))
            if not data.get("card_last4"):
                self.add_error("card_last4", _("Enter the card's last 4 digits."))
        if method == "DIRECT_DEBIT":
            iban = data.get("iban", "")
            if not iban:
                self.add_error("iban", _("Direct debit needs the IBAN."))
            else:
                try:
                    data["iban"] = parse_iban(iban)
                except InvalidArgument as error:
                    self.add_error("iban", _in_the_pages_language(error))
            if not data.get("account_holder"):
                self.add_error("account_holder", _("Enter the account holder's name."))

    def new_subscriber(self) -> NewSubscriber:
        """The validated input as the engine's CreateSubscriber data."""
        data = self.cleaned_data
        method = data["payment_method"]
        return NewSubscriber(
            msisdn=data["msisdn"],
            imsi=data["imsi"],
            handset_imei=data["handset_imei"],
            identity_number=data["identity_number"],
            first_name=data["first_name"].strip(),
            last_name=data["last_name"].strip(),
            date_of_birth=data["date_of_birth"],
            address=Address(
                data["street"].strip(), data["city"].strip(), data["postal_code"].strip(),
                data["country"],
            ),
            email=data["email"],
            contact_phone=data["contact_phone"].removeprefix("+"),
            payment=Payment(
                method=method,
                card_reference=data["card_reference"] if method == "CARD_ON_FILE" else "",
                card_last4=data["card_last4"] if method == "CARD_ON_FILE" else "",
                iban=data["iban"] if method == "DIRECT_DEBIT" else "",
                account_holder=data["account_holder"] if method == "DIRECT_DEBIT" else "",
            ),
            payment_type=data["payment_type"],
            price_plan_id=int(data["price_plan"]),
            bill_cycle_id=int(data["bill_cycle"] or 0),
        )  # fmt: skip

    def add_engine_errors(self, refusal: EngineRejected) -> None:
        """Show the engine's refusal next to the field it names (or above the form), in the
        page's language when the CRM knows the refusal."""
        for error in refusal.errors:
            field = ENGINE_FIELDS.get(error.field or "")
            self.add_error(field, refusal_text(refusal.code, error))


class RedeemForm(forms.Form):
    pin = forms.CharField(
        label=gettext_lazy("Voucher PIN"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError(_("Give a reason."))
        return reason
