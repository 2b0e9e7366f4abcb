"""URLs of the VAT admin page."""

from django.urls import path

from microbss.crm.vat import views

app_name = "vat"

urlpatterns = [
    path("", views.vat_page, name="page"),
    path("add/", views.vat_add, name="add"),
]
