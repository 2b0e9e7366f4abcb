"""Invoice PDFs: render a bill as a customer-readable A4 invoice and write it under the data
directory at ``invoices/{year}/{month}/{subscriber_id}/{invoice_number}.pdf`` (year and month of
the bill's period end, in the operator's time zone), complete before its bill is issued.

Rendering uses ReportLab's canvas API directly (about twice as fast as Platypus) and is
deterministic (``invariant``): the same bill always gives the same bytes, so two processes
finishing the same DRAFT bill write identical files and the recorded checksum holds whichever
wins. Pages continue when a bill has more lines than fit on one.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import os
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from microbss.engine.config import Settings
from microbss.engine.domain.billing import (
    Bill,
    BillingAccount,
    BillKind,
    BillLine,
    covered_days,
    format_quantity,
)
from microbss.engine.domain.money import format_amount
from microbss.engine.domain.periods import to_local

INVOICE_FOLDER = "invoices"
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 50.0
LINE_HEIGHT = 16.0
BOTTOM_LIMIT = 110.0  # room kept for the total and the VAT note on the last page
QUANTITY_RIGHT = PAGE_WIDTH - MARGIN - 120
AMOUNT_RIGHT = PAGE_WIDTH - MARGIN
DESCRIPTION_CHARS = 60
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
_HOST = socket.gethostname().replace("~", "-")
# A temp invoice file this old is a leftover whoever wrote it (see remove_stale_temp_files).
TEMP_FILE_STALE_AFTER_S = 3600
_KIND_TITLES = {
    BillKind.MONTHLY: "Invoice",
    BillKind.ON_DEMAND: "Invoice (on request)",
    BillKind.FINAL: "Final invoice",
}
LATE_USAGE_TITLE = "Final invoice, late usage"
LATE_USAGE_NOTE = (
    "Calls and data from before your line ended that reached us after your final invoice."
)


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    address: str
    vat_id: str
    tz: ZoneInfo

    @classmethod
    def from_settings(cls, settings: Settings) -> Operator:
        return cls(
            settings.operator_name, settings.operator_address, settings.operator_vat_id, settings.tz
        )


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    """Everything printed on one invoice."""

    operator: Operator
    bill: Bill
    account: BillingAccount
    plan_name: str


# --- Paths -----------------------------------------------------------------------------------


def invoice_relative_path(bill: Bill, tz: ZoneInfo) -> str:
    """Where a bill's PDF lives, relative to the data directory (POSIX separators)."""
    period_end = to_local(bill.period_end, tz)
    # Formatted directly: a PurePosixPath per invoice cost more than writing the file's bytes.
    return (
        f"{INVOICE_FOLDER}/{period_end.year:04d}/{period_end.month:02d}/"
        f"{bill.subscriber_id}/{bill.invoice_number}.pdf"
    )


def resolve_invoice_path(data_dir: Path, relative_path: str) -> Path:
    """The absolute path of a stored invoice, refusing anything that leaves the invoice folder
    (a tampered row must not turn GetInvoice into a file reader)."""
    folder = (data_dir / INVOICE_FOLDER).resolve()
    path = (data_dir / relative_path).resolve()
    if not path.is_relative_to(folder) or path.suffix != ".pdf":
        raise ValueError(f"invoice path {relative_path!r} is outside the invoice folder")
    return path


def write_invoice_file(path: Path, data: bytes) -> None:
    """Write a bill's PDF to ``path``, complete before the caller flushes it and marks the bill
    ISSUED (GetInvoice serves ISSUED bills only).

    A new file is written in place: creating a temp file and renaming it doubles the file-system
    cost per invoice here (rename is the dearest step). A file that already exists is replaced
    atomically instead (:func:`write_atomically`): it is one a killed writer left half-written
    for a bill still DRAFT, or one another run finishing the same DRAFT bill is writing, and a
    reader must never see it half-written once either run has issued the bill.
    """
    folder = path.parent
    try:
        folder.mkdir()
    except FileExistsError:
        pass
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        write_atomically(path, data)
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``: a reader (or a killed process) sees no file or all of it.

    Not flushed to disk here: the caller flushes a whole batch at once (:func:`flush_to_disk`),
    since one flush per file costs more than rendering the invoice. Temp files a killed writer
    left beside ``path`` are removed first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path)
    fd, temp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{_writer()}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def flush_to_disk(folder: Path) -> None:
    """Put everything written under ``folder`` on stable storage: one syncfs(2) of its file
    system on Linux, else a global sync."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _LIBC is not None and _LIBC.syncfs(fd) == 0:
            return
        os.sync()
    finally:
        os.close(fd)


def _writer() -> str:
    """Who writes a temp file: host and process, so that only a dead writer's are removed."""
    return f"{_HOST}~{os.getpid()}"


def _writer_is_gone(writer: str) -> bool:
    host, tilde, pid = writer.rpartition("~")
    if not tilde or not pid.isdigit():
        return True  # no writer in the name: left by an older version, nobody will rename it
    if host != _HOST:
        return False  # another host's writer: not this host's to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, under another user
    return False


def remove_stale_temp_files(path: Path, now: float | None = None) -> None:
    """Delete temp files a killed writer left beside ``path``. A live writer's are left alone:
    two runs at once may both be finishing the same DRAFT bill, and each must find its own temp
    file to rename. Temp files of writers on other hosts are left for those hosts, unless they
    are older than :data:`TEMP_FILE_STALE_AFTER_S`: a writer renames its file milliseconds
    after creating it, so an old one is a leftover even when its process id has since been
    reused or its host is gone."""
    if not path.parent.is_dir():
        return
    oldest_live = (time.time() if now is None else now) - TEMP_FILE_STALE_AFTER_S
    prefix = f".{path.name}."
    for temp in path.parent.glob(f"{prefix}*.tmp"):
        writer = temp.name[len(prefix) : -len(".tmp")].rpartition(".")[0]
        if _writer_is_gone(writer) or _modified_before(temp, oldest_live):
            temp.unlink(missing_ok=True)


def _modified_before(path: Path, instant: float) -> bool:
    try:
        return path.stat().st_mtime < instant
    except FileNotFoundError:  # its writer renamed it meanwhile
        return False


def write_invoices(data_dir: Path, documents: Sequence[InvoiceDocument]) -> list[tuple[str, str]]:
    """Render and atomically write each bill's PDF, not yet flushed to disk; returns (path
    relative to data_dir, sha256 hex) per document, in order."""
    saved = []
    for document in documents:
        relative = invoice_relative_path(document.bill, document.operator.tz)
        pdf = render_invoice(document)
        write_invoice_file(data_dir / relative, pdf)
        saved.append((relative, hashlib.sha256(pdf).hexdigest()))
    return saved


def write_bill_invoices(
    data_dir: Path, documents: Sequence[InvoiceDocument]
) -> list[tuple[int, str, str]]:
    """:func:`write_invoices` as (bill id, path, sha256) per document."""
    saved = write_invoices(data_dir, documents)
    return [(doc.bill.id, path, sha) for doc, (path, sha) in zip(documents, saved, strict=True)]


# What a render process receives: the operator once, then per invoice the bill's fields, its
# lines and the account's fields as plain tuples. Pickling the dataclasses themselves cost the
# bill run's processes about twice as much (a few percent of rendering the invoices).
PackedInvoice = tuple[tuple[Any, ...], tuple[Any, ...], str]
PackedInvoices = tuple[Operator | None, list[PackedInvoice]]
# Positional, in each dataclass's field order (its __init__'s), the bill's lines packed in place.
_BILL_FIELDS = tuple(f.name for f in fields(Bill))
_LINES_AT = _BILL_FIELDS.index("lines")
_LINE_FIELDS = tuple(f.name for f in fields(BillLine))
_ACCOUNT_FIELDS = tuple(f.name for f in fields(BillingAccount))


def pack_invoices(documents: Sequence[InvoiceDocument]) -> PackedInvoices:
    """``documents`` (all of one operator) as cheap-to-pickle tuples (:func:`unpack_invoices`)."""
    operator = documents[0].operator if documents else None
    packed: list[PackedInvoice] = []
    for doc in documents:
        if doc.operator != operator:
            raise ValueError("invoices of several operators cannot be packed together")
        bill_values = [getattr(doc.bill, name) for name in _BILL_FIELDS]
        bill_values[_LINES_AT] = tuple(
            tuple(getattr(line, name) for name in _LINE_FIELDS) for line in doc.bill.lines
        )
        account_values = tuple(getattr(doc.account, name) for name in _ACCOUNT_FIELDS)
        packed.append((tuple(bill_values), account_values, doc.plan_name))
    return operator, packed


def unpack_invoices(packed: PackedInvoices) -> list[InvoiceDocument]:
    operator, items = packed
    documents = []
    for bill_values, account_values, plan_name in items:
        assert operator is not None  # packed with at least one invoice
        values = list(bill_values)
        values[_LINES_AT] = tuple(BillLine(*line) for line in values[_LINES_AT])
        bill = Bill(*values)
        documents.append(
            InvoiceDocument(operator, bill, BillingAccount(*account_values), plan_name)
        )
    return documents


def write_packed_invoices(data_dir: Path, packed: PackedInvoices) -> list[tuple[int, str, str]]:
    """:func:`write_bill_invoices` of packed invoices. The bill run's render processes run this:
    living here, it spares each of them importing the database layers."""
    return write_bill_invoices(data_dir, unpack_invoices(packed))


def save_invoices(data_dir: Path, documents: Sequence[InvoiceDocument]) -> list[tuple[str, str]]:
    """:func:`write_invoices`, then flush them to disk together."""
    saved = write_invoices(data_dir, documents)
    if saved:
        flush_to_disk(data_dir / INVOICE_FOLDER)
    return saved


# --- Rendering -------------------------------------------------------------------------------


def _date_text(day: datetime | object) -> str:
    return f"{day:%d %b %Y}"


def _quantity_text(line: BillLine) -> str:
    return format_quantity(line.quantity, line.unit) if line.unit else str(line.quantity)


def _shorten(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class _InvoiceCanvas:
    """One invoice being drawn: tracks the pen's height and starts new pages as needed."""

    def __init__(self, document: InvoiceDocument) -> None:
        self.doc = document
        self.buffer = io.BytesIO()
        self.canvas = Canvas(self.buffer, pagesize=A4, invariant=True, pageCompression=1)
        self.canvas.setTitle(f"{document.operator.name} invoice {document.bill.invoice_number}")
        self.canvas.setAuthor(document.operator.name)
        self.page = 1
        self.y = PAGE_HEIGHT - MARGIN

    def money(self, minor: int) -> str:
        return format_amount(minor, self.doc.bill.currency)

    def text(self, x: float, text: str, *, size: float = 10, bold: bool = False) -> None:
        self.canvas.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        self.canvas.drawString(x, self.y, text)

    def right(self, x: float, text: str, *, size: float = 10, bold: bool = False) -> None:
        self.canvas.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        self.canvas.drawRightString(x, self.y, text)

    def down(self, amount: float = LINE_HEIGHT) -> None:
        self.y -= amount

    def rule(self, width: float = 0.5) -> None:
        self.canvas.setLineWidth(width)
        self.canvas.line(MARGIN, self.y, PAGE_WIDTH - MARGIN, self.y)

    def draw(self) -> bytes:
        self.header()
        self.customer()
        self.table_header()
        for line in self.doc.bill.lines:
            if self.y < BOTTOM_LIMIT:
                self.new_page()
            self.item(line)
        self.totals()
        self.footer()
        self.canvas.save()
        return self.buffer.getvalue()

    def header(self) -> None:
        operator, bill = self.doc.operator, self.doc.bill
        self.text(MARGIN, operator.name, size=16, bold=True)
        self.right(AMOUNT_RIGHT, invoice_title(bill), size=16, bold=True)
        self.down(18)
        self.text(MARGIN, operator.address, size=9)
        self.right(AMOUNT_RIGHT, f"Invoice number: {bill.invoice_number}", bold=True)
        self.down(13)
        self.text(MARGIN, f"VAT ID: {operator.vat_id}", size=9)
        issued = to_local(bill.issued_at, operator.tz)
        self.right(AMOUNT_RIGHT, f"Invoice date: {_date_text(issued)}")
        self.down(13)
        first, last = covered_days(bill.period_start, bill.period_end, operator.tz)
        self.right(AMOUNT_RIGHT, f"Period: {_date_text(first)} - {_date_text(last)}")
        self.down(30)

    def customer(self) -> None:
        account = self.doc.account
        self.text(MARGIN, "Bill to", size=9, bold=True)
        self.right(AMOUNT_RIGHT, "Mobile number", size=9, bold=True)
        self.down(14)
        self.text(MARGIN, account.full_name, size=11)
        self.right(AMOUNT_RIGHT, f"+{account.msisdn}", size=11)
        self.down(14)
        self.text(MARGIN, account.street)
        self.right(AMOUNT_RIGHT, f"Customer number: {account.subscriber_id}", size=9)
        self.down(14)
        self.text(MARGIN, f"{account.postal_code} {account.city}")
        self.right(AMOUNT_RIGHT, f"Plan: {self.doc.plan_name}", size=9)
        self.down(14)
        self.text(MARGIN, account.country)
        self.down(34)

    def table_header(self) -> None:
        self.text(MARGIN, "Description", bold=True)
        self.right(QUANTITY_RIGHT, "Quantity", bold=True)
        self.right(AMOUNT_RIGHT, "Amount", bold=True)
        self.down(6)
        self.rule()
        self.down(LINE_HEIGHT)

    def item(self, line: BillLine) -> None:
        self.text(MARGIN, _shorten(line.description))
        self.right(QUANTITY_RIGHT, _quantity_text(line))
        self.right(AMOUNT_RIGHT, self.money(line.amount))
        self.down()

    def totals(self) -> None:
        self.down(-LINE_HEIGHT + 6)
        self.rule(1)
        self.down(18)
        self.text(MARGIN, "Net total", size=12, bold=True)
        self.right(AMOUNT_RIGHT, self.money(self.doc.bill.net_total), size=12, bold=True)
        self.down(24)
        self.text(MARGIN, "All amounts are net of VAT.", size=8)
        self.down(11)
        if is_late_usage_bill(self.doc.bill):
            self.text(MARGIN, LATE_USAGE_NOTE, size=8)
            self.down(11)
        self.text(
            MARGIN,
            "Usage is listed per service in billable units; quantities included in "
            "your plan cost nothing.",
            size=8,
        )

    def footer(self) -> None:
        self.canvas.setFont("Helvetica", 8)
        self.canvas.drawCentredString(
            PAGE_WIDTH / 2,
            30,
            f"{self.doc.operator.name} - {self.doc.bill.invoice_number} - page {self.page}",
        )

    def new_page(self) -> None:
        self.footer()
        self.canvas.showPage()
        self.page += 1
        self.y = PAGE_HEIGHT - MARGIN
        self.text(MARGIN, f"{self.doc.operator.name}", size=12, bold=True)
        self.right(AMOUNT_RIGHT, f"Invoice {self.doc.bill.invoice_number} (continued)", size=10)
        self.down(30)
        self.table_header()


def is_late_usage_bill(bill: Bill) -> bool:
    """A supplementary bill carries usage that arrived after the line's final bill."""
    return bill.supplement > 0


def invoice_title(bill: Bill) -> str:
    return LATE_USAGE_TITLE if is_late_usage_bill(bill) else _KIND_TITLES[bill.kind]


def render_invoice(document: InvoiceDocument) -> bytes:
    """The invoice as PDF bytes."""
    return _InvoiceCanvas(document).draw()
