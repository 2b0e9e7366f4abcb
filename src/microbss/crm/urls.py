"""Root URLs of the CRM: one prefix per app, and the error page handlers."""

from django.urls import include, path

urlpatterns = [
    path("", include("microbss.crm.core.urls")),
    path("accounts/", include("microbss.crm.accounts.urls")),
    path("subscribers/", include("microbss.crm.subscribers.urls")),
    path("admin/users/", include("microbss.crm.accounts.admin_urls")),
    path("admin/vat/", include("microbss.crm.vat.urls")),
    path("admin/audit/", include("microbss.crm.audit.urls")),
    path("admin/vouchers/", include("microbss.crm.vouchers.urls")),
    path("admin/catalog/", include("microbss.crm.catalog.urls")),
]

handler400 = "microbss.crm.core.views.bad_request"
handler403 = "microbss.crm.core.views.permission_denied"
handler404 = "microbss.crm.core.views.page_not_found"
handler500 = "microbss.crm.core.views.server_error"
