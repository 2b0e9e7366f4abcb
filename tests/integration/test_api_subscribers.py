"""CreateSubscriber, GetSubscriber and SearchSubscribers through the generated client."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, insert, select, update

from microbss.engine.deps import Deps
from microbss.engine.storage.tables import (
    allowance_balances,
    audit_events,
    balances,
    rated_cdrs,
    resources,
    subscribers,
)
from microbss.v1 import engine_pb2, types_pb2
from tests.integration.conftest import (
    PREPAID_INITIAL_CREDIT,
    Client,
    Inventory,
    add_resources,
    birthday_years_ago,
    database_snapshot,
    postpaid_request,
    prepaid_request,
    rpc_error,
)


def test_a_prepaid_subscriber_is_created_with_initial_credit_and_allowances(
    client: Client, inventory: Inventory, deps: Deps
) -> None:
    created = client.stub.CreateSubscriber(prepaid_request(inventory), metadata=client.md())

    assert created.id > 0
    assert created.status == types_pb2.ACTIVE
    assert created.msisdn == inventory.msisdns[0]
    assert created.handset_model == "Phone X"
    assert created.identity_number_masked == "****678Z"
    assert created.balance == types_pb2.Money(amount_minor=PREPAID_INITIAL_CREDIT, currency="EUR")
    assert [(a.service, a.granted, a.used) for a in created.allowances] == [("VOICE", 600, 0)]
    assert created.allowances[0].period_start.ToDatetime() < created.activated_at.ToDatetime()
    assert created.bill_cycle_id == 0
    with deps.db.connect() as conn:
        statuses = conn.execute(
            select(resources.c.status, resources.c.subscriber_id).where(
                resources.c.value.in_(
                    [inventory.msisdns[0], inventory.imsis[0], inventory.imeis[0]]
                )
            )
        ).all()
        audit = conn.execute(select(audit_events)).one()
    assert statuses == [("ASSIGNED", created.id)] * 3
    assert (audit.action, audit.actor, audit.target) == (
        "subscriber.create",
        "csr.ana",
        f"subscriber:{created.id}",
    )
    assert "12345678Z" not in audit.details


def test_a_postpaid_subscriber_gets_a_zero_balance_a_bill_cycle_and_a_masked_iban(
    client: Client, inventory: Inventory
) -> None:
    created = client.stub.CreateSubscriber(postpaid_request(inventory), metadata=client.md())

    assert created.payment_type == types_pb2.POSTPAID
    assert created.bill_cycle_id == 1
    assert created.balance.amount_minor == 0
    assert created.unbilled == types_pb2.Money(amount_minor=0, currency="EUR")
    assert created.payment.method == types_pb2.DIRECT_DEBIT
    assert created.payment.iban.startswith("ES**") and created.payment.iban.endswith("1332")
    assert "2100" not in created.payment.iban
    assert {a.service for a in created.allowances} == {"DATA", "SMS"}


def test_the_identity_number_is_stored_only_as_a_keyed_hash_and_last_four(
    client: Client, inventory: Inventory, deps: Deps
) -> None:
    client.stub.CreateSubscriber(prepaid_request(inventory), metadata=client.md())

    with deps.db.connect() as conn:
        row = conn.execute(select(subscribers)).one()
    assert row.identity_last4 == "678Z"
    assert len(row.identity_hash) == 64 and "12345678" not in row.identity_hash
    assert "12345678Z" not in json.dumps([str(v) for v in row])


def test_a_subscriber_is_found_by_id_and_by_msisdn(client: Client, inventory: Inventory) -> None:
    created = client.stub.CreateSubscriber(prepaid_request(inventory), metadata=client.md())

    by_id = client.stub.GetSubscriber(engine_pb2.GetSubscriberRequest(subscriber_id=created.id))
    by_msisdn = client.stub.GetSubscriber(
        engine_pb2.GetSubscriberRequest(msisdn="+" + inventory.msisdns[0])
    )
    assert by_id == created
    assert by_msisdn.id == created.id


def test_a_subscriber_shows_this_periods_allowance_use_and_its_unbilled_total_once(
    client: Client, inventory: Inventory, deps: Deps
) -> None:
    created = client.stub.CreateSubscriber(postpaid_request(inventory), metadata=client.md())
    sms = next(a for a in created.allowances if a.service == "SMS")
    start, end = sms.period_start.ToDatetime(), sms.period_end.ToDatetime()
    with deps.db.begin() as conn:
        conn.execute(
            update(allowance_balances)
            .where(
                allowance_balances.c.subscriber_id == created.id,
                allowance_balances.c.service_id == "SMS",
            )
            .values(used=7)
        )
        conn.execute(  # last period's row: not this period's use
            insert(allowance_balances).values(
                subscriber_id=created.id,
                service_id="DATA",
                period_start=start - timedelta(days=31),
                period_end=start,
                granted=1 << 30,
                used=1 << 20,
            )
        )
        conn.execute(
            insert(rated_cdrs),
            [unbilled_sms(created.id, n, charge_minor=10, at=start) for n in range(3)],
        )

    shown = client.stub.GetSubscriber(engine_pb2.GetSubscriberRequest(subscriber_id=created.id))

    assert [(a.service, a.granted, a.used) for a in shown.allowances] == [
        ("DATA", 1 << 30, 0),
        ("SMS", 100, 7),
    ]
    assert {(a.period_start.ToDatetime(), a.period_end.ToDatetime()) for a in shown.allowances} == {
        (start, end)
    }
    assert shown.unbilled == types_pb2.Money(amount_minor=30, currency="EUR")


def unbilled_sms(subscriber_id: int, n: int, *, charge_minor: int, at: datetime) -> dict[str, Any]:
    return {
        "cdr_id": f"test-{subscriber_id}-{n}",
        "subscriber_id": subscriber_id,
        "service_id": "SMS",
        "started_at": at,
        "quantity": 1,
        "other_party": "34600000000",
        "zone": "NATIONAL",
        "band": "ANY",
        "billable_quantity": 1,
        "allowance_used": 0,
        "charge_minor": charge_minor,
        "currency": "EUR",
        "payment_type": "POSTPAID",
        "rated_at": at,
    }


def test_getting_an_unknown_subscriber_is_not_found(client: Client, catalog: object) -> None:
    error = rpc_error(
        lambda: client.stub.GetSubscriber(engine_pb2.GetSubscriberRequest(subscriber_id=999))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "subscriber 999 does not exist" in error.details()

    error = rpc_error(lambda: client.stub.GetSubscriber(engine_pb2.GetSubscriberRequest()))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_search_matches_msisdn_prefix_name_and_identity_digits_with_paging(
    client: Client, inventory: Inventory
) -> None:
    names = ["Ana", "Bruno", "Carla", "Diego"]
    for i, name in enumerate(names):
        client.stub.CreateSubscriber(
            prepaid_request(inventory, i, first_name=name, identity_number=f"X000{i}12{i}"),
            metadata=client.md(),
        )
    search = client.stub.SearchSubscribers

    by_name = search(engine_pb2.SearchSubscribersRequest(name="CAR"))
    by_digits = search(engine_pb2.SearchSubscribersRequest(identity_last_digits="123"))
    by_prefix = search(engine_pb2.SearchSubscribersRequest(msisdn="34600000"))
    assert [s.first_name for s in by_name.subscribers] == ["Carla"]
    assert [s.first_name for s in by_digits.subscribers] == ["Diego"]
    assert by_prefix.page.total_count == 4

    first = search(
        engine_pb2.SearchSubscribersRequest(msisdn="346", page=types_pb2.PageRequest(page_size=3))
    )
    second = search(
        engine_pb2.SearchSubscribersRequest(
            msisdn="346",
            page=types_pb2.PageRequest(page_size=3, page_token=first.page.next_page_token),
        )
    )
    assert [s.first_name for s in first.subscribers] == names[:3]
    assert [s.first_name for s in second.subscribers] == names[3:]
    assert second.page.next_page_token == ""
    assert first.subscribers[0].balance.amount_minor == PREPAID_INITIAL_CREDIT


def test_search_rejects_letters_in_the_msisdn_and_a_forged_page_token(
    client: Client, catalog: object
) -> None:
    error = rpc_error(
        lambda: client.stub.SearchSubscribers(engine_pb2.SearchSubscribersRequest(msisdn="34a"))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("msisdn:")

    error = rpc_error(
        lambda: client.stub.SearchSubscribers(
            engine_pb2.SearchSubscribersRequest(
                page=types_pb2.PageRequest(page_token="not-a-token")
            )
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page.page_token" in error.details()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"msisdn": "34600abc000"}, "msisdn", "digits 0-9 only"),
        ({"msisdn": "3460000000012345"}, "msisdn", "8 to 15 digits"),
        ({"imsi": "21401000000000"}, "imsi", "exactly 15 digits"),
        ({"handset_imei": "352099000000001"}, "handset_imei", "wrong check digit"),
        ({"email": "ana@"}, "email", "not an email address"),
        ({"date_of_birth": birthday_years_ago(10)}, "date_of_birth", "at least 16"),
        (
            {"date_of_birth": types_pb2.Date(year=1890, month=1, day=1)},
            "date_of_birth",
            "would make the subscriber",
        ),
        (
            {"date_of_birth": types_pb2.Date(year=1990, month=2, day=30)},
            "date_of_birth",
            "not a calendar date",
        ),
        ({"identity_number": "12"}, "identity_number", "5 to 20"),
        ({"price_plan_id": 999}, "price_plan_id", "price plan 999 does not exist"),
        ({"price_plan_id": 201}, "price_plan_id", "is POSTPAID, not PREPAID"),
        ({"bill_cycle_id": 1}, "bill_cycle_id", "has no bill cycle"),
        (
            {
                "payment": types_pb2.PaymentData(
                    method=types_pb2.CARD_ON_FILE, card_reference="tok_1", card_last4="12a4"
                )
            },
            "payment.card_last4",
            "last 4 digits",
        ),
        (
            {
                "payment": types_pb2.PaymentData(
                    method=types_pb2.CARD_ON_FILE,
                    card_reference="4111 1111 1111 1111",
                    card_last4="1111",
                )
            },
            "payment.card_reference",
            "full card number",
        ),
        (
            {
                "payment": types_pb2.PaymentData(
                    method=types_pb2.DIRECT_DEBIT, iban="ES91 2100 0418 4502 0005 1333"
                )
            },
            "payment.iban",
            "check digits",
        ),
        ({"payment_type": 7}, "payment_type", "not a known value"),
    ],
)
def test_bad_input_is_rejected_with_a_readable_message_and_nothing_changes(
    client: Client,
    inventory: Inventory,
    deps: Deps,
    change: dict[str, object],
    field: str,
    words: str,
) -> None:
    before = database_snapshot(deps)

    error = rpc_error(
        lambda: client.stub.CreateSubscriber(
            prepaid_request(inventory, **change), metadata=client.md()
        )
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{field}: " in error.details()
    assert words in error.details()
    assert database_snapshot(deps) == before


def test_all_field_errors_are_reported_together(client: Client, inventory: Inventory) -> None:
    error = rpc_error(
        lambda: client.stub.CreateSubscriber(
            prepaid_request(inventory, msisdn="12", email="x", first_name=""), metadata=client.md()
        )
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    for field in ("msisdn:", "email:", "first_name:"):
        assert field in error.details()


def test_an_msisdn_not_in_the_inventory_is_not_found_and_nothing_is_written(
    client: Client, inventory: Inventory, deps: Deps
) -> None:
    before = database_snapshot(deps)

    error = rpc_error(
        lambda: client.stub.CreateSubscriber(
            prepaid_request(inventory, msisdn="34699999999"), metadata=client.md()
        )
    )

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "MSISDN 34699999999 is not in the inventory" in error.details()
    assert database_snapshot(deps) == before


def test_an_assigned_msisdn_cannot_be_taken_again_and_the_imsi_stays_free(
    client: Client, inventory: Inventory, deps: Deps
) -> None:
    client.stub.CreateSubscriber(prepaid_request(inventory, 0), metadata=client.md())
    before = database_snapshot(deps)

    error = rpc_error(
        lambda: client.stub.CreateSubscriber(
            prepaid_request(inventory, 1, msisdn=inventory.msisdns[0]), metadata=client.md()
        )
    )

    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert f"MSISDN {inventory.msisdns[0]} is already assigned" in error.details()
    assert database_snapshot(deps) == before


def test_a_quarantined_msisdn_is_assignable_once_its_quarantine_has_ended(
    client: Client, inventory: Inventory, deps: Deps
) -> None:
    from datetime import timedelta

    from microbss.engine.domain.periods import utcnow

    add_resources(
        deps,
        "MSISDN",
        ["34611111111"],
        status="QUARANTINE",
        available_at=utcnow() - timedelta(days=1),
    )
    add_resources(
        deps,
        "MSISDN",
        ["34622222222"],
        status="QUARANTINE",
        available_at=utcnow() + timedelta(days=30),
    )

    created = client.stub.CreateSubscriber(
        prepaid_request(inventory, msisdn="34611111111"), metadata=client.md()
    )
    error = rpc_error(
        lambda: client.stub.CreateSubscriber(
            prepaid_request(inventory, 1, msisdn="34622222222"), metadata=client.md()
        )
    )

    assert created.msisdn == "34611111111"
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "quarantine until" in error.details()


def test_twenty_racing_creates_for_one_msisdn_make_exactly_one_subscriber(
    client: Client, inventory: Inventory, deps: Deps
) -> None:
    imsis = [f"2140200000000{i:02d}" for i in range(20)]
    add_resources(deps, "IMSI", imsis)
    start = threading.Barrier(20)

    def create(i: int) -> grpc.StatusCode:
        request = prepaid_request(inventory, 0, imsi=imsis[i], handset_imei="")
        start.wait()
        try:
            client.stub.CreateSubscriber(request, metadata=client.md(), timeout=60)
            return grpc.StatusCode.OK
        except grpc.RpcError as err:
            return err.code()

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(create, range(20)))

    assert outcomes.count(grpc.StatusCode.OK) == 1
    assert outcomes.count(grpc.StatusCode.ALREADY_EXISTS) == 19
    with deps.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(subscribers)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(balances)).scalar_one() == 1
        assigned = conn.execute(
            select(func.count()).select_from(resources).where(resources.c.status == "ASSIGNED")
        ).scalar_one()
    assert assigned == 2  # the MSISDN and the winner's IMSI; the losers' IMSIs stay free


def test_get_subscriber_answers_while_as_many_connections_are_busy_as_there_can_be_workers(
    client: Client, inventory: Inventory, deps: Deps
) -> None:
    """On SQLite GetSubscriber runs on the server's event loop: taking a connection from the
    pool must never make it wait there, or every call of the server (health checks too) stalls
    for the pool's timeout. 64 is MICROBSS_ENGINE_WORKERS' maximum: 64 writes queued for
    SQLite's write lock hold a connection each."""
    if deps.db.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL GetSubscriber waits for a connection in a worker thread")
    created = client.stub.CreateSubscriber(prepaid_request(inventory), metadata=client.md())
    busy = [deps.db.connect() for _ in range(64)]
    try:
        found = client.stub.GetSubscriber(
            engine_pb2.GetSubscriberRequest(subscriber_id=created.id), timeout=5
        )
        health = health_pb2_grpc.HealthStub(client.channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    finally:
        for connection in busy:
            connection.close()

    assert found.id == created.id
    assert health.status == health_pb2.HealthCheckResponse.SERVING
