"""Demo data on an empty database: catalog, inventory, subscribers, vouchers a new user can redeem
at once, usage and past bills; on a database with data it changes nothing unless forced."""

from __future__ import annotations

import csv
import stat

import pytest
from sqlalchemy import func, select

from microbss.engine.cli import main as engine_cli
from microbss.engine.deps import Deps
from microbss.engine.domain.identifiers import parse_imei
from microbss.engine.jobs.demo_data import load_demo_data
from microbss.engine.services.subscribers import get_subscriber
from microbss.engine.services.vouchers import redeem_voucher
from microbss.engine.storage.tables import bills, rated_cdrs, resources, subscribers, vouchers
from tests.integration.conftest import database_snapshot


def count(deps: Deps, table, *where) -> int:  # type: ignore[no-untyped-def]
    with deps.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_demo_data_fills_an_empty_database_with_everything_a_first_look_needs(
    deps: Deps,
) -> None:
    report = load_demo_data(deps)

    assert len(report.subscriber_ids) == 12
    assert count(deps, subscribers, subscribers.c.payment_type == "PREPAID") == 6
    with deps.db.connect() as conn:
        cycles = set(
            conn.execute(
                select(subscribers.c.bill_cycle_id).where(subscribers.c.payment_type == "POSTPAID")
            ).scalars()
        )
        imeis = conn.execute(
            select(resources.c.value).where(resources.c.type == "HANDSET")
        ).scalars()
        assert all(parse_imei(imei) == imei for imei in imeis)
    assert cycles == {1, 2}
    assert count(deps, resources, resources.c.type == "MSISDN") == 200
    assert count(deps, resources, resources.c.type == "IMSI") == 200
    assert count(deps, resources, resources.c.type == "HANDSET") == 100
    assert count(deps, vouchers, vouchers.c.batch == "DEMO") == 20
    assert count(deps, rated_cdrs) > 0
    assert count(deps, bills) > 0


def test_a_demo_voucher_pin_redeems_at_once_and_raises_the_balance_by_its_value(
    deps: Deps,
) -> None:
    report = load_demo_data(deps)
    pin_file = deps.settings.data_dir / "demo-vouchers.csv"
    assert report.vouchers is not None and report.vouchers.out_path == pin_file
    assert stat.S_IMODE(pin_file.stat().st_mode) == 0o600
    with pin_file.open(encoding="utf-8", newline="") as handle:
        first = next(csv.DictReader(handle))
    prepaid_id = report.subscriber_ids[0]
    before = get_subscriber(deps, subscriber_id=prepaid_id).balance.amount_minor

    redemption = redeem_voucher(deps, "csr.test", "test", prepaid_id, first["pin"])

    assert redemption.credited_minor == 1000
    assert get_subscriber(deps, subscriber_id=prepaid_id).balance.amount_minor == before + 1000


def test_demo_data_on_a_database_with_data_says_so_and_changes_nothing(
    deps: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    load_demo_data(deps)
    before = database_snapshot(deps)
    monkeypatch.setenv("MICROBSS_DATA_DIR", str(deps.settings.data_dir))
    monkeypatch.setenv("MICROBSS_ENGINE_DB_URL", deps.db.url.render_as_string(hide_password=False))

    assert engine_cli(["demo-data"]) == 0

    out = capsys.readouterr().out
    assert "already has data (4 price plans, 500 resources, 12 subscribers, 20 vouchers)" in out
    assert "demo data not loaded" in out
    assert database_snapshot(deps) == before


def test_forced_demo_data_adds_subscribers_and_a_new_voucher_batch_beside_the_old(
    deps: Deps,
) -> None:
    load_demo_data(deps)
    old_pins = (deps.settings.data_dir / "demo-vouchers.csv").read_text(encoding="utf-8")

    again = load_demo_data(deps, force=True)

    assert again.vouchers is not None and again.vouchers.batch == "DEMO-2"
    assert again.vouchers.out_path.name == "demo-vouchers-2.csv"
    assert (deps.settings.data_dir / "demo-vouchers.csv").read_text(encoding="utf-8") == old_pins
    assert count(deps, subscribers) == 24
    assert count(deps, resources, resources.c.type == "MSISDN") == 200  # not doubled


def test_demo_prepaid_lines_keep_money_while_postpaid_lines_have_rich_usage(
    deps: Deps,
) -> None:
    report = load_demo_data(deps)

    views = [get_subscriber(deps, subscriber_id=i) for i in report.subscriber_ids]
    prepaid = [v for v in views if v.subscriber.payment_type == "PREPAID"]
    postpaid = [v.subscriber.id for v in views if v.subscriber.payment_type == "POSTPAID"]
    assert prepaid and all(v.balance.amount_minor > 0 for v in prepaid)
    with deps.db.connect() as conn:
        per_line = dict(
            conn.execute(
                select(rated_cdrs.c.subscriber_id, func.count())
                .where(rated_cdrs.c.subscriber_id.in_(postpaid))
                .group_by(rated_cdrs.c.subscriber_id)
            ).all()
        )
    assert max(per_line.values()) > 400  # three months of a heavy user: many bill lines
