"""SelectVouchers, UpdateVoucherState and RedeemVoucher through the generated client."""

from __future__ import annotations

import logging
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import select, update

from microbss.engine.deps import Deps
from microbss.engine.domain.errors import FailedPrecondition
from microbss.engine.domain.periods import utcnow
from microbss.engine.domain.subscriber import SubscriberStatus
from microbss.engine.domain.voucher import VoucherState, hash_pin
from microbss.engine.services import vouchers
from microbss.engine.storage import voucher_repository
from microbss.engine.storage.tables import audit_events, balances, subscribers, throttle_events
from microbss.engine.storage.uow import UnitOfWork, read_connection
from microbss.v1 import engine_pb2, types_pb2
from tests.integration.conftest import (
    PREPAID_INITIAL_CREDIT,
    Client,
    Inventory,
    add_vouchers,
    database_snapshot,
    postpaid_request,
    prepaid_request,
    rpc_error,
)

PIN = "ABCD1234EFGH5678"
OTHER_PIN = "ZZZZ9999YYYY8888"


@pytest.fixture
def prepaid(client: Client, inventory: Inventory) -> types_pb2.Subscriber:
    return client.stub.CreateSubscriber(prepaid_request(inventory), metadata=client.md())


def redeem(
    client: Client, subscriber_id: int, pin: str, actor: str = "csr.ana"
) -> engine_pb2.RedeemVoucherResponse:
    return client.stub.RedeemVoucher(
        engine_pb2.RedeemVoucherRequest(subscriber_id=subscriber_id, pin=pin),
        metadata=client.md(actor),
        timeout=60,
    )


def test_redeeming_a_voucher_credits_its_value_once_and_records_who_and_when(
    client: Client, prepaid: types_pb2.Subscriber, deps: Deps
) -> None:
    (serial,) = add_vouchers(deps, "B1", [PIN], value=1500)

    reply = redeem(client, prepaid.id, "abcd-1234 efgh-5678")

    assert reply.voucher_serial == serial
    assert reply.credited == types_pb2.Money(amount_minor=1500, currency="EUR")
    assert reply.balance.amount_minor == PREPAID_INITIAL_CREDIT + 1500
    after = client.stub.GetSubscriber(engine_pb2.GetSubscriberRequest(subscriber_id=prepaid.id))
    assert after.balance.amount_minor == PREPAID_INITIAL_CREDIT + 1500
    (voucher,) = client.stub.SelectVouchers(
        engine_pb2.SelectVouchersRequest(serial=serial)
    ).vouchers
    assert voucher.state == types_pb2.USED
    assert voucher.redeemed_by_subscriber_id == prepaid.id
    assert voucher.redeemed_by_actor == "csr.ana"
    assert voucher.redeemed_at == reply.redeemed_at
    with deps.db.connect() as conn:
        actions = [(r.action, r.target, r.result) for r in conn.execute(select(audit_events))]
    assert ("voucher.redeem", f"voucher:{serial}", "OK") in actions


def test_a_used_voucher_cannot_be_redeemed_again_and_says_nothing_about_who_used_it(
    client: Client, prepaid: types_pb2.Subscriber, deps: Deps
) -> None:
    add_vouchers(deps, "B1", [PIN])
    redeem(client, prepaid.id, PIN)

    error = rpc_error(lambda: redeem(client, prepaid.id, PIN))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == (
        "pin: this voucher cannot be redeemed (already used, withdrawn or expired)"
    )


def test_withdrawn_and_expired_vouchers_cannot_be_redeemed(
    client: Client, prepaid: types_pb2.Subscriber, deps: Deps
) -> None:
    add_vouchers(deps, "WITHDRAWN", [PIN], state=VoucherState.ERROR)
    add_vouchers(deps, "EXPIRED", [OTHER_PIN], expires_at=utcnow() - timedelta(days=1))
    before = database_snapshot(deps)

    for pin in (PIN, OTHER_PIN):
        error = rpc_error(lambda pin=pin: redeem(client, prepaid.id, pin))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "cannot be redeemed" in error.details()
    assert database_snapshot(deps) == before


@pytest.mark.parametrize("pin", ["ABCD1234EFGH567", "ABCD1234EFGH56789", "ABCD1234EFGH567!"])
def test_a_pin_of_the_wrong_format_is_invalid_and_changes_nothing(
    client: Client, prepaid: types_pb2.Subscriber, deps: Deps, pin: str
) -> None:
    add_vouchers(deps, "B1", [PIN])
    before = database_snapshot(deps)

    error = rpc_error(lambda: redeem(client, prepaid.id, pin))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("pin: a voucher PIN has 16 letters")
    assert pin not in error.details()
    assert database_snapshot(deps) == before


def test_an_unknown_pin_is_not_found_counted_and_audited_as_denied_without_the_pin(
    client: Client, prepaid: types_pb2.Subscriber, deps: Deps
) -> None:
    error = rpc_error(lambda: redeem(client, prepaid.id, OTHER_PIN))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "no voucher has this PIN" in error.details()
    with deps.db.connect() as conn:
        denied = conn.execute(select(audit_events).where(audit_events.c.result == "DENIED")).one()
        keys = sorted(r.key for r in conn.execute(select(throttle_events)))
    assert denied.target == f"subscriber:{prepaid.id}"
    assert OTHER_PIN not in denied.details
    assert keys == ["redeem:caller:ipv4:127.0.0.1|csr.ana", f"redeem:subscriber:{prepaid.id}"]


def test_five_wrong_pins_lock_out_the_subscriber_even_with_the_right_pin(
    client: Client, prepaid: types_pb2.Subscriber, deps: Deps
) -> None:
    add_vouchers(deps, "B1", [PIN])
    for attempt in range(5):
        wrong = f"WRONG{attempt}00000000000"[:16]
        # Different CSRs: the per-subscriber counter is what trips.
        error = rpc_error(lambda w=wrong, a=attempt: redeem(client, prepaid.id, w, f"csr{a}"))
        assert error.code() == grpc.StatusCode.NOT_FOUND

    error = rpc_error(lambda: redeem(client, prepaid.id, PIN, "csr.other"))

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "too many wrong voucher PINs" in error.details()
    with deps.db.connect() as conn:
        balance = conn.execute(select(balances.c.amount_minor)).scalar_one()
    assert balance == PREPAID_INITIAL_CREDIT


def test_a_postpaid_subscriber_cannot_redeem_a_voucher(
    client: Client, inventory: Inventory, deps: Deps
) -> None:
    postpaid = client.stub.CreateSubscriber(postpaid_request(inventory), metadata=client.md())
    add_vouchers(deps, "B1", [PIN])
    before = database_snapshot(deps)

    error = rpc_error(lambda: redeem(client, postpaid.id, PIN))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "postpaid" in error.details()
    assert database_snapshot(deps) == before


def test_a_voucher_in_another_currency_is_refused_and_stays_new(
    client: Client, prepaid: types_pb2.Subscriber, deps: Deps
) -> None:
    add_vouchers(deps, "USD", [PIN], currency="USD")

    error = rpc_error(lambda: redeem(client, prepaid.id, PIN))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "USD" in error.details()
    (voucher,) = client.stub.SelectVouchers(engine_pb2.SelectVouchersRequest(batch="USD")).vouchers
    assert voucher.state == types_pb2.NEW


def test_redeeming_for_an_unknown_subscriber_is_not_found(
    client: Client, catalog: object, deps: Deps
) -> None:
    add_vouchers(deps, "B1", [PIN])
    error = rpc_error(lambda: redeem(client, 424242, PIN))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "subscriber 424242 does not exist" in error.details()


def test_fifty_racing_redeems_of_one_pin_credit_the_balance_exactly_once(
    client: Client, prepaid: types_pb2.Subscriber, deps: Deps
) -> None:
    add_vouchers(deps, "RACE", [PIN], value=1000)
    start = threading.Barrier(50)

    def attempt(_: int) -> grpc.StatusCode:
        start.wait()
        try:
            redeem(client, prepaid.id, PIN)
            return grpc.StatusCode.OK
        except grpc.RpcError as err:
            return err.code()

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(attempt, range(50)))

    assert outcomes.count(grpc.StatusCode.OK) == 1
    assert outcomes.count(grpc.StatusCode.FAILED_PRECONDITION) == 49
    after = client.stub.GetSubscriber(engine_pb2.GetSubscriberRequest(subscriber_id=prepaid.id))
    assert after.balance.amount_minor == PREPAID_INITIAL_CREDIT + 1000


def test_a_subscriber_terminated_after_the_checks_is_not_credited_and_the_voucher_stays_new(
    client: Client, prepaid: types_pb2.Subscriber, deps: Deps
) -> None:
    # RedeemVoucher checks the subscriber and finds the voucher before it takes the write lock;
    # the credit inside the lock must still refuse a line terminated in between.
    (serial,) = add_vouchers(deps, "B1", [PIN])
    now = utcnow()
    with read_connection(deps.db) as conn:
        found = voucher_repository.find_redeemable(conn, hash_pin(PIN, deps.settings.secret), now)
    assert found is not None
    with UnitOfWork(deps.db, write=True) as uow:
        uow.conn.execute(
            update(subscribers)
            .where(subscribers.c.id == prepaid.id)
            .values(status=SubscriberStatus.TERMINATED.value)
        )
        uow.commit()

    with (
        pytest.raises(FailedPrecondition, match="terminated"),
        UnitOfWork(deps.db, write=True) as uow,
    ):
        vouchers._take_and_credit(uow.conn, "csr.ana", prepaid.id, found, now)
        uow.commit()

    (voucher,) = client.stub.SelectVouchers(
        engine_pb2.SelectVouchersRequest(serial=serial)
    ).vouchers
    assert voucher.state == types_pb2.NEW
    with deps.db.connect() as conn:
        balance = conn.execute(select(balances.c.amount_minor)).scalar_one()
    assert balance == PREPAID_INITIAL_CREDIT


def test_vouchers_are_listed_by_state_batch_and_serial_prefix_with_paging(
    client: Client, catalog: object, deps: Deps
) -> None:
    add_vouchers(deps, "SPRING", [f"SPRING{i:010d}" for i in range(7)])
    add_vouchers(deps, "OLD", ["OLD0000000000000"], state=VoucherState.ERROR)
    select_ = client.stub.SelectVouchers

    first = select_(
        engine_pb2.SelectVouchersRequest(batch="SPRING", page=types_pb2.PageRequest(page_size=5))
    )
    rest = select_(
        engine_pb2.SelectVouchersRequest(
            batch="SPRING",
            page=types_pb2.PageRequest(page_size=5, page_token=first.page.next_page_token),
        )
    )
    errors = select_(engine_pb2.SelectVouchersRequest(state=types_pb2.ERROR))
    by_serial = select_(engine_pb2.SelectVouchersRequest(serial="SPRING-000"))

    assert [v.serial for v in [*first.vouchers, *rest.vouchers]] == [
        f"SPRING-{i:04d}" for i in range(7)
    ]
    assert first.page.total_count == 7 and rest.page.next_page_token == ""
    assert [v.batch for v in errors.vouchers] == ["OLD"]
    assert by_serial.page.total_count == 7
    assert first.vouchers[0].value == types_pb2.Money(amount_minor=1000, currency="EUR")
    assert not first.vouchers[0].HasField("expires_at")


def test_an_unknown_voucher_state_filter_is_invalid(client: Client, catalog: object) -> None:
    error = rpc_error(lambda: client.stub.SelectVouchers(engine_pb2.SelectVouchersRequest(state=9)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("state:")


def test_a_voucher_is_withdrawn_and_restored_with_a_reason(
    client: Client, catalog: object, deps: Deps
) -> None:
    (serial,) = add_vouchers(deps, "B1", [PIN])
    update = client.stub.UpdateVoucherState

    withdrawn = update(
        engine_pb2.UpdateVoucherStateRequest(
            serial=serial, new_state=types_pb2.ERROR, reason="misprinted"
        ),
        metadata=client.md(),
    )
    restored = update(
        engine_pb2.UpdateVoucherStateRequest(
            serial=serial, new_state=types_pb2.NEW, reason="reprint checked"
        ),
        metadata=client.md(),
    )

    assert withdrawn.updated_count == 1
    assert withdrawn.vouchers[0].state == types_pb2.ERROR
    assert withdrawn.vouchers[0].state_reason == "misprinted"
    assert restored.vouchers[0].state == types_pb2.NEW
    with deps.db.connect() as conn:
        audited = conn.execute(select(audit_events.c.action, audit_events.c.actor)).all()
    assert audited == [("voucher.state", "csr.ana")] * 2


def test_a_whole_batch_is_withdrawn_but_its_used_vouchers_stay_used(
    client: Client, prepaid: types_pb2.Subscriber, deps: Deps
) -> None:
    pins = [PIN, OTHER_PIN, "QQQQ0000QQQQ0000"]
    add_vouchers(deps, "BATCH", pins)
    redeem(client, prepaid.id, PIN)

    reply = client.stub.UpdateVoucherState(
        engine_pb2.UpdateVoucherStateRequest(
            batch="BATCH", new_state=types_pb2.ERROR, reason="batch recalled"
        ),
        metadata=client.md(),
    )

    assert reply.updated_count == 2
    assert sorted(v.state for v in reply.vouchers) == [
        types_pb2.USED,
        types_pb2.ERROR,
        types_pb2.ERROR,
    ]


def test_a_used_voucher_state_is_final(
    client: Client, prepaid: types_pb2.Subscriber, deps: Deps
) -> None:
    (serial,) = add_vouchers(deps, "B1", [PIN])
    redeem(client, prepaid.id, PIN)
    before = database_snapshot(deps)

    error = rpc_error(
        lambda: client.stub.UpdateVoucherState(
            engine_pb2.UpdateVoucherStateRequest(
                serial=serial, new_state=types_pb2.ERROR, reason="oops"
            ),
            metadata=client.md(),
        )
    )

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "USED" in error.details()
    assert database_snapshot(deps) == before


@pytest.mark.parametrize(
    ("request_fields", "code", "words"),
    [
        (
            {"serial": "B1-0000", "new_state": types_pb2.ERROR, "reason": "  "},
            grpc.StatusCode.INVALID_ARGUMENT,
            "reason: a reason is required",
        ),
        (
            {"serial": "B1-0000", "new_state": types_pb2.USED, "reason": "x"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "new_state must be NEW",
        ),
        (
            {"new_state": types_pb2.ERROR, "reason": "x"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "give either a serial or a batch",
        ),
        (
            {"serial": "NOPE-1", "new_state": types_pb2.ERROR, "reason": "x"},
            grpc.StatusCode.NOT_FOUND,
            "voucher NOPE-1 does not exist",
        ),
        (
            {"batch": "NOPE", "new_state": types_pb2.ERROR, "reason": "x"},
            grpc.StatusCode.NOT_FOUND,
            "batch 'NOPE' does not exist",
        ),
    ],
)
def test_bad_state_changes_are_refused_and_change_nothing(
    client: Client,
    catalog: object,
    deps: Deps,
    request_fields: dict[str, object],
    code: grpc.StatusCode,
    words: str,
) -> None:
    add_vouchers(deps, "B1", [PIN])
    before = database_snapshot(deps)

    error = rpc_error(
        lambda: client.stub.UpdateVoucherState(
            engine_pb2.UpdateVoucherStateRequest(**request_fields), metadata=client.md()
        )
    )

    assert error.code() == code
    assert words in error.details()
    assert database_snapshot(deps) == before


def test_no_pin_or_full_identity_number_reaches_the_logs(
    client: Client, inventory: Inventory, deps: Deps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    add_vouchers(deps, "B1", [PIN])
    created = client.stub.CreateSubscriber(prepaid_request(inventory), metadata=client.md())
    redeem(client, created.id, PIN)
    rpc_error(lambda: redeem(client, created.id, PIN))
    rpc_error(lambda: redeem(client, created.id, OTHER_PIN))
    rpc_error(lambda: redeem(client, created.id, "abcd-1234-efgh-567"))
    rpc_error(
        lambda: client.stub.CreateSubscriber(
            prepaid_request(inventory, 1, email="bad"), metadata=client.md()
        )
    )

    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert "RedeemVoucher" in logged  # the access log did run
    for secret in (PIN, OTHER_PIN, "ABCD-1234", "12345678Z", "abcd-1234"):
        assert secret not in logged


def test_a_redeem_waits_for_another_writer_without_stalling_other_calls(
    client: Client, prepaid: types_pb2.Subscriber, deps: Deps
) -> None:
    """On SQLite RedeemVoucher runs on the server's event loop; while another process holds
    the write lock it must wait in a worker, so health and GetSubscriber still answer, and it
    completes (once) when the lock is released."""
    if deps.db.dialect.name != "sqlite":
        pytest.skip("SQLite's database-wide write lock")
    add_vouchers(deps, "B1", [PIN], value=700)
    other_writer = sqlite3.connect(deps.db.url.database or "", isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")  # as a CDR load committing a batch would
    try:
        pending = client.stub.RedeemVoucher.future(
            engine_pb2.RedeemVoucherRequest(subscriber_id=prepaid.id, pin=PIN),
            metadata=client.md(),
            timeout=60,
        )
        health = health_pb2_grpc.HealthStub(client.channel)
        answered = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        during = client.stub.GetSubscriber(
            engine_pb2.GetSubscriberRequest(subscriber_id=prepaid.id), timeout=5
        )
        assert not pending.done()
    finally:
        other_writer.rollback()
        other_writer.close()

    reply = pending.result(timeout=60)

    assert answered.status == health_pb2.HealthCheckResponse.SERVING
    assert during.balance.amount_minor == PREPAID_INITIAL_CREDIT
    assert reply.balance.amount_minor == PREPAID_INITIAL_CREDIT + 700
    after = client.stub.GetSubscriber(engine_pb2.GetSubscriberRequest(subscriber_id=prepaid.id))
    assert after.balance.amount_minor == PREPAID_INITIAL_CREDIT + 700


def test_a_wrong_pin_while_another_writer_holds_the_lock_is_counted_and_audited_once(
    client: Client, prepaid: types_pb2.Subscriber, deps: Deps
) -> None:
    """The wrong-PIN path writes too (throttle rows, a DENIED audit row): on SQLite, begun on
    the event loop, it meets the held lock before writing anything and runs again in a worker,
    so the failure is counted once, not once per attempt."""
    if deps.db.dialect.name != "sqlite":
        pytest.skip("SQLite's database-wide write lock")
    other_writer = sqlite3.connect(
        deps.db.url.database or "", isolation_level=None, check_same_thread=False
    )
    other_writer.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.5, other_writer.rollback)
    releaser.start()
    try:
        error = rpc_error(lambda: redeem(client, prepaid.id, OTHER_PIN))
    finally:
        releaser.join()
        other_writer.close()

    assert error.code() == grpc.StatusCode.NOT_FOUND
    with deps.db.connect() as conn:
        denied = conn.execute(select(audit_events).where(audit_events.c.result == "DENIED")).all()
        keys = sorted(r.key for r in conn.execute(select(throttle_events)))
    assert len(denied) == 1
    assert keys == ["redeem:caller:ipv4:127.0.0.1|csr.ana", f"redeem:subscriber:{prepaid.id}"]
