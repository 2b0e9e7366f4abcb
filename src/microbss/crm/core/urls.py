"""URLs of the CRM shell (home page)."""

from django.urls import path

from microbss.crm.core import views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
]
