"""Forms of the login flow, the profile and the admin users pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import PasswordChangeForm
from django.utils.translation import gettext_lazy as _

from microbss.crm.accounts.models import CsrUser, Language, Role, Theme
from microbss.crm.accounts.passwords import MAX_PASSWORD_LENGTH


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=MAX_PASSWORD_LENGTH * 4,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class TotpCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Authentication code"),
        max_length=12,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "placeholder": "123456",
            }
        ),
        help_text=_("The 6-digit code your authenticator app shows for microbss."),
    )


class ConfirmPasswordForm(forms.Form):
    password = forms.CharField(
        label=_("Your current password"),
        strip=False,
        max_length=MAX_PASSWORD_LENGTH * 4,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    def __init__(self, user: CsrUser, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("The password is not correct."), code="wrong_password")
        return password


class OwnPasswordChangeForm(PasswordChangeForm):
    """Django's form (current password, new twice, every validator) with our wording."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["old_password"].label = _("Current password")
        self.fields["old_password"].widget.attrs.pop("autofocus", None)


class ProfileForm(forms.Form):
    display_name = forms.CharField(label=_("Display name"), max_length=128, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    theme = forms.ChoiceField(label=_("Theme"), choices=Theme.choices, widget=forms.RadioSelect)
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)


class UserCreateForm(forms.Form):
    username = forms.RegexField(
        label=_("Username"),
        max_length=64,
        regex=r"^[A-Za-z0-9._-]+$",
        error_messages={
            "invalid": _("Use letters, digits, dots, dashes and underscores only."),
        },
    )
    display_name = forms.CharField(label=_("Display name"), max_length=128, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.CSR)

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"]
        if CsrUser.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(
                _("A user with this username already exists."), code="duplicate"
            )
        return username


class UserEditForm(forms.Form):
    display_name = forms.CharField(label=_("Display name"), max_length=128, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class UserSearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=64)
    role = forms.ChoiceField(
        label=_("Role"), required=False, choices=[("", _("Any role")), *Role.choices]
    )
    state = forms.ChoiceField(
        label=_("State"),
        required=False,
        choices=[
            ("", _("Active and inactive")),
            ("active", _("Active")),
            ("inactive", _("Inactive")),
        ],
    )
