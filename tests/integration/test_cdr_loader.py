"""The CDR loader against a real database: exact charges, reject files, exactly-once loading
(reruns, overlapping files, concurrent loaders, a killed load) and prepaid balances."""

from __future__ import annotations

import csv
import gc
import gzip
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update

from microbss.engine.deps import Deps
from microbss.engine.jobs import cdr_loader
from microbss.engine.jobs.cdr_loader import CdrFileError, load_cdr_files
from microbss.engine.storage.tables import allowance_balances, balances, rated_cdrs
from tests.integration.usage_data import add_subscriber, main_balance, seed_catalog

FIXTURES = Path(__file__).parent.parent / "fixtures" / "cdr"
HEADER = "cdr_id,msisdn,service,start_time,quantity,other_party,zone\n"
ANA = "34600100200"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "cdrs"
    folder.mkdir()
    return folder


def copy_fixture(name: str, folder: Path) -> Path:
    return Path(shutil.copy(FIXTURES / name, folder / name))


def write_cdrs(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def charges(deps: Deps) -> dict[str, tuple[int, int, int, str, str]]:
    """cdr_id -> (charge, billable quantity, allowance used, zone, band)."""
    with deps.db.connect() as conn:
        rows = conn.execute(
            select(
                rated_cdrs.c.cdr_id,
                rated_cdrs.c.charge_minor,
                rated_cdrs.c.billable_quantity,
                rated_cdrs.c.allowance_used,
                rated_cdrs.c.zone,
                rated_cdrs.c.band,
            )
        )
        return {row[0]: tuple(row[1:]) for row in rows}  # type: ignore[misc]


def test_a_mixed_file_rates_good_rows_to_the_cent_and_rejects_bad_ones(
    deps: Deps, work: Path
) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA, balance=1000)
    path = copy_fixture("mixed.csv", work)

    summary = load_cdr_files(deps, [path], progress=False)

    assert (summary.read, summary.rated, summary.rejected) == (13, 6, 7)
    assert (summary.duplicate, summary.skipped, summary.negative_balance) == (0, 0, 0)
    assert charges(deps) == {
        "V-0001": (24, 120, 0, "NATIONAL", "PEAK"),  # 61 s at 0.12/started minute
        "V-0002": (18, 180, 0, "NATIONAL", "OFFPEAK"),  # 21:30 local: 3 min at 0.06
        "S-0003": (9, 1, 0, "NATIONAL", "OFFPEAK"),
        "D-0004": (143, 1_500_160, 0, "NATIONAL", "PEAK"),  # 1465 KB at 1.00/MB = 1.4307
        "V-0005": (50, 60, 0, "INTERNATIONAL", "PEAK"),  # 30 s, 60 s minimum, 0.50/min
        "V-0011": (0, 0, 0, "NATIONAL", "PEAK"),
    }
    assert main_balance(deps, ana) == 1000 - 244


def test_the_reject_file_lists_line_reason_and_original_line(deps: Deps, work: Path) -> None:
    seed_catalog(deps)
    add_subscriber(deps, ANA)
    path = copy_fixture("mixed.csv", work)

    load_cdr_files(deps, [path], progress=False)

    with open(work / "mixed.csv.rejects.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    reasons = {int(r["line_no"]): r["reason"] for r in rows}
    assert sorted(reasons) == [7, 8, 9, 10, 11, 13, 14]
    assert reasons[7].startswith("unknown subscriber")
    assert "no UTC offset" in reasons[8]
    assert "negative quantity" in reasons[9]
    assert reasons[10] == "unknown service 'FAX'"
    assert "unknown zone" in reasons[11]
    assert reasons[13].startswith("subscriber not active at event time")
    assert reasons[14].startswith("no tariff")
    original = {int(r["line_no"]): r["original_line"] for r in rows}
    assert original[10] == "V-0009,34600100200,FAX,2026-10-06T10:20:00+02:00,1,34911234567,"
    assert sorted(p.name for p in work.iterdir()) == ["mixed.csv", "mixed.csv.rejects.csv"]


def test_loading_the_same_file_again_adds_nothing(deps: Deps, work: Path) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA)
    path = copy_fixture("mixed.csv", work)
    load_cdr_files(deps, [path], progress=False)
    before = (charges(deps), main_balance(deps, ana))

    again = load_cdr_files(deps, [path], progress=False)

    assert (again.rated, again.duplicate, again.rejected) == (0, 6, 7)
    assert (charges(deps), main_balance(deps, ana)) == before


def test_an_overlapping_file_adds_only_its_new_cdrs(deps: Deps, work: Path) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA, balance=500)
    first = write_cdrs(
        work / "a.csv",
        [f"C{n},{ANA},SMS,2026-10-05T10:0{n}:00+02:00,1,34611111111," for n in range(4)],
    )
    second = write_cdrs(
        work / "b.csv",
        [f"C{n},{ANA},SMS,2026-10-05T10:0{n}:00+02:00,1,34611111111," for n in range(2, 7)],
    )
    load_cdr_files(deps, [first], progress=False)
    summary = load_cdr_files(deps, [second], progress=False)
    assert (summary.rated, summary.duplicate) == (3, 2)
    assert len(charges(deps)) == 7
    assert main_balance(deps, ana) == 500 - 7 * 9


def test_an_id_repeated_inside_one_file_is_rated_once_from_its_first_copy(
    deps: Deps, work: Path
) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA, balance=500)
    path = write_cdrs(
        work / "r.csv",
        [
            f"R1,{ANA},SMS,2026-10-05T10:00:00+02:00,1,34611111111,",
            f"R1,{ANA},VOICE,2026-10-05T10:01:00+02:00,600,34611111111,",
            f"R2,{ANA},SMS,2026-10-05T10:02:00+02:00,1,34611111111,",
        ],
    )
    summary = load_cdr_files(deps, [path], progress=False)
    assert (summary.rated, summary.duplicate) == (2, 1)
    assert main_balance(deps, ana) == 500 - 2 * 9  # two SMS; the repeated id's call is not rated


def test_a_load_leaves_the_garbage_collector_as_it_found_it(deps: Deps, work: Path) -> None:
    seed_catalog(deps)
    add_subscriber(deps, ANA)
    path = copy_fixture("mixed.csv", work)
    assert gc.isenabled()
    load_cdr_files(deps, [path], progress=False)
    assert gc.isenabled()
    gc.disable()
    try:
        load_cdr_files(deps, [path], progress=False)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_folder_and_a_gz_file_load_and_reject_files_are_not_reread(
    deps: Deps, work: Path
) -> None:
    seed_catalog(deps)
    add_subscriber(deps, ANA)
    copy_fixture("mixed.csv", work)
    with gzip.open(work / "more.csv.gz", "wt", encoding="utf-8") as handle:
        handle.write(HEADER + f"G1,{ANA},SMS,2026-10-07T10:00:00+02:00,1,34611111111,\n")
    load_cdr_files(deps, [work], progress=False)
    summary = load_cdr_files(deps, [work], progress=False)  # the rejects file is now inside
    assert summary.files == 2
    assert (summary.read, summary.duplicate) == (14, 7)


def test_a_prepaid_balance_falls_by_exactly_the_sum_of_its_charges_and_may_go_negative(
    deps: Deps, work: Path
) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA, balance=30)
    rows = [f"N{n},{ANA},VOICE,2026-10-05T10:{n:02d}:00+02:00,61,34911234567," for n in range(3)]
    summary = load_cdr_files(deps, [write_cdrs(work / "n.csv", rows)], progress=False)

    assert main_balance(deps, ana) == 30 - sum(c[0] for c in charges(deps).values()) == -42
    assert summary.negative_balance == 2
    with deps.db.connect() as conn:
        flags = dict(conn.execute(select(rated_cdrs.c.cdr_id, rated_cdrs.c.flags)).all())
    assert flags == {"N0": 0, "N1": 1, "N2": 1}


def test_allowances_are_used_before_money_and_carry_across_batches(deps: Deps, work: Path) -> None:
    seed_catalog(deps)
    bob = add_subscriber(deps, "34600300400", prepaid=False)
    rows = [f"P{n},34600300400,VOICE,2026-10-05T1{n}:00:00+02:00,50,34911234567," for n in range(4)]
    load_cdr_files(deps, [write_cdrs(work / "p.csv", rows)], batch_size=1, progress=False)

    got = charges(deps)
    # 120 s included: two 60 s calls covered, then money at 0.12/min (peak).
    expected = [(0, 60, 60), (0, 60, 60), (12, 60, 0), (12, 60, 0)]
    assert [got[f"P{n}"][:3] for n in range(4)] == expected
    with deps.db.connect() as conn:
        used, granted = conn.execute(
            select(allowance_balances.c.used, allowance_balances.c.granted).where(
                allowance_balances.c.subscriber_id == bob
            )
        ).one()
    assert (used, granted) == (120, 120)


def test_the_subscriber_is_the_one_holding_the_msisdn_at_the_event_time(
    deps: Deps, work: Path
) -> None:
    seed_catalog(deps)
    old = add_subscriber(
        deps,
        ANA,
        balance=100,
        activated_at=datetime(2025, 1, 1),
        terminated_at=datetime(2026, 1, 1),
    )
    new = add_subscriber(deps, ANA, balance=100, activated_at=datetime(2026, 4, 1))
    rows = [
        f"T1,{ANA},SMS,2025-06-01T10:00:00Z,1,34611111111,",
        f"T2,{ANA},SMS,2026-02-01T10:00:00Z,1,34611111111,",  # quarantine: nobody held it
        f"T3,{ANA},SMS,2026-06-01T10:00:00Z,1,34611111111,",
    ]
    summary = load_cdr_files(deps, [write_cdrs(work / "t.csv", rows)], progress=False)
    assert (summary.rated, summary.rejected) == (2, 1)
    assert (main_balance(deps, old), main_balance(deps, new)) == (91, 91)


def test_an_asterisk_master_csv_loads_unchanged(deps: Deps, work: Path) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA, balance=1000)
    paths = [copy_fixture(name, work) for name in ("asterisk-16.csv", "asterisk-18.csv")]
    summary = load_cdr_files(deps, paths, fmt="asterisk", progress=False)
    assert (summary.read, summary.rated, summary.skipped, summary.rejected) == (7, 4, 3, 0)
    # 61 s peak -> 24; 120 s to the UK -> 100; 61 s peak -> 24; 30 s peak -> 12
    assert main_balance(deps, ana) == 1000 - 160
    again = load_cdr_files(deps, paths, fmt="asterisk", progress=False)
    assert (again.rated, again.duplicate) == (0, 4)


def test_a_missing_path_fails_before_anything_is_loaded(deps: Deps, work: Path) -> None:
    seed_catalog(deps)
    add_subscriber(deps, ANA)
    with pytest.raises(CdrFileError, match="no such file"):
        load_cdr_files(deps, [copy_fixture("mixed.csv", work), work / "nope.csv"])
    assert charges(deps) == {}


def test_a_file_without_the_header_is_reported_unreadable_and_others_still_load(
    deps: Deps, work: Path
) -> None:
    seed_catalog(deps)
    add_subscriber(deps, ANA)
    bad = work / "a-bad.csv"
    bad.write_text("just,some,words\n", encoding="utf-8")
    summary = load_cdr_files(deps, [bad, copy_fixture("mixed.csv", work)], progress=False)
    assert len(summary.unreadable) == 1 and "a-bad.csv" in summary.unreadable[0]
    assert summary.rated == 6


def test_each_file_read_to_its_end_is_announced_once_it_is_loaded(deps: Deps, work: Path) -> None:
    seed_catalog(deps)
    add_subscriber(deps, ANA)
    bad = work / "b-bad.csv"
    bad.write_text("just,some,words\n", encoding="utf-8")
    mixed = copy_fixture("mixed.csv", work)
    loaded: list[tuple[str, int]] = []

    def on_file_loaded(path: Path) -> None:
        loaded.append((path.name, len(charges(deps))))

    load_cdr_files(deps, [mixed, bad], progress=False, on_file_loaded=on_file_loaded)

    assert loaded == [("mixed.csv", 6)]


# --- Concurrency and crashes ---------------------------------------------------------------


def many_cdrs(path: Path, count: int, msisdns: list[str], id_prefix: str = "M") -> Path:
    start = datetime(2026, 10, 1, 6, 0)
    rows = []
    for n in range(count):
        at = start + timedelta(seconds=37 * n)
        msisdn = msisdns[n % len(msisdns)]
        service = ("VOICE", "SMS", "DATA")[n % 3]
        quantity = {"VOICE": 1 + n % 400, "SMS": 1, "DATA": 1000 + 997 * n}[service]
        rows.append(
            f"{id_prefix}{n:06d},{msisdn},{service},{at:%Y-%m-%dT%H:%M:%S}Z,{quantity},34911,"
        )
    return write_cdrs(path, rows)


def db_state(deps: Deps) -> tuple[object, ...]:
    with deps.db.connect() as conn:
        cdrs = conn.execute(
            select(
                rated_cdrs.c.cdr_id,
                rated_cdrs.c.charge_minor,
                rated_cdrs.c.allowance_used,
                rated_cdrs.c.flags,
            ).order_by(rated_cdrs.c.cdr_id)
        ).all()
        money = conn.execute(
            select(balances.c.subscriber_id, balances.c.amount_minor).order_by(
                balances.c.subscriber_id
            )
        ).all()
        allowances = conn.execute(
            select(
                allowance_balances.c.subscriber_id,
                allowance_balances.c.period_start,
                allowance_balances.c.used,
            ).order_by(allowance_balances.c.subscriber_id, allowance_balances.c.period_start)
        ).all()
    return tuple(cdrs), tuple(money), tuple(allowances)


def reset_usage(deps: Deps, opening: dict[int, int]) -> None:
    with deps.db.begin() as conn:
        conn.execute(delete(rated_cdrs))
        conn.execute(delete(allowance_balances))
        for subscriber_id, amount in opening.items():
            conn.execute(
                update(balances)
                .where(balances.c.subscriber_id == subscriber_id)
                .values(amount_minor=amount)
            )


def test_two_loaders_on_the_same_file_at_once_add_everything_exactly_once(
    deps: Deps, work: Path
) -> None:
    seed_catalog(deps)
    msisdns = ["34600000001", "34600000002", "34600000003"]
    ids = [add_subscriber(deps, m, balance=5000, prepaid=n != 2) for n, m in enumerate(msisdns)]
    path = many_cdrs(work / "m.csv", 1500, msisdns)

    results = []

    def load() -> None:
        results.append(load_cdr_files(deps, [path], batch_size=100, progress=False))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(r.rated for r in results) == 1500
    assert sum(r.duplicate for r in results) == 1500
    concurrent = db_state(deps)
    reset_usage(deps, {i: 5000 for i in ids[:2]})
    load_cdr_files(deps, [path], progress=False)
    assert db_state(deps) == concurrent


def test_a_load_killed_midway_and_run_again_ends_as_one_clean_run(deps: Deps, work: Path) -> None:
    seed_catalog(deps)
    msisdns = ["34600000001", "34600000002"]
    ids = [add_subscriber(deps, m, balance=3000, prepaid=n == 0) for n, m in enumerate(msisdns)]
    path = many_cdrs(work / "k.csv", 6000, msisdns)
    env = {
        **os.environ,
        "MICROBSS_DATA_DIR": str(deps.settings.data_dir),
        "MICROBSS_ENGINE_DB_URL": deps.db.url.render_as_string(hide_password=False),
        "MICROBSS_SECRET": "test-secret",
        "MICROBSS_TIME_ZONE": deps.settings.time_zone,
    }
    command = [sys.executable, "-m", "microbss", "engine", "cdr", "load", str(path)]
    loader = subprocess.Popen(
        [*command, "--batch-size", "20"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and loader.poll() is None:
            with deps.db.connect() as conn:
                if conn.execute(select(func.count()).select_from(rated_cdrs)).scalar_one() >= 200:
                    break
            time.sleep(0.05)  # polling for progress, not waiting for an outcome
        assert loader.poll() is None, "the load finished before it could be killed"
        loader.send_signal(signal.SIGKILL)
        loader.wait()
    finally:
        if loader.poll() is None:
            loader.kill()
    with deps.db.connect() as conn:
        partial = conn.execute(select(func.count()).select_from(rated_cdrs)).scalar_one()
    assert 0 < partial < 6000

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"duplicate: {partial}" in rerun.stdout
    after_crash = db_state(deps)

    reset_usage(deps, {ids[0]: 3000})
    load_cdr_files(deps, [path], progress=False)
    assert db_state(deps) == after_crash


def test_demo_cdrs_are_generated_and_loaded_through_the_loader_once(deps: Deps) -> None:
    from microbss.engine.jobs.demo_cdrs import generate_demo_cdrs

    seed_catalog(deps)
    ids = [
        add_subscriber(deps, "34600000001", balance=5000, activated_at=datetime(2020, 1, 1)),
        add_subscriber(deps, "34600000002", prepaid=False, activated_at=datetime(2020, 1, 1)),
    ]
    path = generate_demo_cdrs(deps, ids, months=3)
    loaded = len(charges(deps))
    assert loaded > 300
    assert not path.with_name(path.name + ".rejects.csv").exists()
    generate_demo_cdrs(deps, ids, months=3)
    assert len(charges(deps)) == loaded


# --- The reader process ------------------------------------------------------------------


def test_a_reader_process_loads_exactly_what_the_loader_reads_itself(
    deps: Deps, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_catalog(deps)
    msisdns = [ANA, "34600000002", "34600000003"]
    ids = [add_subscriber(deps, m, balance=900, prepaid=n != 1) for n, m in enumerate(msisdns)]
    mixed = copy_fixture("mixed.csv", work)
    many = many_cdrs(work / "m.csv", 3000, msisdns)
    with gzip.open(work / "z.csv.gz", "wt", encoding="utf-8") as handle:
        handle.write(HEADER + f"G1,{ANA},SMS,2026-10-07T10:00:00+02:00,1,34611111111,\n")
    bad = work / "bad.csv"
    bad.write_text("just,some,words\n", encoding="utf-8")
    files = [mixed, many, work / "z.csv.gz", bad]

    def load() -> tuple[object, ...]:
        summary = load_cdr_files(deps, files, batch_size=700, progress=False)
        rejects = (work / "mixed.csv.rejects.csv").read_text(encoding="utf-8")
        counts = (summary.read, summary.rated, summary.rejected, summary.duplicate)
        money = (summary.negative_balance, summary.charged_minor, len(summary.unreadable))
        return counts, money, rejects, db_state(deps)

    in_process = load()
    reset_usage(deps, {ids[0]: 900, ids[2]: 900})
    monkeypatch.setattr(cdr_loader, "READER_PROCESS_MIN_BYTES", 0)
    by_reader = load()

    assert by_reader == in_process
    assert in_process[0] == (3000 + 13 + 1, 3000 + 6 + 1, 7, 0)
    again = load_cdr_files(deps, files, batch_size=700, progress=False)
    assert (again.rated, again.duplicate) == (0, 3007)


def test_a_file_left_midway_by_the_reader_process_leaves_the_next_file_whole(
    deps: Deps, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_catalog(deps)
    msisdns = [ANA, "34600000002"]
    ana = add_subscriber(deps, ANA, balance=900)
    add_subscriber(deps, msisdns[1], prepaid=False)
    first = many_cdrs(work / "a.csv", 1000, msisdns, id_prefix="A")
    # Its first row is rejected, and its reject file cannot be written (a full disk): the load
    # leaves it after its first chunk, while the reader process has read on.
    broken = many_cdrs(work / "b.csv", 3000, msisdns, id_prefix="B")
    with broken.open("r+", encoding="utf-8") as handle:
        text = handle.read()
        handle.seek(0)
        handle.write(text.replace(HEADER, HEADER + f"B-bad,{ANA},FAX,2026-10-01T06:00:00Z,1,,\n"))
    last = many_cdrs(work / "c.csv", 3000, msisdns, id_prefix="C")
    add_reject = cdr_loader.RejectFile.add

    def disk_full_for_b(rejects: cdr_loader.RejectFile, *row: object) -> None:
        if rejects.path.name.startswith("b.csv"):
            raise OSError(28, "No space left on device")
        add_reject(rejects, *row)  # type: ignore[arg-type]

    monkeypatch.setattr(cdr_loader.RejectFile, "add", disk_full_for_b)
    monkeypatch.setattr(cdr_loader, "READER_PROCESS_MIN_BYTES", 0)

    summary = load_cdr_files(deps, [first, broken, last], batch_size=700, progress=False)

    assert len(summary.unreadable) == 1 and "b.csv" in summary.unreadable[0]
    assert summary.rated == 4000
    by_reader = db_state(deps)
    reset_usage(deps, {ana: 900})
    monkeypatch.undo()
    load_cdr_files(deps, [first, last], batch_size=700, progress=False)  # read in process
    assert db_state(deps) == by_reader


def test_a_folder_of_a_thousand_files_some_read_by_the_reader_process_loads_whole(
    deps: Deps, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hundreds of files asked of the reader at once would fill the pipe of requests while the
    # reader waits for the loader to take its replies, and both would stop: here 500 small
    # files, read in process, come before 500 that the reader process reads.
    seed_catalog(deps)
    add_subscriber(deps, ANA, balance=100_000)
    sms = f"{ANA},SMS,2026-10-05T10:00:00Z,1,34911,"
    for n in range(1000):
        rows = [f"S{n}-1,{sms}"] + ([f"S{n}-2,{sms}"] if n >= 500 else [])
        write_cdrs(work / f"{n:04d}.csv", rows)
    monkeypatch.setattr(cdr_loader, "READER_PROCESS_MIN_BYTES", (work / "0999.csv").stat().st_size)
    summaries = []
    load = threading.Thread(
        target=lambda: summaries.append(load_cdr_files(deps, [work], progress=False)),
        daemon=True,
    )
    load.start()
    load.join(timeout=120)
    assert not load.is_alive(), "the load stopped"
    assert (summaries[0].files, summaries[0].rated) == (1000, 1500)


def test_a_load_stopped_by_an_error_stops_its_reader_process_at_once(
    deps: Deps, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_catalog(deps)
    msisdns = [ANA, "34600000002"]
    add_subscriber(deps, ANA, balance=900)
    add_subscriber(deps, msisdns[1], prepaid=False)
    files = [many_cdrs(work / f"{n}.csv", 3000, msisdns, id_prefix=f"F{n}") for n in range(3)]
    monkeypatch.setattr(cdr_loader, "READER_PROCESS_MIN_BYTES", 0)

    def stop(path: Path) -> None:
        raise KeyboardInterrupt  # the operator's Ctrl-C, while the reader reads on

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        load_cdr_files(deps, files, batch_size=100, progress=False, on_file_loaded=stop)
    assert time.monotonic() - started < 3  # not the 5 s a reader that will not stop is given
    assert len(charges(deps)) == 3000


def test_a_load_leaves_the_page_cache_and_checkpoint_threshold_of_its_pooled_connection_as_it_found_them(  # noqa: E501
    deps: Deps, work: Path
) -> None:
    if deps.db.dialect.name != "sqlite":
        pytest.skip("SQLite settings")
    seed_catalog(deps)
    add_subscriber(deps, ANA)
    settings = ("PRAGMA cache_size", "PRAGMA wal_autocheckpoint")
    with deps.db.connect() as conn:
        usual = [conn.exec_driver_sql(pragma).scalar_one() for pragma in settings]
    load_cdr_files(deps, [copy_fixture("mixed.csv", work)], progress=False)
    with deps.db.connect() as conn:
        assert [conn.exec_driver_sql(pragma).scalar_one() for pragma in settings] == usual
