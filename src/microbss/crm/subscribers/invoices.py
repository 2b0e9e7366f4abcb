"""Invoice PDF download: the engine's GetInvoice stream relayed to the browser.

The bill id comes from the URL and is checked against the bills of the subscriber in the same URL
(another subscriber's bill is "not found", so ids cannot be walked); no file path is ever taken
from a request; the file name follows a fixed pattern built from the invoice number.
"""

from __future__ import annotations

import re

from django.http import Http404, StreamingHttpResponse

from microbss.crm import engine_client

_UNSAFE = re.compile(r"[^A-Za-z0-9-]")
MAX_NAME_LENGTH = 40


def invoice_file_name(invoice_number: str, bill_id: int) -> str:
    """ "INV-2026-000123.pdf": letters, digits and dashes only, whatever the engine sent."""
    stem = _UNSAFE.sub("", invoice_number)[:MAX_NAME_LENGTH]
    return f"{stem or f'invoice-{bill_id}'}.pdf"


def invoice_response(actor: str, subscriber_id: int, bill_id: int) -> StreamingHttpResponse:
    bills = engine_client.get_subscriber_bills(actor, subscriber_id)
    bill = next((b for b in bills if b.id == bill_id), None)
    if bill is None:
        raise Http404("no such bill for this subscriber")
    stream = engine_client.iter_invoice(actor, bill_id)
    response = StreamingHttpResponse(stream, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="{invoice_file_name(bill.invoice_number, bill_id)}"'
    )
    response["X-Content-Type-Options"] = "nosniff"
    # An invoice carries personal data: no shared cache may keep it.
    response["Cache-Control"] = "private, no-store"
    return response
