"""VAT rates (vat_config): the display surcharge shown next to the engine's net amounts.

Other apps use :func:`current_vat_rate` and :func:`vat_breakdown` from here.
"""

from microbss.crm.vat.rates import VatBreakdown, current_vat_rate, vat_breakdown

__all__ = ["VatBreakdown", "current_vat_rate", "vat_breakdown"]
