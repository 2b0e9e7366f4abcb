"""URLs of the read-only price plan pages (plans, services, bill cycles)."""

from django.urls import path

import microbss.crm.core.converters  # noqa: F401 -- registers the <id:...> converter
from microbss.crm.catalog import views

app_name = "catalog"

urlpatterns = [
    path("price-plans/", views.price_plans, name="price_plans"),
    path("price-plans/<id:plan_id>/", views.price_plan, name="price_plan"),
    path("services/", views.services, name="services"),
    path("bill-cycles/", views.bill_cycles, name="bill_cycles"),
]
