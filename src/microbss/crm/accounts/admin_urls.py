"""URLs of the admin users pages (namespace ``users``)."""

from django.urls import path

from microbss.crm.accounts import admin_views

app_name = "users"

urlpatterns = [
    path("", admin_views.user_list, name="list"),
    path("new/", admin_views.user_create, name="new"),
    path("<int:user_id>/", admin_views.user_detail, name="detail"),
    path(
        "<int:user_id>/rotate-password/", admin_views.user_rotate_password, name="rotate_password"
    ),
    path("<int:user_id>/active/", admin_views.user_set_active, name="set_active"),
    path("<int:user_id>/reset-mfa/", admin_views.user_reset_mfa, name="reset_mfa"),
]
