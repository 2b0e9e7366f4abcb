"""Voucher batch generation: PINs only in a new 0600 file, only their keyed hashes in the
database, consecutive serials, limits enforced, and all-or-nothing between file and database."""

from __future__ import annotations

import csv
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from microbss.engine.cli import main as engine_cli
from microbss.engine.deps import Deps
from microbss.engine.domain.errors import AlreadyExists, InvalidArgument
from microbss.engine.domain.voucher import hash_pin, normalise_pin
from microbss.engine.jobs.voucher_batch import generate_vouchers
from microbss.engine.storage.tables import audit_events, vouchers
from tests.integration.conftest import database_snapshot


@pytest.fixture
def cli_env(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> Deps:
    monkeypatch.setenv("MICROBSS_DATA_DIR", str(deps.settings.data_dir))
    monkeypatch.setenv("MICROBSS_ENGINE_DB_URL", deps.db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MICROBSS_SECRET", "test-secret")
    return deps


def read_pin_file(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def stored_vouchers(deps: Deps) -> list[dict[str, object]]:
    with deps.db.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(select(vouchers).order_by(vouchers.c.serial))
        ]


def test_generate_writes_each_pin_once_to_a_private_file_and_stores_only_its_hash(
    cli_env: Deps, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pins.csv"
    code = engine_cli(
        [
            "vouchers",
            "generate",
            "--count",
            "5",
            "--value",
            "10.00",
            "--batch",
            "SHOP-1",
            "--out",
            str(out),
        ]
    )

    assert code == 0
    assert "batch SHOP-1: 5 vouchers of 10.00 EUR" in capsys.readouterr().out
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    printed = read_pin_file(out)
    rows = stored_vouchers(cli_env)
    assert [p["serial"] for p in printed] == [r["serial"] for r in rows]
    for line, row in zip(printed, rows, strict=True):
        pin = normalise_pin(line["pin"])
        assert row["pin_hash"] == hash_pin(pin, b"test-secret")
        assert pin not in str(row.values())
        assert (line["value"], line["currency"]) == ("10.00", "EUR")
        assert (row["value_minor"], row["state"], row["batch"]) == (1000, 1, "SHOP-1")


def test_serials_are_consecutive_within_a_batch_and_never_reused_by_the_next(
    deps: Deps, tmp_path: Path
) -> None:
    first = generate_vouchers(deps, 3, 500, "EUR", "A", tmp_path / "a.csv", None, "test")
    second = generate_vouchers(deps, 2, 500, "EUR", "B", tmp_path / "b.csv", None, "test")
    assert (first.first_serial, first.last_serial) == ("000000000001", "000000000003")
    assert (second.first_serial, second.last_serial) == ("000000000004", "000000000005")


def test_an_existing_file_is_never_overwritten_and_nothing_is_created(
    deps: Deps, tmp_path: Path
) -> None:
    out = tmp_path / "pins.csv"
    out.write_text("keep me", encoding="utf-8")
    before = database_snapshot(deps)
    with pytest.raises(AlreadyExists, match="never overwritten"):
        generate_vouchers(deps, 5, 1000, "EUR", "B1", out, None, "test")
    assert out.read_text(encoding="utf-8") == "keep me"
    assert database_snapshot(deps) == before


def test_no_voucher_exists_when_the_pin_file_cannot_be_created(deps: Deps, tmp_path: Path) -> None:
    before = database_snapshot(deps)
    with pytest.raises(InvalidArgument, match="cannot create"):
        generate_vouchers(deps, 5, 1000, "EUR", "B1", tmp_path / "no-dir" / "p.csv", None, "t")
    assert database_snapshot(deps) == before


def test_no_pin_file_is_left_when_the_database_refuses_the_batch(
    deps: Deps, tmp_path: Path
) -> None:
    generate_vouchers(deps, 1, 1000, "EUR", "B1", tmp_path / "first.csv", None, "test")
    with pytest.raises(AlreadyExists, match="batch B1 exists"):
        generate_vouchers(deps, 5, 1000, "EUR", "B1", tmp_path / "second.csv", None, "test")
    assert not (tmp_path / "second.csv").exists()
    assert len(stored_vouchers(deps)) == 1


@pytest.mark.parametrize(
    ("count", "value_minor", "currency", "batch", "field"),
    [
        (0, 1000, "EUR", "B", "count"),
        (100_001, 1000, "EUR", "B", "count"),
        (5, 0, "EUR", "B", "value"),
        (5, -100, "EUR", "B", "value"),
        (5, 100_001, "EUR", "B", "value"),
        (5, 1000, "ABC", "B", "currency"),
        (5, 1000, "EUR", "bad name!", "batch"),
        (5, 1000, "EUR", "x" * 65, "batch"),
    ],
)
def test_out_of_range_requests_are_refused_naming_the_field_and_change_nothing(
    deps: Deps,
    tmp_path: Path,
    count: int,
    value_minor: int,
    currency: str,
    batch: str,
    field: str,
) -> None:
    before = database_snapshot(deps)
    with pytest.raises(InvalidArgument) as caught:
        generate_vouchers(deps, count, value_minor, currency, batch, tmp_path / "p.csv", None, "t")
    assert caught.value.field == field
    assert database_snapshot(deps) == before
    assert not (tmp_path / "p.csv").exists()


def test_an_expiry_date_means_valid_through_that_whole_local_day(
    cli_env: Deps, tmp_path: Path
) -> None:
    out = tmp_path / "pins.csv"
    code = engine_cli(
        [
            "vouchers",
            "generate",
            "--count",
            "1",
            "--value",
            "5",
            "--batch",
            "X",
            "--out",
            str(out),
            "--expires",
            "2099-12-31",
        ]
    )
    assert code == 0
    # Madrid is UTC+1 in winter: the local day ends at 23:00 UTC.
    assert stored_vouchers(cli_env)[0]["expires_at"] == datetime(2099, 12, 31, 23, 0)
    assert read_pin_file(out)[0]["valid_through"] == "2099-12-31"


def test_an_expiry_in_the_past_is_refused(deps: Deps, tmp_path: Path) -> None:
    past = deps.clock() - timedelta(days=1)
    with pytest.raises(InvalidArgument, match="in the future"):
        generate_vouchers(deps, 1, 500, "EUR", "X", tmp_path / "p.csv", past, "test")


def test_an_amount_with_too_many_decimals_is_a_clear_cli_error(
    cli_env: Deps, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = engine_cli(
        [
            "vouchers",
            "generate",
            "--count",
            "1",
            "--value",
            "10.001",
            "--batch",
            "X",
            "--out",
            str(tmp_path / "p.csv"),
        ]
    )
    assert code == 2
    assert "error: value: '10.001' has more than 2 decimals for EUR" in capsys.readouterr().err


def test_a_generation_is_audited_without_any_pin(deps: Deps, tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    generate_vouchers(deps, 3, 500, "EUR", "AUD1", out, None, "cli:ana")
    pins = [normalise_pin(row["pin"]) for row in read_pin_file(out)]
    with deps.db.connect() as conn:
        rows = conn.execute(
            select(audit_events).where(audit_events.c.action == "vouchers.generate")
        ).all()
    assert len(rows) == 1 and rows[0].actor == "cli:ana" and rows[0].target == "batch:AUD1"
    assert not any(pin in rows[0].details for pin in pins)
