"""Resource inventory import: MSISDNs, IMSIs and handsets from CSV files
(`microbss engine resources import --type msisdn|imsi|handset FILE`).

One value per line (handsets: ``IMEI[,model]``); a header line is optional and recognised by its
first column's name. Each line is validated (MSISDN 8-15 digits, IMSI 15 digits, IMEI 15 digits
with a valid Luhn check digit); bad lines are reported with their line number and skipped, values
seen earlier in the file or already in the inventory are reported as duplicates and not doubled.
The good lines go in with one transaction and one audit row: all of them or, if the database
refuses, none.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from microbss.engine.deps import Deps
from microbss.engine.domain.errors import AlreadyExists, InvalidArgument
from microbss.engine.domain.identifiers import parse_imei, parse_imsi, parse_msisdn
from microbss.engine.domain.resource import Resource, ResourceType
from microbss.engine.services.audit import record_audit
from microbss.engine.storage.tables import resources
from microbss.engine.storage.uow import UnitOfWork

MAX_MODEL_LENGTH = 100
MAX_LISTED_LINES = 100  # a summary on a terminal, not a dump: the report object has all
_LOOKUP_CHUNK = 500  # values per IN (...) query: well under every database's parameter limit
_HEADER_NAMES = {"msisdn", "imsi", "imei", "handset", "handset_imei", "value", "number"}
_PARSERS: dict[ResourceType, Callable[[str, str], str]] = {
    ResourceType.MSISDN: parse_msisdn,
    ResourceType.IMSI: parse_imsi,
    ResourceType.HANDSET: parse_imei,
}


@dataclass
class ResourceImportReport:
    """What an import did. ``duplicates`` and ``rejected`` hold (line number, reason)."""

    type: ResourceType
    source: str
    read: int = 0
    imported: int = 0
    duplicates: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"{self.type.value} import from {self.source}: {self.read} read, "
            f"{self.imported} imported, {len(self.duplicates)} duplicates, "
            f"{len(self.rejected)} rejected"
        ]
        details = [(n, f"rejected: {reason}") for n, reason in self.rejected]
        details += [(n, f"duplicate: {reason}") for n, reason in self.duplicates]
        details.sort()
        lines += [f"  line {n}: {text}" for n, text in details[:MAX_LISTED_LINES]]
        if len(details) > MAX_LISTED_LINES:
            lines.append(f"  ... and {len(details) - MAX_LISTED_LINES} more lines")
        return "\n".join(lines)


def parse_resource_lines(
    text: str, type_: ResourceType, report: ResourceImportReport
) -> list[tuple[int, Resource]]:
    """The valid, first-seen resources of ``text`` with their line numbers; every other data line
    goes to ``report`` as rejected or duplicate."""
    first_seen: dict[str, int] = {}
    found: list[tuple[int, Resource]] = []
    for line_no, row in _data_rows(text):
        report.read += 1
        try:
            resource = _parse_row(row, type_)
        except InvalidArgument as exc:
            report.rejected.append((line_no, exc.message))
            continue
        if resource.value in first_seen:
            report.duplicates.append(
                (line_no, f"{resource.value} is also on line {first_seen[resource.value]}")
            )
            continue
        first_seen[resource.value] = line_no
        found.append((line_no, resource))
    return found


def _data_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank, non-comment line, the header line skipped."""
    first = True
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        row = next(csv.reader([line]), [])
        if first and row and row[0].strip().lower() in _HEADER_NAMES:
            first = False
            continue
        first = False
        yield line_no, row


def _parse_row(row: list[str], type_: ResourceType) -> Resource:
    value_field = type_.value.lower()
    max_columns = 2 if type_ is ResourceType.HANDSET else 1
    if len(row) > max_columns:
        expected = "IMEI[,model]" if type_ is ResourceType.HANDSET else f"one {type_.value}"
        raise InvalidArgument(f"expected {expected}, got {len(row)} columns")
    value = _PARSERS[type_](row[0], value_field)
    model = row[1].strip() if len(row) > 1 else ""
    if len(model) > MAX_MODEL_LENGTH:
        raise InvalidArgument(f"model name is longer than {MAX_MODEL_LENGTH} characters")
    if model and not model.isprintable():
        raise InvalidArgument("model name contains control characters")
    return Resource(type=type_, value=value, model=model)


def existing_values(conn: Connection, type_: ResourceType, values: list[str]) -> set[str]:
    """Which of ``values`` are already in the inventory (any status)."""
    found: set[str] = set()
    for start in range(0, len(values), _LOOKUP_CHUNK):
        chunk = values[start : start + _LOOKUP_CHUNK]
        found.update(
            conn.execute(
                select(resources.c.value).where(
                    resources.c.type == type_.value, resources.c.value.in_(chunk)
                )
            ).scalars()
        )
    return found


def insert_resources(conn: Connection, items: list[Resource], now: datetime) -> None:
    """Add FREE resources (the caller checked they are new)."""
    if items:
        conn.execute(
            insert(resources),
            [
                {
                    "type": r.type.value,
                    "value": r.value,
                    "model": r.model,
                    "status": "FREE",
                    "created_at": now,
                }
                for r in items
            ],
        )


def import_resources_text(
    deps: Deps, type_: ResourceType, text: str, source: str, actor: str
) -> ResourceImportReport:
    """Import resources from CSV text (see the module docstring)."""
    report = ResourceImportReport(type=type_, source=source)
    candidates = parse_resource_lines(text, type_, report)
    try:
        with UnitOfWork(deps.db, write=True) as uow:
            known = existing_values(uow.conn, type_, [r.value for _, r in candidates])
            new = []
            for line_no, resource in candidates:
                if resource.value in known:
                    report.duplicates.append(
                        (line_no, f"{resource.value} is already in the inventory")
                    )
                else:
                    new.append(resource)
            insert_resources(uow.conn, new, deps.clock())
            report.imported = len(new)
            record_audit(
                uow.conn,
                actor=actor,
                action="resources.import",
                target=f"resources:{type_.value}",
                details={
                    "source": source,
                    "read": report.read,
                    "imported": report.imported,
                    "duplicates": len(report.duplicates),
                    "rejected": len(report.rejected),
                },
            )
            uow.commit()
    except IntegrityError as err:
        # Another import added some of the same values between our check and our insert.
        raise AlreadyExists(
            f"another import added some of these {type_.value}s at the same time; nothing was "
            "imported, run the import again",
        ) from err
    report.duplicates.sort()
    return report


def import_resources(
    deps: Deps, type_: ResourceType, path: Path, actor: str
) -> ResourceImportReport:
    """Import a CSV file of resources of one type; see :func:`import_resources_text`."""
    return import_resources_text(deps, type_, read_csv_text(path), path.name, actor)


def read_csv_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror}", field="file") from None
    try:
        # utf-8-sig: spreadsheets often start their CSV exports with a byte-order mark.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidArgument(f"{path} is not UTF-8 text", field="file") from None
