"""URLs of the login flow and the user's own pages (profile, MFA, password)."""

from django.urls import path

from microbss.crm.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/code/", views.login_code_view, name="login_code"),
    path("logout/", views.logout_view, name="logout"),
    path("password/", views.password_change_view, name="password_change"),
    path("mfa/", views.mfa_setup_view, name="mfa_setup"),
    path("profile/", views.profile_view, name="profile"),
]
