"""CDR file formats: the microbss CSV and every column layout of Asterisk's Master.csv."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from microbss.engine.domain.catalog import Zone
from microbss.engine.jobs.cdr_formats import (
    CdrFormatError,
    CdrRecord,
    ParsedLine,
    Rejected,
    Skipped,
    parse_asterisk,
    parse_own_csv,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "cdr"
MADRID = ZoneInfo("Europe/Madrid")
UTC = ZoneInfo("UTC")


def parse_fixture(name: str, fmt: str = "asterisk", tz: ZoneInfo = MADRID) -> list[ParsedLine]:
    parser = parse_asterisk if fmt == "asterisk" else parse_own_csv
    with open(FIXTURES / name, encoding="utf-8", newline="") as lines:
        return list(parser(lines, tz))


def records(parsed: list[ParsedLine]) -> list[CdrRecord]:
    return [result for _, _, result in parsed if isinstance(result, CdrRecord)]


def by_line(parsed: list[ParsedLine]) -> dict[int, CdrRecord | Rejected | Skipped]:
    return {line_no: result for line_no, _, result in parsed}


# --- microbss CSV -----------------------------------------------------------------------------


def test_a_good_own_csv_row_becomes_a_record_in_utc() -> None:
    first = by_line(parse_fixture("mixed.csv", "csv"))[2]
    assert first == CdrRecord(
        cdr_id="V-0001",
        msisdn="34600100200",
        service_id="VOICE",
        started_at=datetime(2026, 10, 5, 12, 3, 22),
        quantity=61,
        other_party="34911234567",
        zone=None,
    )


def test_own_csv_normalises_a_leading_plus_and_reads_the_optional_zone() -> None:
    second = by_line(parse_fixture("mixed.csv", "csv"))[3]
    assert isinstance(second, CdrRecord)
    assert (second.msisdn, second.zone) == ("34600100200", Zone.NATIONAL)


@pytest.mark.parametrize(
    ("line_no", "reason"),
    [
        (8, "no UTC offset"),
        (9, "negative quantity -5"),
        (11, "unknown zone 'ORBIT'"),
    ],
)
def test_bad_own_csv_rows_are_rejected_with_a_reason(line_no: int, reason: str) -> None:
    result = by_line(parse_fixture("mixed.csv", "csv"))[line_no]
    assert isinstance(result, Rejected)
    assert reason in result.reason


def test_a_rejected_row_keeps_its_original_line() -> None:
    parsed = {n: raw for n, raw, _ in parse_fixture("mixed.csv", "csv")}
    assert parsed[9] == "V-0008,34600100200,VOICE,2026-10-06T10:15:00+02:00,-5,34911234567,"


def test_own_csv_columns_may_come_in_any_order_and_zone_may_be_left_out() -> None:
    lines = [
        "msisdn,cdr_id,quantity,service,other_party,start_time\n",
        "34600100200,X1,3,SMS,34611111111,2026-10-05T10:00:00Z\n",
    ]
    (result,) = [r for _, _, r in parse_own_csv(lines, MADRID)]
    assert isinstance(result, CdrRecord)
    assert (result.cdr_id, result.service_id, result.quantity) == ("X1", "SMS", 3)
    assert result.started_at == datetime(2026, 10, 5, 10, 0)


def test_own_csv_without_its_header_is_not_read_at_all() -> None:
    lines = ["V-1,34600100200,VOICE,2026-10-05T14:03:22+02:00,61,34911234567,\n"]
    with pytest.raises(CdrFormatError, match="missing"):
        list(parse_own_csv(lines, MADRID))


def test_own_csv_rejects_a_short_row_and_a_bad_msisdn() -> None:
    lines = [
        "cdr_id,msisdn,service,start_time,quantity,other_party,zone\n",
        "A,34600100200,VOICE\n",
        "B,call-me,VOICE,2026-10-05T10:00:00Z,5,1,\n",
    ]
    reasons = [r.reason for _, _, r in parse_own_csv(lines, MADRID) if isinstance(r, Rejected)]
    assert "expected at least 6 fields, found 3" in reasons[0]
    assert "bad msisdn 'call-me'" in reasons[1]


def test_a_quoted_own_csv_record_reads_as_the_csv_module_reads_it_even_across_lines() -> None:
    text = (
        "cdr_id,msisdn,service,start_time,quantity,other_party,zone\r\n"
        '"Q-1",34600100200,"VOICE",2026-10-05T10:00:00Z,"7","3491, ext ""2""",\r\n'
        '"Q-2\r\n",34600100200,SMS,2026-10-05T10:01:00Z,1,34911,\r\n'
        "P-3,34600100200,SMS,2026-10-05T10:02:00Z,1,34911,\r\n"
    )
    parsed = list(parse_own_csv(io.StringIO(text, newline=""), MADRID))
    assert [line_no for line_no, _, _ in parsed] == [2, 4, 5]
    first, second, third = (result for _, _, result in parsed)
    assert isinstance(first, CdrRecord) and first.other_party == '3491, ext "2"'
    assert isinstance(second, CdrRecord) and second.cdr_id == "Q-2"  # trimmed, as every id
    assert isinstance(third, CdrRecord) and third.cdr_id == "P-3"
    assert parsed[1][1] == '"Q-2\r\n",34600100200,SMS,2026-10-05T10:01:00Z,1,34911,'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-05T10:00:00Z", datetime(2026, 10, 5, 10, 0)),
        ("2026-10-05T10:00:00.250Z", datetime(2026, 10, 5, 10, 0, 0, 250_000)),
        ("2026-10-05T12:00:00+02:00", datetime(2026, 10, 5, 10, 0)),
        (" 2026-10-05T10:00:00Z ", datetime(2026, 10, 5, 10, 0)),
        ("2026-10-05Z", "bad time"),
        ("2026-10-05T10:00:00", "no UTC offset"),
        ("2026-10-05T10:00:00+02:00Z", "bad time"),
    ],
)
def test_an_own_csv_start_time_is_read_to_naive_utc_or_rejected(
    text: str, expected: datetime | str
) -> None:
    lines = [
        "cdr_id,msisdn,service,start_time,quantity,other_party\n",
        f"T-1,34600100200,SMS,{text},1,34911\n",
    ]
    ((_, _, result),) = list(parse_own_csv(lines, MADRID))
    if isinstance(expected, datetime):
        assert isinstance(result, CdrRecord) and result.started_at == expected
    else:
        assert isinstance(result, Rejected) and expected in result.reason


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("61", 61), (" 61 ", 61), ("+61", 61), ("999999999999999", 10**15 - 1), ("0", 0)],
)
def test_an_own_csv_quantity_is_a_whole_number(quantity: str, expected: int) -> None:
    lines = [
        "cdr_id,msisdn,service,start_time,quantity,other_party\n",
        f"N-1,+34600100200,VOICE,2026-10-05T10:00:00Z,{quantity},34911\n",
    ]
    ((_, _, result),) = list(parse_own_csv(lines, MADRID))
    assert isinstance(result, CdrRecord)
    assert (result.quantity, result.msisdn) == (expected, "34600100200")


@pytest.mark.parametrize("quantity", ["1e3", "1000000000000001", "-1", "12 000"])
def test_an_own_csv_quantity_that_is_not_a_plain_whole_number_in_range_is_rejected(
    quantity: str,
) -> None:
    lines = [
        "cdr_id,msisdn,service,start_time,quantity,other_party\n",
        f"N-1,34600100200,VOICE,2026-10-05T10:00:00Z,{quantity},34911\n",
    ]
    ((_, _, result),) = list(parse_own_csv(lines, MADRID))
    assert isinstance(result, Rejected), result


# --- Asterisk Master.csv ----------------------------------------------------------------------


def test_the_default_16_column_layout_loads_answered_calls_and_skips_the_rest() -> None:
    parsed = parse_fixture("asterisk-16.csv")
    results = [r for _, _, r in parsed]
    assert [type(r).__name__ for r in results] == ["CdrRecord", "Skipped", "Skipped", "CdrRecord"]
    first, last = records(parsed)
    assert first.msisdn == "34600100200"
    assert first.other_party == "0034911234567"
    assert (first.service_id, first.quantity) == ("VOICE", 61)  # billsec, not duration
    assert first.started_at == datetime(2026, 10, 5, 12, 3, 22)  # 14:03:22 Madrid summer time
    assert last.msisdn == "34600100200"  # "+" dropped
    skipped = results[1]
    assert isinstance(skipped, Skipped) and "NO ANSWER" in skipped.reason


def test_clid_with_quotes_and_commas_does_not_shift_the_columns() -> None:
    last = records(parse_fixture("asterisk-16.csv"))[-1]
    assert last.quantity == 120
    assert last.other_party == "00441632960123"


def test_without_a_uniqueid_the_cdr_id_is_a_stable_hash_of_the_record() -> None:
    once = [r.cdr_id for r in records(parse_fixture("asterisk-16.csv"))]
    again = [r.cdr_id for r in records(parse_fixture("asterisk-16.csv"))]
    assert once == again
    assert len(set(once)) == 2
    assert all(cdr_id.startswith("ast-") for cdr_id in once)


def test_the_18_column_layout_uses_the_uniqueid_as_the_cdr_id() -> None:
    parsed = parse_fixture("asterisk-18.csv")
    assert [r.cdr_id for r in records(parsed)] == ["1759821300.42", "pbx1-1759821600.44"]
    assert isinstance(by_line(parsed)[3], Skipped)  # FAILED


def test_a_17th_column_that_is_not_a_uniqueid_is_read_as_the_userfield() -> None:
    (record,) = records(parse_fixture("asterisk-17-userfield.csv"))
    assert record.cdr_id.startswith("ast-")
    assert record.quantity == 60


def test_the_21_column_layout_adds_the_sequence_so_one_channels_cdrs_stay_distinct() -> None:
    ids = [r.cdr_id for r in records(parse_fixture("asterisk-21.csv"))]
    assert ids == ["1759996800.60/7", "1759996800.60/8"]


def test_a_switch_logging_gmt_is_read_with_timezone_utc() -> None:
    (record,) = records(parse_fixture("asterisk-gmt.csv", tz=UTC))
    assert record.cdr_id == "1760121000.70"
    assert record.started_at == datetime(2026, 10, 10, 18, 30)
    (local,) = records(parse_fixture("asterisk-gmt.csv", tz=MADRID))
    assert local.started_at == datetime(2026, 10, 10, 16, 30)


def test_an_asterisk_line_with_a_wrong_field_count_or_bad_time_is_rejected() -> None:
    base = (
        '"","34600100200","911","ctx","clid","chan","dst","Dial","x",'
        '"{start}","","",10,10,"ANSWERED","DOCUMENTATION"{extra}\n'
    )
    lines = [
        base.format(start="2026-10-05 10:00:00", extra=',"a","b","c","d","e","f"'),
        base.format(start="05/10/2026 10:00", extra=""),
        base.format(start="2026-03-29 02:30:00", extra=""),  # skipped hour in Madrid
    ]
    reasons = [r.reason for _, _, r in parse_asterisk(lines, MADRID) if isinstance(r, Rejected)]
    assert "expected 16 to 21 Asterisk CDR fields, found 22" in reasons[0]
    assert "bad time '05/10/2026 10:00'" in reasons[1]
    assert "does not exist in Europe/Madrid" in reasons[2]


def test_a_negative_billsec_is_rejected() -> None:
    line = (
        '"","34600100200","911","ctx","clid","chan","dst","Dial","x",'
        '"2026-10-05 10:00:00","","",10,-3,"ANSWERED","DOCUMENTATION"\n'
    )
    ((_, _, result),) = list(parse_asterisk([line], MADRID))
    assert isinstance(result, Rejected) and "negative billsec -3" in result.reason
