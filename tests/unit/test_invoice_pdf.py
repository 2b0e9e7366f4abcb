"""The invoice PDF: what a customer reads on it, more pages for long bills, deterministic bytes,
atomic writes and a path that cannot leave the invoice folder."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from microbss.engine.domain.billing import (
    Bill,
    BillingAccount,
    BillKind,
    BillLine,
    BillStatus,
    LineKind,
)
from microbss.engine.jobs.invoice_pdf import (
    TEMP_FILE_STALE_AFTER_S,
    InvoiceDocument,
    Operator,
    pack_invoices,
    remove_stale_temp_files,
    render_invoice,
    resolve_invoice_path,
    save_invoices,
    unpack_invoices,
    write_atomically,
    write_invoice_file,
    write_packed_invoices,
)

MADRID = ZoneInfo("Europe/Madrid")
OPERATOR = Operator("microbss Mobile", "Calle Mayor 1, 28013 Madrid, ES", "ESB12345678", MADRID)
ACCOUNT = BillingAccount(
    42,
    "María",
    "Núñez",
    "Calle de Alcalá 120",
    "Madrid",
    "28009",
    "ES",
    "34612345678",
    "POSTPAID",
    "ACTIVE",
    201,
    1,
    datetime(2026, 1, 10),
    None,
    datetime(2026, 2, 28, 23),
)


def document(lines: list[BillLine]) -> InvoiceDocument:
    bill = Bill(
        id=7,
        invoice_number="INV-2026-000123",
        subscriber_id=42,
        kind=BillKind.MONTHLY,
        status=BillStatus.DRAFT,
        period_start=datetime(2026, 2, 28, 23),
        period_end=datetime(2026, 3, 31, 22),
        issued_at=datetime(2026, 3, 31, 22, 5),
        currency="EUR",
        net_total=sum(line.amount for line in lines),
        lines=tuple(lines),
    )
    return InvoiceDocument(OPERATOR, bill, ACCOUNT, "Smart 20")


LINES = [
    BillLine(LineKind.FEE, "Monthly fee, Smart 20", "", 31, "DAY", 2000),
    BillLine(LineKind.USAGE, "Voice calls, 57 calls", "VOICE", 3725, "SECOND", 735),
    BillLine(LineKind.ALLOWANCE, "Voice calls included in your plan", "VOICE", 6000, "SECOND", 0),
    BillLine(LineKind.USAGE, "Mobile data, 9 sessions", "DATA", 1_572_864, "BYTE", 1250),
]


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_the_invoice_shows_operator_customer_number_period_lines_and_total(
    tmp_path: Path,
) -> None:
    text = pdf_text(render_invoice(document(LINES)), tmp_path)

    for expected in [
        "microbss Mobile",
        "VAT ID: ESB12345678",
        "María Núñez",
        "Calle de Alcalá 120",
        "28009 Madrid",
        "+34612345678",
        "INV-2026-000123",
        "Invoice date: 01 Apr 2026",
        "Period: 01 Mar 2026 - 31 Mar 2026",
        "62:05 min",
        "1.50 MB",
        "31 days",
        "7.35 EUR",
        "Net total",
        "39.85 EUR",
        "net of VAT",
    ]:
        assert expected in text, expected


def test_a_long_bill_continues_on_more_pages_and_ends_with_its_total(tmp_path: Path) -> None:
    lines = [BillLine(LineKind.USAGE, f"Item {n}", "SMS", 1, "MESSAGE", 10) for n in range(90)]

    text = pdf_text(render_invoice(document(lines)), tmp_path)

    assert "page 2" in text
    assert "(continued)" in text
    assert "Item 89" in text
    assert "9.00 EUR" in text


def test_the_same_bill_always_renders_the_same_bytes() -> None:
    assert render_invoice(document(LINES)) == render_invoice(document(LINES))


def test_saving_writes_the_pdf_under_year_month_subscriber_and_leaves_no_temp_file(
    tmp_path: Path,
) -> None:
    ((relative, sha),) = save_invoices(tmp_path, [document(LINES)])

    assert relative == "invoices/2026/04/42/INV-2026-000123.pdf"
    assert (tmp_path / relative).read_bytes().startswith(b"%PDF-")
    assert len(sha) == 64
    assert list(tmp_path.rglob("*.tmp")) == []


def test_invoices_packed_for_a_render_process_come_back_equal_and_write_the_same_pdf(
    tmp_path: Path,
) -> None:
    documents = [document(LINES), document(LINES[:1])]
    packed = pickle.loads(pickle.dumps(pack_invoices(documents)))

    assert unpack_invoices(packed) == documents
    ((bill_id, relative, sha),) = write_packed_invoices(tmp_path, pack_invoices(documents[:1]))
    assert (bill_id, [relative, sha]) == (7, list(save_invoices(tmp_path / "b", documents[:1])[0]))


def test_a_half_written_invoice_a_killed_writer_left_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "invoices" / "2026" / "04" / "42" / "INV-2026-000123.pdf"
    write_invoice_file(target, b"%PDF-ha")  # the first writer died after these bytes

    write_invoice_file(target, b"%PDF-whole")

    assert target.read_bytes() == b"%PDF-whole"
    assert list(tmp_path.rglob("*.tmp")) == []


def test_writing_removes_a_dead_writers_temp_file_but_not_a_live_ones(tmp_path: Path) -> None:
    target = tmp_path / "invoices" / "2026" / "04" / "42" / "INV-2026-000123.pdf"
    target.parent.mkdir(parents=True)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
    host = socket.gethostname().replace("~", "-")
    dead = target.parent / f".{target.name}.{host}~{finished.stdout.strip()}.k1ll3d00.tmp"
    live = target.parent / f".{target.name}.{host}~{os.getpid()}.w0rk1ng0.tmp"
    for temp in (dead, live):
        temp.write_bytes(b"%PDF-half")

    write_atomically(target, b"%PDF-whole")

    assert target.read_bytes() == b"%PDF-whole"
    assert not dead.exists() and live.exists()


def test_an_hour_old_temp_file_is_removed_even_if_its_writer_seems_alive(tmp_path: Path) -> None:
    # A reused process id, or another host that will never come back: only the age tells.
    target = tmp_path / "invoices" / "2026" / "04" / "42" / "INV-2026-000123.pdf"
    target.parent.mkdir(parents=True)
    host = socket.gethostname().replace("~", "-")
    old = target.parent / f".{target.name}.{host}~{os.getpid()}.0ld0ld00.tmp"
    elsewhere = target.parent / f".{target.name}.other-host~1.3l5ewh3r.tmp"
    fresh = target.parent / f".{target.name}.other-host~2.fr35h000.tmp"
    for temp in (old, elsewhere, fresh):
        temp.write_bytes(b"%PDF-half")
    hour_ago = time.time() - TEMP_FILE_STALE_AFTER_S - 60
    for temp in (old, elsewhere):
        os.utime(temp, (hour_ago, hour_ago))

    remove_stale_temp_files(target)

    assert not old.exists() and not elsewhere.exists()
    assert fresh.exists()  # another host's, written just now: that host may still rename it


@pytest.mark.parametrize(
    "stored", ["invoices/../engine.sqlite3", "/etc/passwd", "invoices/2026/04/42/x.txt"]
)
def test_a_stored_path_outside_the_invoice_folder_is_refused(tmp_path: Path, stored: str) -> None:
    with pytest.raises(ValueError, match="outside the invoice folder"):
        resolve_invoice_path(tmp_path, stored)
