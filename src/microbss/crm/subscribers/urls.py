"""URLs of the subscriber workspace: search, onboarding, the subscriber page and its actions."""

from django.urls import path

import microbss.crm.core.converters  # noqa: F401 -- registers the <id:...> converter
from microbss.crm.subscribers import views

app_name = "subscribers"

urlpatterns = [
    path("", views.search, name="search"),
    path("new/", views.new_subscriber, name="new"),
    path("resources/<str:kind>/", views.resource_options, name="resources"),
    path("<id:subscriber_id>/", views.profile, name="detail"),
    path("<id:subscriber_id>/usage/", views.usage, name="usage"),
    path("<id:subscriber_id>/bills/", views.bills, name="bills"),
    path(
        "<id:subscriber_id>/bills/<id:bill_id>/invoice.pdf",
        views.invoice_download,
        name="invoice",
    ),
    path("<id:subscriber_id>/balance/", views.balance_card, name="balance"),
    path("<id:subscriber_id>/redeem/", views.redeem, name="redeem"),
    path("<id:subscriber_id>/billing/", views.execute_billing, name="execute_billing"),
    path("<id:subscriber_id>/terminate/", views.terminate, name="terminate"),
]
