"""Billing over the API against a real server: ExecuteBilling (once even when called twice at
once), GetInvoice streaming a real PDF, GetSubscriberBills, and the TerminateSubscriber flow."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from sqlalchemy import func, select, update

from microbss.engine.deps import Deps
from microbss.engine.domain.money import format_amount
from microbss.engine.domain.periods import utcnow
from microbss.engine.storage.tables import bills, resources
from microbss.v1 import engine_pb2, types_pb2
from tests.integration.billing_data import add_cdrs
from tests.integration.conftest import (
    Client,
    Inventory,
    add_vouchers,
    database_snapshot,
    postpaid_request,
    prepaid_request,
    rpc_error,
)


def _create(client: Client, request: engine_pb2.CreateSubscriberRequest) -> types_pb2.Subscriber:
    return client.stub.CreateSubscriber(request, metadata=client.md())


@pytest.fixture
def postpaid(client: Client, inventory: Inventory, deps: Deps) -> types_pb2.Subscriber:
    """A postpaid line with three calls since activation (9 cents each)."""
    subscriber = _create(client, postpaid_request(inventory, 0))
    add_cdrs(
        deps,
        subscriber.id,
        3,
        utcnow() - timedelta(minutes=30),
        charge=9,
        step=timedelta(minutes=5),
    )
    return subscriber


def _bill_count(deps: Deps) -> int:
    with deps.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(bills)).scalar_one())


def _download(client: Client, bill_id: int) -> tuple[list[engine_pb2.InvoiceChunk], bytes]:
    chunks = list(
        client.stub.GetInvoice(engine_pb2.GetInvoiceRequest(bill_id=bill_id), metadata=client.md())
    )
    return chunks, b"".join(chunk.data for chunk in chunks)


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_execute_billing_bills_the_unbilled_usage_and_answers_with_the_new_bill(
    client: Client, postpaid: types_pb2.Subscriber
) -> None:
    answer = client.stub.ExecuteBilling(
        engine_pb2.ExecuteBillingRequest(subscriber_id=postpaid.id), metadata=client.md()
    )

    assert answer.ack == types_pb2.ACK_OK
    assert answer.invoice_number.startswith("INV-")
    (bill,) = client.stub.GetSubscriberBills(
        engine_pb2.GetSubscriberBillsRequest(subscriber_id=postpaid.id), metadata=client.md()
    )
    assert (bill.id, bill.kind, bill.status) == (
        answer.bill_id,
        types_pb2.ON_DEMAND,
        types_pb2.ISSUED,
    )
    usage = [line for line in bill.lines if line.kind == "USAGE"]
    assert [(line.service, line.amount.amount_minor) for line in usage] == [("VOICE", 27)]
    assert bill.net_total == answer.net_total
    assert sum(line.amount.amount_minor for line in bill.lines) == answer.net_total.amount_minor
    after = client.stub.GetSubscriber(
        engine_pb2.GetSubscriberRequest(subscriber_id=postpaid.id), metadata=client.md()
    )
    assert after.unbilled.amount_minor == 0


def test_execute_billing_twice_at_once_makes_one_bill(
    client: Client, postpaid: types_pb2.Subscriber, deps: Deps
) -> None:
    def bill_now() -> tuple[str, int]:
        try:
            answer = client.stub.ExecuteBilling(
                engine_pb2.ExecuteBillingRequest(subscriber_id=postpaid.id), metadata=client.md()
            )
            return "OK", answer.bill_id
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
            return "REFUSED", 0

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: bill_now(), range(4)))

    assert _bill_count(deps) == 1
    assert len({bill_id for outcome, bill_id in results if outcome == "OK"}) == 1


def test_get_invoice_streams_a_pdf_whose_text_shows_the_number_and_total(
    client: Client, postpaid: types_pb2.Subscriber, tmp_path: Path
) -> None:
    answer = client.stub.ExecuteBilling(
        engine_pb2.ExecuteBillingRequest(subscriber_id=postpaid.id), metadata=client.md()
    )

    chunks, pdf = _download(client, answer.bill_id)

    assert chunks[0].file_name == f"{answer.invoice_number}.pdf"
    assert chunks[0].content_type == "application/pdf"
    assert chunks[0].total_size == len(pdf)
    assert all(len(chunk.data) <= 64 * 1024 for chunk in chunks)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    text = _pdf_text(pdf, tmp_path)
    assert answer.invoice_number in text
    assert format_amount(answer.net_total.amount_minor, "EUR") in text
    assert "Ana García" in text


def test_nothing_to_bill_is_a_clear_refusal_not_an_empty_invoice(
    client: Client, postpaid: types_pb2.Subscriber, deps: Deps
) -> None:
    client.stub.ExecuteBilling(
        engine_pb2.ExecuteBillingRequest(subscriber_id=postpaid.id), metadata=client.md()
    )
    before = database_snapshot(deps)

    err = rpc_error(
        lambda: client.stub.ExecuteBilling(
            engine_pb2.ExecuteBillingRequest(subscriber_id=postpaid.id), metadata=client.md()
        )
    )

    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "nothing to bill" in err.details()
    assert database_snapshot(deps) == before


def test_execute_billing_refuses_prepaid_and_unknown_subscribers(
    client: Client, inventory: Inventory
) -> None:
    prepaid = _create(client, prepaid_request(inventory, 1))

    refused = rpc_error(
        lambda: client.stub.ExecuteBilling(
            engine_pb2.ExecuteBillingRequest(subscriber_id=prepaid.id), metadata=client.md()
        )
    )
    unknown = rpc_error(
        lambda: client.stub.ExecuteBilling(
            engine_pb2.ExecuteBillingRequest(subscriber_id=999), metadata=client.md()
        )
    )

    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "prepaid" in refused.details()
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


def test_get_invoice_of_an_unknown_bill_is_not_found(client: Client, inventory: Inventory) -> None:
    err = rpc_error(lambda: _download(client, 12345))
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_get_invoice_of_a_draft_bill_says_the_pdf_is_not_written_yet(
    client: Client, postpaid: types_pb2.Subscriber, deps: Deps
) -> None:
    answer = client.stub.ExecuteBilling(
        engine_pb2.ExecuteBillingRequest(subscriber_id=postpaid.id), metadata=client.md()
    )
    with deps.db.begin() as conn:
        conn.execute(
            update(bills).where(bills.c.id == answer.bill_id).values(status="DRAFT", pdf_path="")
        )

    err = rpc_error(lambda: _download(client, answer.bill_id))

    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not written yet" in err.details()


def test_get_invoice_never_reads_outside_the_invoice_folder(
    client: Client, postpaid: types_pb2.Subscriber, deps: Deps
) -> None:
    answer = client.stub.ExecuteBilling(
        engine_pb2.ExecuteBillingRequest(subscriber_id=postpaid.id), metadata=client.md()
    )
    with deps.db.begin() as conn:  # a tampered row
        conn.execute(
            update(bills)
            .where(bills.c.id == answer.bill_id)
            .values(pdf_path="invoices/../engine.sqlite3")
        )

    err = rpc_error(lambda: _download(client, answer.bill_id))

    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "outside the invoice folder" in err.details()


def test_terminating_a_postpaid_line_bills_it_releases_its_resources_and_keeps_its_history(
    client: Client,
    postpaid: types_pb2.Subscriber,
    inventory: Inventory,
    deps: Deps,
    tmp_path: Path,
) -> None:
    answer = client.stub.TerminateSubscriber(
        engine_pb2.TerminateSubscriberRequest(subscriber_id=postpaid.id, reason="moving abroad"),
        metadata=client.md(),
    )

    assert answer.subscriber.status == types_pb2.TERMINATED
    assert answer.subscriber.HasField("terminated_at")
    assert answer.final_bill.kind == types_pb2.FINAL
    assert answer.final_bill.status == types_pb2.ISSUED
    quarantine_ends = answer.msisdn_available_at.ToDatetime()
    assert quarantine_ends - answer.subscriber.terminated_at.ToDatetime() == timedelta(days=90)
    with deps.db.connect() as conn:
        held = {
            row.type: (row.status, row.available_at)
            for row in conn.execute(
                select(resources).where(
                    resources.c.value.in_(
                        [inventory.msisdns[0], inventory.imsis[0], inventory.imeis[0]]
                    )
                )
            )
        }
    assert held == {
        "MSISDN": ("QUARANTINE", quarantine_ends),
        "IMSI": ("FREE", None),
        "HANDSET": ("FREE", None),
    }
    free_imsis = client.stub.GetAvailableResources(
        engine_pb2.GetAvailableResourcesRequest(type=types_pb2.IMSI), metadata=client.md()
    )
    assert inventory.imsis[0] in [r.value for r in free_imsis.resources]

    # History stays readable: the profile, the bills and the final invoice.
    bills_after = list(
        client.stub.GetSubscriberBills(
            engine_pb2.GetSubscriberBillsRequest(subscriber_id=postpaid.id), metadata=client.md()
        )
    )
    assert [b.id for b in bills_after] == [answer.final_bill.id]
    _chunks, pdf = _download(client, answer.final_bill.id)
    assert "Final invoice" in _pdf_text(pdf, tmp_path)


def test_a_terminated_line_cannot_redeem_be_billed_or_be_terminated_again(
    client: Client, postpaid: types_pb2.Subscriber, deps: Deps
) -> None:
    client.stub.TerminateSubscriber(
        engine_pb2.TerminateSubscriberRequest(subscriber_id=postpaid.id, reason="fraud"),
        metadata=client.md(),
    )
    pin = "AAAABBBBCCCCDDDD"
    add_vouchers(deps, "B1", [pin])

    again = rpc_error(
        lambda: client.stub.TerminateSubscriber(
            engine_pb2.TerminateSubscriberRequest(subscriber_id=postpaid.id, reason="again"),
            metadata=client.md(),
        )
    )
    billed = rpc_error(
        lambda: client.stub.ExecuteBilling(
            engine_pb2.ExecuteBillingRequest(subscriber_id=postpaid.id), metadata=client.md()
        )
    )
    redeem = rpc_error(
        lambda: client.stub.RedeemVoucher(
            engine_pb2.RedeemVoucherRequest(subscriber_id=postpaid.id, pin=pin),
            metadata=client.md(),
        )
    )

    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already terminated" in again.details()
    assert billed.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert redeem.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_terminating_without_a_reason_is_refused_and_changes_nothing(
    client: Client, postpaid: types_pb2.Subscriber, deps: Deps
) -> None:
    before = database_snapshot(deps)

    err = rpc_error(
        lambda: client.stub.TerminateSubscriber(
            engine_pb2.TerminateSubscriberRequest(subscriber_id=postpaid.id, reason="  "),
            metadata=client.md(),
        )
    )

    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "reason" in err.details()
    assert database_snapshot(deps) == before


def test_terminating_a_prepaid_line_makes_no_bill(
    client: Client, inventory: Inventory, deps: Deps
) -> None:
    prepaid = _create(client, prepaid_request(inventory, 1))

    answer = client.stub.TerminateSubscriber(
        engine_pb2.TerminateSubscriberRequest(subscriber_id=prepaid.id, reason="unused"),
        metadata=client.md(),
    )

    assert answer.subscriber.status == types_pb2.TERMINATED
    assert not answer.HasField("final_bill")
    assert _bill_count(deps) == 0


def test_a_second_on_demand_bill_carries_only_what_came_after_the_first(
    client: Client, postpaid: types_pb2.Subscriber, deps: Deps
) -> None:
    first = client.stub.ExecuteBilling(
        engine_pb2.ExecuteBillingRequest(subscriber_id=postpaid.id), metadata=client.md()
    )
    add_cdrs(
        deps, postpaid.id, 2, utcnow() - timedelta(minutes=1), charge=40, step=timedelta(seconds=10)
    )

    second = client.stub.ExecuteBilling(
        engine_pb2.ExecuteBillingRequest(subscriber_id=postpaid.id), metadata=client.md()
    )

    assert second.bill_id != first.bill_id
    assert second.net_total.amount_minor == 80  # the new calls; today's fee is on the first
