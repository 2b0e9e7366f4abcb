"""Reading microbss CSV files: the fused fast path checks every row as the parser and the
checker do one after the other (same rows, same contexts, same reject reasons)."""

from __future__ import annotations

import io
from datetime import datetime, time
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from microbss.engine.domain.catalog import (
    Band,
    PaymentType,
    PeakHours,
    PricePlan,
    RatingStrategy,
    Tariff,
    Zone,
)
from microbss.engine.jobs.cdr_formats import parse_own_csv
from microbss.engine.jobs.cdr_reading import CdrChecker, Chunk, Subscribers, Tenure

MADRID = ZoneInfo("Europe/Madrid")
PLAN = PricePlan(
    id=1,
    code="TEST",
    name="Test plan",
    payment_type=PaymentType.PREPAID,
    currency="EUR",
    monthly_fee=0,
    peak_hours=PeakHours(weekdays=frozenset(range(5)), start=time(8), end=time(20)),
    tariffs=(
        Tariff("VOICE", Zone.NATIONAL, Band.PEAK, RatingStrategy.PER_UNIT, 12, 60, 60),
        Tariff("VOICE", Zone.NATIONAL, Band.OFFPEAK, RatingStrategy.PER_UNIT, 6, 60, 60),
        Tariff("VOICE", Zone.INTERNATIONAL, Band.ANY, RatingStrategy.PER_UNIT, 50, 60, 1),
        Tariff("SMS", Zone.NATIONAL, Band.ANY, RatingStrategy.PER_EVENT, 9),
    ),
)
SUBSCRIBERS = Subscribers(
    plans=[PLAN],
    lines=[
        Tenure("34600000001", datetime(2026, 1, 1), None, 0),
        Tenure("34600000002", datetime(2026, 1, 1), datetime(2026, 10, 6), 0),  # reused:
        Tenure("34600000002", datetime(2026, 10, 6), None, 0),
        Tenure("34600000003", datetime(2026, 10, 6, 12), None, 0),  # activated mid-month
    ],
    services=frozenset({"VOICE", "SMS", "DATA"}),
    tz=MADRID,
    country_code="34",
)
HEADER = "cdr_id,msisdn,service,start_time,quantity,other_party,zone\n"

# Per column: values in the usual shape (first), then values any file may hold.
USUAL = [
    ["A1", "A2", "A3"],
    ["34600000001", "34600000002", "34600000003"],
    ["VOICE", "SMS"],
    ["2026-10-05T10:03:08Z", "2026-10-06T19:59:59Z", "2026-10-06T23:30:00.250Z"],
    ["61", "0", "1"],
    ["34911234567", "00441632960123", "+34911"],
    ["", "NATIONAL", "INTERNATIONAL"],
]
ODD = [
    [" A3 ", "", "x" * 101],
    ["+34600000001", "3460", "9", "34699999999"],
    ["voice", " SMS", "DATA", "FAX", ""],
    ["2026-10-06T14:00:00+02:00", "2026-10-05", "2026-10-05Z", "2026-13-05T10:00:00Z",
     "2026-10-06T11:00:00+00:00Z", "2025-10-05T10:00:00Z", "2026-10-06 12:30:00Z"],
    ["-5", " 7", "1" * 16, "abc", "+3"],
    ["", " 0034 ", "9" * 33, "0034911"],
    ["ROAMING", "roaming", "ORBIT", " INTERNATIONAL"],
]  # fmt: skip
FIELDS = st.tuples(
    st.tuples(*(st.sampled_from(values) for values in USUAL)),
    st.integers(-1, len(USUAL) - 1),  # the column to give an odd value, if any
    st.integers(0, 6),
).map(
    lambda drawn: tuple(
        ODD[n][drawn[2] % len(ODD[n])] if n == drawn[1] else value
        for n, value in enumerate(drawn[0])
    )
)
EXTRAS = st.sampled_from(["", "", "", "", ",", ",extra", '"quoted, field"', '"two\nlines"', "\n"])


def chunks_of(text: str, fused: bool) -> list[Chunk]:
    checker = CdrChecker(SUBSCRIBERS)
    if not fused:  # the parser, then the checker
        checker._checked_own_csv = lambda lines, after: checker._checked(  # type: ignore[method-assign]
            parse_own_csv(lines, MADRID), after
        )
    return list(checker.read(io.StringIO(text), "csv", MADRID, 5, 3))


def file_text(rows: list[tuple[tuple[str, ...], str]]) -> str:
    """The rows as a file: usual ids numbered by row, so most are unique, and the whole list
    twice, so the second copy repeats ids and meets every context already known."""
    lines = []
    for n, (drawn, extra) in enumerate(rows):
        fields = (f"{drawn[0]}-{n}" if drawn[0] in USUAL[0] else drawn[0], *drawn[1:])
        line = ",".join(fields)
        if extra == "\n":
            line = ""  # a blank line
        elif extra.startswith(","):
            line = ",".join(fields[:-1]) + extra  # one field fewer or more
        elif extra:
            line = line + "," + extra
        lines.append(line + "\n")
    return HEADER + "".join(lines * 2)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(FIELDS, EXTRAS), max_size=30))
def test_the_fused_csv_reader_checks_every_row_as_parser_and_checker_do(
    rows: list[tuple[tuple[str, ...], str]],
) -> None:
    text = file_text(rows)
    assert chunks_of(text, fused=True) == chunks_of(text, fused=False)


def rows_by_key(checker: CdrChecker, chunks: list[Chunk]) -> list[object]:
    """The chunks as read, with each row's context number replaced by what it names."""
    named = {number: key for key, number in checker._contexts.items()}
    return [
        (
            [(*row[:3], named[row[3]], *row[4:]) for row in chunk.rows],
            chunk.rejects,
            (chunk.read, chunk.skipped, chunk.duplicate, chunk.batch_end, chunk.end_of_file),
        )
        for chunk in chunks
    ]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(FIELDS, EXTRAS), max_size=40), st.sampled_from(["csv", "asterisk"]))
def test_a_file_read_on_from_a_batch_end_gives_the_rest_of_the_file_as_read_whole(
    rows: list[tuple[tuple[str, ...], str]], fmt: str
) -> None:
    text = file_text(rows)
    whole_checker = CdrChecker(SUBSCRIBERS)
    whole = list(whole_checker.read(io.StringIO(text), fmt, MADRID, 5, 3))
    first_end = next(n for n, chunk in enumerate(whole) if chunk.batch_end)
    if whole[first_end].end_of_file:
        return
    rest_checker = CdrChecker(SUBSCRIBERS)
    after = whole[first_end].last_line
    rest = list(rest_checker.read(io.StringIO(text), fmt, MADRID, 5, 3, after_line=after))
    assert rows_by_key(rest_checker, rest) == rows_by_key(whole_checker, whole[first_end + 1 :])
