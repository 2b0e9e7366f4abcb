"""CDR file formats: turn the lines of a CDR file into usage records, rejects and skips.

Two formats (documented for operators in docs/cdr-format.md):

- ``csv``: microbss's own CSV with a header row
  ``cdr_id,msisdn,service,start_time,quantity,other_party,zone`` (zone optional).
- ``asterisk``: the ``Master.csv`` that Asterisk's cdr_csv module writes, loaded unchanged. Its
  column layout depends on the switch's cdr.conf (loguniqueid, loguserfield, newcdrcolumns), so
  it is detected per line from the number of fields.

Each parser yields ``(line_no, raw_line, result)`` where result is a :class:`CdrRecord`, a
:class:`Rejected` (bad row, with a reason for the reject file) or a :class:`Skipped` (a row that
is valid but not billable, e.g. an unanswered call). Parsers check each row on its own; whether
the subscriber, service and tariff exist is the loader's business.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from microbss.engine.domain.catalog import Zone

MAX_CDR_ID_LENGTH = 100
MAX_OTHER_PARTY_LENGTH = 32
MAX_QUANTITY = 10**15  # far above any real event; stops absurd values overflowing totals

OWN_CSV_COLUMNS = ("cdr_id", "msisdn", "service", "start_time", "quantity", "other_party", "zone")
OWN_CSV_REQUIRED = OWN_CSV_COLUMNS[:-1]
ZONES = {zone.value: zone for zone in Zone}
LONGEST_DATE_WITH_Z = len("2026-10-05Z")
DIGITS_BELOW_MAX_QUANTITY = len(str(MAX_QUANTITY)) - 1


class CdrFormatError(ValueError):
    """The file as a whole is not in the expected format (e.g. a missing header column)."""


class CdrRecord(NamedTuple):  # a named tuple: built once per CDR, a frozen dataclass costs 4x
    cdr_id: str
    msisdn: str  # digits only, no leading "+"
    service_id: str
    started_at: datetime  # naive UTC
    quantity: int
    other_party: str
    zone: Zone | None  # None: derive from other_party when rating


# CdrRecord from a tuple without the named tuple's Python-level __new__: once per CDR.
_new_record = functools.partial(tuple.__new__, CdrRecord)


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str


ParsedLine = tuple[int, str, CdrRecord | Rejected | Skipped]
Parser = Callable[[Iterable[str], ZoneInfo], Iterator[ParsedLine]]


class _LineTap:
    """Iterates the file's lines for csv.reader and remembers the last one (or all of them), so
    a rejected row can be copied to the reject file exactly as it was read."""

    __slots__ = ("_keep_all", "_lines", "last", "lines")

    def __init__(self, lines: Iterable[str], keep_all: bool = False) -> None:
        self._lines = iter(lines)
        self._keep_all = keep_all
        self.last = ""
        self.lines: list[str] = []

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        self.last = next(self._lines)
        if self._keep_all:
            self.lines.append(self.last)
        return self.last


# --- Field checks shared by both formats ----------------------------------------------------


def is_msisdn(text: str) -> bool:
    """The one rule for an MSISDN in a CDR: 5 to 15 ASCII digits, nothing else."""
    return 5 <= len(text) <= 15 and text.isascii() and text.isdigit()


def normalise_msisdn(text: str) -> str | None:
    """ "+34600123456" -> "34600123456"; None unless :func:`is_msisdn` after that."""
    digits = text.strip()
    if digits.startswith("+"):
        digits = digits[1:]
    return digits if is_msisdn(digits) else None


def parse_quantity(text: str, what: str) -> int | Rejected:
    try:
        value = int(text.strip())
    except ValueError:
        return Rejected(f"bad {what} {text!r}: expected a whole number")
    if value < 0:
        return Rejected(f"negative {what} {value}")
    if value > MAX_QUANTITY:
        return Rejected(f"{what} {value} is too large")
    return value


def _utc_from_offset_time(text: str) -> datetime | Rejected:
    if text[-1:] == "Z" and len(text) > LONGEST_DATE_WITH_Z:
        # The common case, UTC: parsing it without the Z gives the naive UTC value directly,
        # saving two datetime operations per CDR. (A date without a time is still refused.)
        try:
            parsed = datetime.fromisoformat(text[:-1])
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            return parsed
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return Rejected(f"bad time {text!r}: expected ISO 8601 like 2026-10-05T14:03:22+02:00")
    offset = parsed.utcoffset()
    if offset is None:
        return Rejected(f"bad time {text!r}: no UTC offset (add e.g. +02:00 or Z)")
    return parsed.replace(tzinfo=None) - offset


def utc_from_local_time(text: str, tz: ZoneInfo) -> datetime | Rejected:
    """A switch's "YYYY-MM-DD HH:MM:SS" in ``tz`` as naive UTC. A time inside the hour skipped
    when clocks go forward cannot have been logged and is rejected; a time in the repeated hour
    when clocks go back is read as its first occurrence (summer time)."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return Rejected(f"bad time {text!r}: expected YYYY-MM-DD HH:MM:SS")
    if parsed.tzinfo is not None:
        return parsed.replace(tzinfo=None) - (parsed.utcoffset() or timedelta(0))
    local = parsed.replace(tzinfo=tz)
    utc = local.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != parsed:
        return Rejected(f"bad time {text!r}: does not exist in {tz.key} (clock change)")
    return utc.replace(tzinfo=None)


# --- microbss CSV ---------------------------------------------------------------------------


def _own_csv_columns(header: list[str]) -> dict[str, int]:
    names = [name.strip().lower() for name in header]
    missing = [name for name in OWN_CSV_REQUIRED if name not in names]
    if missing:
        raise CdrFormatError(
            f"the header must name the columns {','.join(OWN_CSV_COLUMNS)} (zone optional); "
            f"missing: {', '.join(missing)}"
        )
    return {name: names.index(name) for name in OWN_CSV_COLUMNS if name in names}


class OwnCsvLayout(NamedTuple):
    """Where a microbss CSV file's columns are, from its header."""

    header_lines: int  # the line number of the header's last line
    width: int  # the fewest fields a row may have: a trailing zone may be left off
    positions: tuple[int, int, int, int, int, int, int]  # OWN_CSV_COLUMNS order; zone -1: none


def own_csv_layout(source: Iterator[str]) -> OwnCsvLayout | None:
    """Read the header from ``source``; None for an empty file."""
    header = next(source, None)
    if header is None:
        return None
    line_no, _raw, names = read_record(1, header, source)
    columns = _own_csv_columns(names)
    positions = (
        columns["cdr_id"],
        columns["msisdn"],
        columns["service"],
        columns["start_time"],
        columns["quantity"],
        columns["other_party"],
        columns.get("zone", -1),
    )
    return OwnCsvLayout(line_no, max(columns[name] for name in OWN_CSV_REQUIRED) + 1, positions)


def parse_own_csv(lines: Iterable[str], tz: ZoneInfo) -> Iterator[ParsedLine]:
    """The microbss CSV. ``tz`` is unused: every start_time carries its own UTC offset."""
    source = iter(lines)
    layout = own_csv_layout(source)
    if layout is None:
        return
    line_no, width, positions = layout
    for line in source:
        line_no += 1
        if '"' in line:
            line_no, raw, row = read_record(line_no, line, source)
        else:  # the common case, read here rather than in read_record: once per CDR
            raw = line.rstrip("\r\n")
            row = raw.split(",")
        if len(row) <= 1 and not (row and row[0].strip()):
            continue  # blank line
        yield line_no, raw, own_csv_row(row, width, positions)


def read_record(line_no: int, line: str, rest: Iterator[str]) -> tuple[int, str, list[str]]:
    """The comma-separated record that starts with ``line`` (line number ``line_no``), as
    ``(its last line number, the record as read, its fields)``. A line without a double quote
    is split on commas, which is what the csv module would do, several times faster; a line with
    one goes to the csv module, which reads on from ``rest`` through a quoted field that spans
    lines."""
    if '"' not in line:
        raw = line.rstrip("\r\n")
        return line_no, raw, raw.split(",")
    taken = _LineTap(itertools.chain((line,), rest), keep_all=True)
    row = next(csv.reader(taken), [])
    return line_no + len(taken.lines) - 1, "".join(taken.lines).rstrip("\r\n"), row


def own_csv_row(
    row: list[str], width: int, positions: tuple[int, int, int, int, int, int, int]
) -> CdrRecord | Rejected:
    if len(row) < width:
        return Rejected(f"expected at least {width} fields, found {len(row)}")
    i_id, i_msisdn, i_service, i_start, i_quantity, i_other, i_zone = positions
    cdr_id = row[i_id].strip()
    if not cdr_id:
        return Rejected("empty cdr_id")
    if len(cdr_id) > MAX_CDR_ID_LENGTH:
        return Rejected(f"cdr_id longer than {MAX_CDR_ID_LENGTH} characters")
    msisdn = row[i_msisdn]
    if not is_msisdn(msisdn):
        checked = normalise_msisdn(msisdn)  # the slow path: spaces, a leading "+", or bad
        if checked is None:
            return Rejected(f"bad msisdn {msisdn!r}: expected 5 to 15 digits")
        msisdn = checked
    service_id = row[i_service].strip().upper()
    if not service_id:
        return Rejected("empty service")
    started_at = _utc_from_offset_time(row[i_start])
    if isinstance(started_at, Rejected):
        return started_at
    text = row[i_quantity]
    if text.isdigit() and text.isascii() and len(text) <= DIGITS_BELOW_MAX_QUANTITY:
        quantity = int(text)  # plain digits: no sign, no spaces, below the maximum
    else:
        parsed = parse_quantity(text, "quantity")
        if isinstance(parsed, Rejected):
            return parsed
        quantity = parsed
    other_party = row[i_other].strip()
    if len(other_party) > MAX_OTHER_PARTY_LENGTH:
        return Rejected(f"other_party longer than {MAX_OTHER_PARTY_LENGTH} characters")
    zone: Zone | None = None
    if i_zone >= 0 and i_zone < len(row) and row[i_zone]:
        zone_text = row[i_zone].strip().upper()
        if zone_text:
            zone = ZONES.get(zone_text)
            if zone is None:
                return Rejected(
                    f"unknown zone {row[i_zone]!r}: expected NATIONAL, INTERNATIONAL or ROAMING"
                )
    return _new_record((cdr_id, msisdn, service_id, started_at, quantity, other_party, zone))


# --- Asterisk Master.csv --------------------------------------------------------------------

# The 16 columns cdr_csv always writes, in its order.
ASTERISK_BASE_COLUMNS = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
    "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
)  # fmt: skip
_BASE = len(ASTERISK_BASE_COLUMNS)
# Asterisk's uniqueid: "[systemname-]<epoch seconds>.<sequence>", e.g. "1759665802.42".
_UNIQUEID = re.compile(r"^(?:[\w.-]+-)?\d{9,}\.\d+$")


@dataclass(frozen=True, slots=True)
class AsteriskLayout:
    """Where the optional columns sit in one line (None when cdr.conf leaves them out)."""

    uniqueid: int | None
    sequence: int | None


def asterisk_layout(row: list[str]) -> AsteriskLayout | None:
    """Detect the optional columns from the field count: 16 base fields, then uniqueid
    (loguniqueid), userfield (loguserfield), then peeraccount, linkedid, sequence
    (newcdrcolumns). 17 and 20 fields hold one of uniqueid/userfield: it is the uniqueid when it
    looks like one."""
    count = len(row)
    new_columns = count >= _BASE + 3
    extra = count - _BASE - (3 if new_columns else 0)
    sequence = count - 1 if new_columns else None
    if extra == 0:
        return AsteriskLayout(uniqueid=None, sequence=sequence)
    if extra == 2:
        return AsteriskLayout(uniqueid=_BASE, sequence=sequence)
    if extra == 1:
        looks_unique = _UNIQUEID.match(row[_BASE].strip()) is not None
        return AsteriskLayout(uniqueid=_BASE if looks_unique else None, sequence=sequence)
    return None


def asterisk_cdr_id(row: list[str], layout: AsteriskLayout) -> str:
    """The switch's uniqueid (with the CDR's sequence number when logged, since one channel can
    produce several CDRs); without a uniqueid, a hash of the 16 base fields, which identify the
    call and never change, so the same line always gets the same id."""
    if layout.uniqueid is not None and row[layout.uniqueid].strip():
        cdr_id = row[layout.uniqueid].strip()
        if layout.sequence is not None and row[layout.sequence].strip():
            cdr_id = f"{cdr_id}/{row[layout.sequence].strip()}"
        if len(cdr_id) <= MAX_CDR_ID_LENGTH:
            return cdr_id
    digest = hashlib.sha256("\x1f".join(row[:_BASE]).encode("utf-8", "replace")).hexdigest()
    return f"ast-{digest[:40]}"


def parse_asterisk(lines: Iterable[str], tz: ZoneInfo) -> Iterator[ParsedLine]:
    """Asterisk Master.csv; times are the switch's local time in ``tz`` (UTC if it logs GMT)."""
    tap = _LineTap(lines)
    reader = csv.reader(tap)
    for row in reader:
        raw = tap.last.rstrip("\r\n")
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        yield reader.line_num, raw, _asterisk_row(row, tz)


def _asterisk_row(row: list[str], tz: ZoneInfo) -> CdrRecord | Rejected | Skipped:
    layout = asterisk_layout(row)
    if layout is None:
        return Rejected(f"expected 16 to 21 Asterisk CDR fields, found {len(row)}")
    disposition = row[14].strip().upper()
    if disposition != "ANSWERED":
        return Skipped(f"disposition {disposition or 'empty'} is not billable")
    msisdn = normalise_msisdn(row[1])
    if msisdn is None:
        return Rejected(f"unknown subscriber: caller (src) {row[1]!r} is not an MSISDN")
    started_at = utc_from_local_time(row[9], tz)
    if isinstance(started_at, Rejected):
        return started_at
    billsec = parse_quantity(row[13], "billsec")
    if isinstance(billsec, Rejected):
        return billsec
    other_party = row[2].strip()
    if len(other_party) > MAX_OTHER_PARTY_LENGTH:
        return Rejected(f"dst longer than {MAX_OTHER_PARTY_LENGTH} characters")
    return CdrRecord(
        cdr_id=asterisk_cdr_id(row, layout),
        msisdn=msisdn,
        service_id="VOICE",
        started_at=started_at,
        quantity=billsec,
        other_party=other_party,
        zone=None,
    )


PARSERS: dict[str, Parser] = {"csv": parse_own_csv, "asterisk": parse_asterisk}


def parser_for(fmt: str) -> Parser:
    try:
        return PARSERS[fmt]
    except KeyError:
        raise CdrFormatError(
            f"unknown CDR format {fmt!r}: expected one of {', '.join(PARSERS)}"
        ) from None
