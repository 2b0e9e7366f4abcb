"""The reference dictionary (GetRefData): the catalog plus the operator's name, zone, currency."""

from __future__ import annotations

from dataclasses import dataclass

from microbss.engine.deps import Deps
from microbss.engine.domain.catalog import Catalog
from microbss.engine.storage.catalog_repository import load_catalog


@dataclass(frozen=True, slots=True)
class RefData:
    catalog: Catalog
    operator_name: str
    time_zone: str
    currency: str


def get_ref_data(deps: Deps) -> RefData:
    with deps.db.connect() as conn:
        catalog = load_catalog(conn)
    settings = deps.settings
    return RefData(
        catalog=catalog,
        operator_name=settings.operator_name,
        time_zone=settings.time_zone,
        currency=settings.currency,
    )
