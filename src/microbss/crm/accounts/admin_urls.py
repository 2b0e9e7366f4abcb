"""URLs of the admin users pages (namespace ``users``)."""

from django.urls import path

import microbss.crm.core.converters  # noqa: F401 -- registers the <id:...> converter
from microbss.crm.accounts import admin_views

app_name = "users"

urlpatterns = [
    path("", admin_views.user_list, name="list"),
    path("new/", admin_views.user_create, name="new"),
    path("<id:user_id>/", admin_views.user_detail, name="detail"),
    path("<id:user_id>/rotate-password/", admin_views.user_rotate_password, name="rotate_password"),
    path("<id:user_id>/active/", admin_views.user_set_active, name="set_active"),
    path("<id:user_id>/reset-mfa/", admin_views.user_reset_mfa, name="reset_mfa"),
]
