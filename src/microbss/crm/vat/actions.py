"""Adding a VAT rate: the only write to vat_config (history rows are never changed)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.http import HttpRequest

from microbss.crm.accounts.models import CsrUser
from microbss.crm.audit.actions import record
from microbss.crm.vat.models import VatConfig


def add_vat_rate(
    request: HttpRequest, admin: CsrUser, rate: Decimal, effective_from: date
) -> VatConfig:
    with transaction.atomic():
        row = VatConfig.objects.create(rate=rate, effective_from=effective_from, created_by=admin)
        record(
            admin,
            "vat.add",
            target=f"vat:{row.pk}",
            details={"rate_percent": str(rate), "effective_from": effective_from.isoformat()},
            request=request,
        )
    return row
