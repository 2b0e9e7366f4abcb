"""Loading the reference catalog from a TOML file, through the command line, on the test database
(SQLite, and PostgreSQL when configured): all-or-nothing, idempotent, audited, and plans still in
use cannot disappear."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from microbss.engine.cli import main as engine_cli
from microbss.engine.demo import demo_catalog_path, demo_catalog_text
from microbss.engine.deps import Deps
from microbss.engine.domain.catalog import Band, PaymentType, Zone
from microbss.engine.domain.errors import FailedPrecondition
from microbss.engine.domain.resource import ResourceType
from microbss.engine.domain.subscriber import Address, NewSubscriber, PaymentData, PaymentMethod
from microbss.engine.jobs.catalog_loader import import_catalog, parse_catalog_toml
from microbss.engine.jobs.resource_import import import_resources_text
from microbss.engine.services.subscribers import create_subscriber
from microbss.engine.storage.catalog_repository import load_catalog
from microbss.engine.storage.tables import audit_events
from tests.integration.conftest import database_snapshot


@pytest.fixture
def cli_env(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> Deps:
    """Point the command line at the test database."""
    monkeypatch.setenv("MICROBSS_DATA_DIR", str(deps.settings.data_dir))
    monkeypatch.setenv("MICROBSS_ENGINE_DB_URL", deps.db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MICROBSS_SECRET", "test-secret")
    return deps


def stored_catalog(deps: Deps):  # type: ignore[no-untyped-def]
    with deps.db.connect() as conn:
        return load_catalog(conn)


def test_catalog_load_stores_every_plan_of_the_demo_file(
    cli_env: Deps, capsys: pytest.CaptureFixture[str]
) -> None:
    assert engine_cli(["catalog", "load", str(demo_catalog_path())]) == 0
    out = capsys.readouterr().out
    assert "4 price plans (9 added, 0 changed, 0 removed, 0 unchanged)" in out
    assert stored_catalog(cli_env) == parse_catalog_toml(demo_catalog_text(), "catalog.toml")


def test_loading_the_same_file_again_changes_nothing(cli_env: Deps) -> None:
    import_catalog(cli_env, demo_catalog_path(), "cli:test")
    again = import_catalog(cli_env, demo_catalog_path(), "cli:test")
    assert again.changes.is_empty
    assert len(again.changes.unchanged) == 9


def test_a_file_with_errors_is_refused_whole_and_each_error_names_its_line(
    cli_env: Deps, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_catalog(cli_env, demo_catalog_path(), "cli:test")
    before = database_snapshot(cli_env)
    broken = demo_catalog_text().replace('unit_price = "0.49"', 'unit_price = "0.4.9"')
    broken = broken.replace("cycle_day = 15", "cycle_day = 30")
    path = tmp_path / "broken.toml"
    path.write_text(broken, encoding="utf-8")

    assert engine_cli(["catalog", "load", str(path)]) == 2

    err = capsys.readouterr().err
    price_line = broken.splitlines().index('  unit_price = "0.4.9"') + 1
    assert "error: catalog broken.toml was not loaded: 2 problems" in err
    assert f"broken.toml:{price_line}: price_plans[0].tariffs[1].unit_price:" in err
    assert "bill_cycles[1].cycle_day: must be between 1 and 28, got 30" in err
    assert database_snapshot(cli_env) == before


def test_a_changed_price_is_stored_and_audited(cli_env: Deps, tmp_path: Path) -> None:
    import_catalog(cli_env, demo_catalog_path(), "cli:test")
    path = tmp_path / "new-prices.toml"
    path.write_text(
        demo_catalog_text().replace('unit_price = "0.49"', 'unit_price = "0.45"'), "utf-8"
    )

    result = import_catalog(cli_env, path, "cli:ana")

    assert result.changes.changed == ["price plan 101 PRE_SMART"]
    tariff = (
        stored_catalog(cli_env).price_plans[101].tariff_for("VOICE", Zone.INTERNATIONAL, Band.ANY)
    )
    assert tariff is not None and tariff.unit_price == 45
    with cli_env.db.connect() as conn:
        audit = conn.execute(
            select(audit_events.c.actor, audit_events.c.details)
            .where(audit_events.c.action == "catalog.load")
            .order_by(audit_events.c.id.desc())
        ).first()
    assert audit is not None and audit.actor == "cli:ana"
    assert "price plan 101 PRE_SMART" in audit.details


def test_a_plan_dropped_from_the_file_is_removed_when_nobody_uses_it(
    cli_env: Deps, tmp_path: Path
) -> None:
    import_catalog(cli_env, demo_catalog_path(), "cli:test")
    path = tmp_path / "three-plans.toml"
    path.write_text(without_plan(demo_catalog_text(), "202"), "utf-8")

    result = import_catalog(cli_env, path, "cli:test")

    assert result.changes.removed == ["price plan 202 POST_XL"]
    assert sorted(stored_catalog(cli_env).price_plans) == [101, 102, 201]


def test_a_plan_that_subscribers_use_cannot_be_dropped_and_nothing_changes(
    cli_env: Deps, tmp_path: Path
) -> None:
    import_catalog(cli_env, demo_catalog_path(), "cli:test")
    subscribe_to_postpaid_xl(cli_env)
    before = database_snapshot(cli_env)
    path = tmp_path / "without-xl.toml"
    text = without_plan(demo_catalog_text(), "202").replace('"0.49"', '"0.45"')
    path.write_text(text, "utf-8")

    with pytest.raises(FailedPrecondition, match=r"price plan 202 POST_XL .* 1 subscriber"):
        import_catalog(cli_env, path, "cli:test")

    assert database_snapshot(cli_env) == before


def test_a_plan_in_use_may_not_change_its_payment_type(cli_env: Deps, tmp_path: Path) -> None:
    import_catalog(cli_env, demo_catalog_path(), "cli:test")
    subscribe_to_postpaid_xl(cli_env)
    text = demo_catalog_text()
    start = text.index("id = 202")
    changed = text[:start] + text[start:].replace(
        'payment_type = "POSTPAID"', 'payment_type = "PREPAID"', 1
    )
    changed = changed.replace('monthly_fee = "35.00"', 'monthly_fee = "0.00"')
    path = tmp_path / "xl-prepaid.toml"
    path.write_text(changed, "utf-8")

    with pytest.raises(FailedPrecondition, match="payment type and currency cannot change"):
        import_catalog(cli_env, path, "cli:test")
    assert stored_catalog(cli_env).price_plans[202].payment_type == PaymentType.POSTPAID


def test_catalog_show_prints_the_plans_with_their_prices(
    cli_env: Deps, capsys: pytest.CaptureFixture[str]
) -> None:
    assert engine_cli(["catalog", "show"]) == 0
    assert "the catalog is empty" in capsys.readouterr().out
    import_catalog(cli_env, demo_catalog_path(), "cli:test")

    assert engine_cli(["catalog", "show"]) == 0

    out = capsys.readouterr().out
    assert "101    PRE_SMART 'Prepaid Smart' PREPAID EUR" in out
    assert "0.09 EUR per 1 min, in steps of 1 s, minimum 1 min" in out
    assert "includes 20 GB DATA (NATIONAL,ROAMING) per period" in out


def test_a_missing_catalog_file_is_a_clear_error(
    cli_env: Deps, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert engine_cli(["catalog", "load", str(tmp_path / "nope.toml")]) == 2
    assert "cannot read catalog file" in capsys.readouterr().err


def without_plan(text: str, plan_id: str) -> str:
    """The catalog text without the [[price_plans]] block of ``plan_id`` (the last one here)."""
    start = text.index(f"[[price_plans]]\nid = {plan_id}")
    return text[:start]


def subscribe_to_postpaid_xl(deps: Deps) -> None:
    import_resources_text(deps, ResourceType.MSISDN, "34600000000", "test", "test")
    import_resources_text(deps, ResourceType.IMSI, "214010000000000", "test", "test")
    create_subscriber(
        deps,
        "test",
        NewSubscriber(
            msisdn="34600000000",
            imsi="214010000000000",
            identity_number="12345678Z",
            first_name="Ana",
            last_name="García",
            date_of_birth=date(1990, 5, 17),
            address=Address("Calle Mayor 1", "Madrid", "28013", "ES"),
            email="ana@example.com",
            contact_phone="+34600111222",
            payment=PaymentData(PaymentMethod.CASH),
            payment_type=PaymentType.POSTPAID,
            price_plan_id=202,
            bill_cycle_id=1,
        ),
    )
