"""Admin pages for CRM users: list, create, edit, rotate password, activate/deactivate, reset MFA.

A temporary password is shown exactly once: the view that makes it keeps it in the session and
the next page shows it and forgets it, so reloading that page cannot show it again.
"""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from microbss.crm.accounts import actions
from microbss.crm.accounts.actions import UserChangeRefused
from microbss.crm.accounts.decorators import admin_required
from microbss.crm.accounts.forms import UserCreateForm, UserEditForm, UserSearchForm
from microbss.crm.accounts.models import CsrUser

SHOW_ONCE = "users_temporary_password"
PAGE_SIZE = 25


def _admin(request: HttpRequest) -> CsrUser:
    return cast(CsrUser, request.user)


def _filtered_users(form: UserSearchForm) -> QuerySet[CsrUser]:
    users = CsrUser.objects.all()
    if not form.is_valid():
        return users
    query = form.cleaned_data["q"].strip()
    if query:
        users = users.filter(
            Q(username__icontains=query)
            | Q(display_name__icontains=query)
            | Q(email__icontains=query)
        )
    if form.cleaned_data["role"]:
        users = users.filter(role=form.cleaned_data["role"])
    if form.cleaned_data["state"]:
        users = users.filter(is_active=form.cleaned_data["state"] == "active")
    return users


@admin_required
@require_GET
def user_list(request: HttpRequest) -> HttpResponse:
    form = UserSearchForm(request.GET)
    page = Paginator(_filtered_users(form), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/users/list.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


@admin_required
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user, password = actions.create_user(request, _admin(request), **form.cleaned_data)
        request.session[SHOW_ONCE] = {"user": user.pk, "password": password}
        messages.success(request, _("User %(username)s created.") % {"username": user.username})
        return redirect("users:detail", user_id=user.pk)
    return render(request, "accounts/users/create.html", {"form": form})


@never_cache
@admin_required
@require_http_methods(["GET", "POST"])
def user_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(CsrUser, pk=user_id)
    initial = {"display_name": user.display_name, "email": user.email, "role": user.role}
    form = UserEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_user(request, _admin(request), user, **form.cleaned_data)
        except UserChangeRefused as refused:
            form.add_error("role", str(refused))
        else:
            messages.success(request, _("Changes saved."))
            return redirect("users:detail", user_id=user.pk)
    shown = request.session.pop(SHOW_ONCE, None)
    temporary_password = shown["password"] if shown and shown.get("user") == user.pk else ""
    return render(
        request,
        "accounts/users/detail.html",
        {
            "subject": user,
            "form": form,
            "temporary_password": temporary_password,
            "is_self": user.pk == request.user.pk,
        },
    )


@admin_required
@require_POST
def user_rotate_password(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(CsrUser, pk=user_id)
    password = actions.rotate_password(request, _admin(request), user)
    request.session[SHOW_ONCE] = {"user": user.pk, "password": password}
    messages.success(
        request,
        _("New temporary password set for %(username)s; their open sessions have ended.")
        % {"username": user.username},
    )
    return redirect("users:detail", user_id=user.pk)


@admin_required
@require_POST
def user_set_active(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(CsrUser, pk=user_id)
    active = request.POST.get("active") == "1"
    try:
        actions.set_active(request, _admin(request), user, active)
    except UserChangeRefused as refused:
        messages.error(request, str(refused))
    else:
        text = (
            _("%(username)s can sign in again.")
            if active
            else _("%(username)s is deactivated; their open sessions have ended.")
        )
        messages.success(request, text % {"username": user.username})
    return redirect("users:detail", user_id=user.pk)


@admin_required
@require_POST
def user_reset_mfa(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(CsrUser, pk=user_id)
    actions.reset_mfa(request, _admin(request), user)
    messages.success(
        request,
        _("MFA reset for %(username)s: they will set up an authenticator at their next sign-in.")
        % {"username": user.username},
    )
    return redirect("users:detail", user_id=user.pk)
