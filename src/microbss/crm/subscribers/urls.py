"""URLs of the subscriber workspace: search, onboarding, the subscriber page and its actions."""

from django.urls import path

from microbss.crm.subscribers import views

app_name = "subscribers"

urlpatterns = [
    path("", views.search, name="search"),
    path("new/", views.new_subscriber, name="new"),
    path("resources/<str:kind>/", views.resource_options, name="resources"),
    path("<int:subscriber_id>/", views.profile, name="detail"),
    path("<int:subscriber_id>/usage/", views.usage, name="usage"),
    path("<int:subscriber_id>/bills/", views.bills, name="bills"),
    path(
        "<int:subscriber_id>/bills/<int:bill_id>/invoice.pdf",
        views.invoice_download,
        name="invoice",
    ),
    path("<int:subscriber_id>/balance/", views.balance_card, name="balance"),
    path("<int:subscriber_id>/redeem/", views.redeem, name="redeem"),
    path("<int:subscriber_id>/billing/", views.execute_billing, name="execute_billing"),
    path("<int:subscriber_id>/terminate/", views.terminate, name="terminate"),
]
