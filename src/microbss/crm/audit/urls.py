"""URLs of the audit log page."""

from django.urls import path

from microbss.crm.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.audit_log, name="log"),
]
