"""Resource inventory use cases: what a CSR can pick when creating a subscriber."""

from __future__ import annotations

from microbss.engine.deps import Deps
from microbss.engine.domain.errors import InvalidArgument
from microbss.engine.domain.paging import Page, PageRequest
from microbss.engine.domain.resource import Resource, ResourceType
from microbss.engine.storage import resource_repository

_MAX_PREFIX = 20


def available_resources(
    deps: Deps, type: ResourceType | None, prefix: str, page: PageRequest
) -> Page[Resource]:
    """Assignable MSISDNs, IMSIs or handsets in value order, optionally by value prefix."""
    if type is None:
        raise InvalidArgument("resource type is required (MSISDN, IMSI or HANDSET)", field="type")
    prefix = prefix.strip().removeprefix("+") if type == ResourceType.MSISDN else prefix.strip()
    if prefix and (not prefix.isascii() or not prefix.isdigit() or len(prefix) > _MAX_PREFIX):
        raise InvalidArgument(f"must be up to {_MAX_PREFIX} digits 0-9", field="prefix")
    with deps.db.connect() as conn:
        return resource_repository.available_resources(conn, type, prefix, page, deps.clock())
