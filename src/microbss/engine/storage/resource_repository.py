"""Network resource inventory queries: what can be assigned, and assigning it race-free.

A resource is assignable when it is FREE, or in QUARANTINE (a released MSISDN) whose
``available_at`` has passed. Assignment is one conditional UPDATE: two subscribers racing for
the same MSISDN cannot both see rowcount 1.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, update

from microbss.engine.domain.errors import AlreadyExists, FailedPrecondition, NotFound
from microbss.engine.domain.paging import Page, PageRequest, make_page
from microbss.engine.domain.resource import Resource, ResourceType
from microbss.engine.storage.tables import resources


def _assignable(now: datetime) -> ColumnElement[bool]:
    return or_(
        resources.c.status == "FREE",
        and_(resources.c.status == "QUARANTINE", resources.c.available_at <= now),
    )


def available_resources(
    conn: Connection, type_: ResourceType, prefix: str, page: PageRequest, now: datetime
) -> Page[Resource]:
    """Assignable resources of one type in value order, optionally starting with ``prefix``."""
    where = [resources.c.type == type_.value, _assignable(now)]
    if prefix:
        where.append(resources.c.value.startswith(prefix, autoescape=True))
    total = conn.execute(select(func.count()).select_from(resources).where(*where)).scalar_one()
    query = select(resources.c.value, resources.c.model).where(*where)
    if page.after is not None:
        query = query.where(resources.c.value > str(page.after))
    rows = conn.execute(query.order_by(resources.c.value).limit(page.size + 1)).all()
    items = [Resource(type=type_, value=row.value, model=row.model) for row in rows]
    return make_page(items, page, total, key=lambda r: r.value)


def assign_resource(conn: Connection, type_: ResourceType, value: str, now: datetime) -> Resource:
    """Mark the resource ASSIGNED (subscriber id set later by :func:`link_resource`).

    Raises NotFound when it is not in the inventory, AlreadyExists when someone holds it and
    FailedPrecondition while it is still in quarantine.
    """
    claimed = conn.execute(
        update(resources)
        .where(resources.c.type == type_.value, resources.c.value == value, _assignable(now))
        .values(status="ASSIGNED", available_at=None)
        .returning(resources.c.model)
    ).first()
    if claimed is not None:
        return Resource(type=type_, value=value, model=claimed.model)
    current = conn.execute(
        select(resources.c.status, resources.c.available_at).where(
            resources.c.type == type_.value, resources.c.value == value
        )
    ).first()
    field = type_.request_field
    if current is None:
        raise NotFound(f"{type_.value} {value} is not in the inventory", field=field)
    if current.status == "QUARANTINE":
        raise FailedPrecondition(
            f"{type_.value} {value} is in quarantine until {current.available_at:%Y-%m-%d}",
            field=field,
        )
    raise AlreadyExists(f"{type_.value} {value} is already assigned", field=field)


def link_resource(conn: Connection, type_: ResourceType, value: str, subscriber_id: int) -> None:
    conn.execute(
        update(resources)
        .where(resources.c.type == type_.value, resources.c.value == value)
        .values(subscriber_id=subscriber_id)
    )
