"""Importing the resource inventory from CSV files through the command line: bad lines reported
with their line numbers and skipped, duplicates reported and never doubled, good lines stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from microbss.engine.cli import main as engine_cli
from microbss.engine.deps import Deps
from microbss.engine.domain.resource import ResourceType
from microbss.engine.jobs.resource_import import import_resources
from microbss.engine.storage.tables import audit_events, resources
from tests.integration.conftest import database_snapshot


@pytest.fixture
def cli_env(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> Deps:
    monkeypatch.setenv("MICROBSS_DATA_DIR", str(deps.settings.data_dir))
    monkeypatch.setenv("MICROBSS_ENGINE_DB_URL", deps.db.url.render_as_string(hide_password=False))
    return deps


def stored(deps: Deps, type_: str) -> list[tuple[str, str, str]]:
    with deps.db.connect() as conn:
        rows = conn.execute(
            select(resources.c.value, resources.c.model, resources.c.status)
            .where(resources.c.type == type_)
            .order_by(resources.c.value)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_msisdn_import_stores_good_lines_and_reports_bad_ones_by_line(
    cli_env: Deps, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "numbers.csv",
        "msisdn\n34600000001\n+34600000002\n3460000000a\n12345678901234567\n\n34600000003\n",
    )

    assert engine_cli(["resources", "import", "--type", "msisdn", str(path)]) == 0

    out = capsys.readouterr().out
    assert "5 read, 3 imported, 0 duplicates, 2 rejected" in out
    assert "line 4: rejected: MSISDN '3460000000a' must contain digits 0-9 only" in out
    assert "line 5: rejected: MSISDN must have 8 to 15 digits, got 17" in out
    assert stored(cli_env, "MSISDN") == [
        ("34600000001", "", "FREE"),
        ("34600000002", "", "FREE"),
        ("34600000003", "", "FREE"),
    ]


def test_duplicates_in_the_file_and_in_the_inventory_are_reported_not_doubled(
    cli_env: Deps, tmp_path: Path
) -> None:
    first = write(tmp_path, "a.csv", "214010000000001\n214010000000002\n")
    import_resources(cli_env, ResourceType.IMSI, first, "cli:test")
    second = write(tmp_path, "b.csv", "214010000000002\n214010000000003\n214010000000003\n")

    report = import_resources(cli_env, ResourceType.IMSI, second, "cli:test")

    assert (report.read, report.imported) == (3, 1)
    assert report.duplicates == [
        (1, "214010000000002 is already in the inventory"),
        (3, "214010000000003 is also on line 2"),
    ]
    assert [v for v, _m, _s in stored(cli_env, "IMSI")] == [
        "214010000000001",
        "214010000000002",
        "214010000000003",
    ]


def test_an_imsi_of_14_digits_is_rejected(cli_env: Deps, tmp_path: Path) -> None:
    path = write(tmp_path, "imsi.csv", "21401000000000\n")
    report = import_resources(cli_env, ResourceType.IMSI, path, "cli:test")
    assert report.rejected == [(1, "IMSI must have exactly 15 digits, got 14")]
    assert stored(cli_env, "IMSI") == []


def test_handsets_are_imported_with_their_model_and_a_wrong_luhn_digit_is_rejected(
    cli_env: Deps, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "handsets.csv",
        'imei,model\n490154203237518,"Pixel 8, 128 GB"\n490154203237519,Bad Phone\n'
        "356938035643809\n356938035643809,Extra,Column\n",
    )

    report = import_resources(cli_env, ResourceType.HANDSET, path, "cli:test")

    assert report.rejected == [
        (3, "IMEI 490154203237519 has a wrong check digit (Luhn)"),
        (5, "expected IMEI[,model], got 3 columns"),
    ]
    assert stored(cli_env, "HANDSET") == [
        ("356938035643809", "", "FREE"),
        ("490154203237518", "Pixel 8, 128 GB", "FREE"),
    ]


def test_an_import_writes_one_audit_row_with_its_counts(cli_env: Deps, tmp_path: Path) -> None:
    path = write(tmp_path, "n.csv", "34600000001\nbad\n")
    import_resources(cli_env, ResourceType.MSISDN, path, "cli:ana")
    with cli_env.db.connect() as conn:
        rows = conn.execute(
            select(audit_events.c.actor, audit_events.c.target, audit_events.c.details).where(
                audit_events.c.action == "resources.import"
            )
        ).all()
    assert len(rows) == 1
    assert rows[0].actor == "cli:ana" and rows[0].target == "resources:MSISDN"
    assert '"imported": 1' in rows[0].details and '"rejected": 1' in rows[0].details


def test_a_spreadsheet_export_with_a_byte_order_mark_and_a_header_imports(
    cli_env: Deps, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffMSISDN\r\n34600000001\r\n".encode())
    report = import_resources(cli_env, ResourceType.MSISDN, path, "cli:test")
    assert (report.read, report.imported, report.rejected) == (1, 1, [])


def test_a_missing_file_is_a_clear_error_and_changes_nothing(
    cli_env: Deps, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = database_snapshot(cli_env)
    code = engine_cli(["resources", "import", "--type", "imsi", str(tmp_path / "none.csv")])
    assert code == 2
    assert "error: file: cannot read" in capsys.readouterr().err
    assert database_snapshot(cli_env) == before
