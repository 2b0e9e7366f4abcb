"""URLs of voucher administration: the filtered list, the confirmation page and the state change."""

from django.urls import path

from microbss.crm.vouchers import views

app_name = "vouchers"

urlpatterns = [
    path("", views.voucher_list, name="list"),
    path("confirm/", views.confirm_state_change, name="confirm"),
    path("update/", views.update_state, name="update"),
]
