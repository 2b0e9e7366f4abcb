"""The reading side of the CDR loader: CDR files in, checked rows ready to rate out.

Reading a CDR file means parsing each line (:mod:`cdr_formats`) and checking it against the
run's subscribers and price plans: the line that held the MSISDN at the event time, a known
service, a tariff for the event's zone and band. What comes out is a stream of :class:`Chunk`
values, each carrying

- the good rows as compact tuples ``(started_at text, cdr_id, line, context, quantity,
  other_party)``, sorted in rating order (start time, then CDR id); ``started_at`` is the naive
  UTC instant in the database's text format (fixed width, so text order is time order) and
  ``line`` the index of the subscriber line in :attr:`Subscribers.lines`;
- the rejects (line number, reason, the line as read) in file order, for the reject file;
- how many lines were read and skipped, and how many rows repeated a CDR id already in the
  batch (the first copy in the file wins; the rest count as duplicates).

A *context* is a small integer naming one (price plan, service, zone, band): the rate of the
CDR. A chunk lists the contexts it uses for the first time.

Every ``batch_size`` good rows the stream marks a batch end: the loader commits each batch in
one transaction. A chunk is a whole batch, sorted once where it is read: the loader cannot
start on a batch before all of it is read anyway, and merging sorted chunks of one batch took
it ~1 us per CDR (Python compares rows element by element).

The same stream runs in the loader's process or, for large files, in a reader process
(:class:`ReaderProcess`, started with ``python -c``, a fresh interpreter like multiprocessing's
spawn) that does the parsing and checking on the machine's other core while the loader rates
and stores. It is asked for the next large file as the loader starts on one, so it reads the
next file while the loader stores the one before. The first batch of the run's first large file
is read in the loader's process while the reader process starts up; the reader reads on from
the line after it (``after_line``). This module imports neither SQLAlchemy nor the storage
layer, so that process starts in a fraction of a second.
Nothing here touches the database: exactly-once, rating and crash safety stay with the
loader's transactions.
"""

from __future__ import annotations

import gc
import gzip
import io
import os
import pickle
import queue
import select
import subprocess
import sys
import threading
import traceback
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo

from microbss.engine.domain.catalog import Band, PricePlan, Zone
from microbss.engine.domain.rating import RateCard, zone_for_other_party
from microbss.engine.jobs.cdr_formats import (
    DIGITS_BELOW_MAX_QUANTITY,
    LONGEST_DATE_WITH_Z,
    MAX_CDR_ID_LENGTH,
    MAX_OTHER_PARTY_LENGTH,
    ZONES,
    CdrFormatError,
    CdrRecord,
    ParsedLine,
    Skipped,
    is_msisdn,
    own_csv_layout,
    own_csv_row,
    parser_for,
    read_record,
)

# A checked row: (started_at text, cdr_id, line, context, quantity, other_party).
ReadRow = tuple[str, str, int, int, int, str]
# A line as checked: (line number, the line as read, the row to rate | reject reason | None
# for a skipped line).
CheckedLine = tuple[int, str, ReadRow | str | None]
# A context first used in a chunk: (context, plan index, service id, zone, band).
NewContext = tuple[int, int, str, Zone, Band]


class CdrFileError(Exception):
    """A file could not be read at all (missing, unreadable, not the stated format)."""


# The errors that make a file unreadable as a whole; any other error is a fault of the loader.
FILE_ERRORS = (OSError, EOFError, gzip.BadGzipFile, CdrFormatError)


def database_time(instant: datetime) -> str:
    """A naive UTC instant as SQLAlchemy stores a DateTime in SQLite ("YYYY-MM-DD HH:MM:SS.ffffff"),
    which PostgreSQL's COPY also reads as a timestamp."""
    return instant.isoformat(" ", "microseconds")


@contextmanager
def open_cdr_text(path: Path) -> Iterator[IO[str]]:
    """The file as text (gunzipped when it ends in .gz); undecodable bytes become U+FFFD so
    one bad byte rejects one row, not the file. A UTF-8 byte order mark is dropped."""
    try:
        raw: Any = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise CdrFileError(f"{path}: {exc.strerror or exc}") from None
    with raw, io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="") as text:
        yield text


# --- What checking needs: the run's lines and plans ---------------------------------------------


class Tenure(NamedTuple):
    """One subscriber line's tenure of an MSISDN: [activated_at, terminated_at)."""

    msisdn: str
    activated_at: datetime
    terminated_at: datetime | None
    plan: int  # index into Subscribers.plans


@dataclass(frozen=True)
class Subscribers:
    """The run's subscriber lines (by index: the loader holds the same list) and price plans,
    plus the operator settings that checking uses; plain data, so it can go to a reader
    process."""

    plans: list[PricePlan]
    lines: list[Tenure]
    services: frozenset[str]
    tz: ZoneInfo  # the operator's zone: peak bands
    country_code: str  # the operator's: zones of numbers without one


@dataclass
class Chunk:
    rows: list[ReadRow] = field(default_factory=list)
    new_contexts: list[NewContext] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    read: int = 0
    skipped: int = 0
    duplicate: int = 0
    batch_end: bool = False
    end_of_file: bool = False
    last_line: int = 0  # the number of the last line read for this chunk


class _Line(NamedTuple):
    number: int  # in Subscribers.lines
    activated_at: datetime
    terminated_at: datetime | None
    plan: int
    card: RateCard


class CdrChecker:
    """Checks parsed CDRs against the subscribers and plans, and names each good row's context.
    One per reader: contexts keep their numbers across the files of a run."""

    def __init__(self, subscribers: Subscribers) -> None:
        cards = [RateCard(plan, subscribers.tz) for plan in subscribers.plans]
        self._by_msisdn: dict[str, list[_Line]] = {}
        for index, tenure in enumerate(subscribers.lines):
            plan = tenure.plan
            line = _Line(index, tenure.activated_at, tenure.terminated_at, plan, cards[plan])
            self._by_msisdn.setdefault(tenure.msisdn, []).append(line)
        # MSISDNs only ever held by one line, still active: the line of any event after its
        # activation, found in one lookup.
        self._sole = {
            msisdn: lines[0]
            for msisdn, lines in self._by_msisdn.items()
            if len(lines) == 1 and lines[0].terminated_at is None
        }
        self._services = subscribers.services
        self._country_code = subscribers.country_code
        self._contexts: dict[tuple[int, str, Zone, Band], int] = {}
        self._new_contexts: list[NewContext] = []  # since the last chunk
        # For the microbss CSV's fast path (see _checked_own_csv): the texts that the full
        # checks would accept unchanged.
        self._sole_as_written = {m: line for m, line in self._sole.items() if is_msisdn(m)}
        self._services_as_written = {s for s in self._services if s == s.strip().upper()}

    def read(
        self,
        text: IO[str],
        fmt: str,
        switch_tz: ZoneInfo,
        batch_size: int,
        chunk_rows: int,
        after_line: int = 0,
    ) -> Iterator[Chunk]:
        """The chunks of one file (see the module docstring); the last one ends a batch and
        the file. ``after_line``, the last line of a batch already read elsewhere: the rows up
        to it are left out, and batches are counted from there."""
        parse = parser_for(fmt)
        checked_lines = (
            self._checked_own_csv(text, after_line)
            if fmt == "csv"
            else self._checked(parse(text, switch_tz), after_line)
        )
        chunk, in_batch, seen = Chunk(), 0, set[str]()
        rows, rejects = chunk.rows, chunk.rejects
        read = skipped = line_no = 0
        for line_no, raw, checked in checked_lines:
            read += 1
            if checked.__class__ is tuple:
                cdr_id = checked[1]
                if cdr_id in seen:
                    chunk.duplicate += 1
                    continue
                seen.add(cdr_id)
                rows.append(checked)
                in_batch += 1
                if in_batch >= batch_size or len(rows) >= chunk_rows:
                    chunk.read, chunk.skipped, read, skipped = read, skipped, 0, 0
                    chunk.last_line = line_no
                    if in_batch >= batch_size:
                        chunk.batch_end, in_batch, seen = True, 0, set()
                    yield self._finished(chunk)
                    chunk = Chunk()
                    rows, rejects = chunk.rows, chunk.rejects
            elif checked is None:
                skipped += 1
            else:
                rejects.append((line_no, checked, raw))  # type: ignore[arg-type]
        chunk.read, chunk.skipped, chunk.batch_end = read, skipped, True
        chunk.end_of_file, chunk.last_line = True, line_no
        yield self._finished(chunk)

    def _finished(self, chunk: Chunk) -> Chunk:
        """``chunk`` with its rows in rating order and the contexts first used in it."""
        chunk.rows.sort()
        chunk.new_contexts, self._new_contexts = self._new_contexts, []
        return chunk

    def _checked(self, parsed: Iterator[ParsedLine], after_line: int) -> Iterator[CheckedLine]:
        """Parsed lines after ``after_line`` as checked lines: the row to rate, the reject
        reason or None (skipped)."""
        check = self._check
        for line_no, raw, result in parsed:
            if line_no <= after_line:
                continue
            if isinstance(result, CdrRecord):
                yield line_no, raw, check(result)
            elif isinstance(result, Skipped):
                yield line_no, raw, None
            else:
                yield line_no, raw, result.reason

    def _checked_own_csv(self, text: IO[str], after_line: int) -> Iterator[CheckedLine]:
        """:meth:`_checked` of :func:`parse_own_csv`, fused into one loop: ~6 us a row where
        the two steps took ~9, and the loader reads each large file's first batch itself. A
        row in the usual shape (every column, no quotes, exact service and zone names, a UTC
        time, an MSISDN with one line, a context already met) is checked here; any other goes
        through the parser and :meth:`_check`, which give its reason."""
        source = iter(text)
        layout = own_csv_layout(source)
        if layout is None:
            return
        line_no, width, positions = layout
        i_id, i_msisdn, i_service, i_start, i_quantity, i_other, i_zone = positions
        full = max(positions) + 1
        sole, services, contexts = self._sole_as_written, self._services_as_written, self._contexts
        country_code, check, from_iso = self._country_code, self._check, datetime.fromisoformat
        national = Zone.NATIONAL
        for line in source:
            line_no += 1
            if line_no <= after_line:
                continue  # a record ends on after_line, so the next line starts one
            if '"' in line:
                line_no, raw, row = read_record(line_no, line, source)
            else:
                raw = line.rstrip("\r\n")
                row = raw.split(",")
                if len(row) == full:
                    cdr_id = row[i_id].strip()
                    service_id, started, quantity = row[i_service], row[i_start], row[i_quantity]
                    other_party = row[i_other].strip()
                    zone_text = row[i_zone] if i_zone >= 0 else ""
                    found = sole.get(row[i_msisdn])
                    if (
                        found is not None
                        and cdr_id
                        and len(cdr_id) <= MAX_CDR_ID_LENGTH
                        and service_id in services
                        and started[-1:] == "Z"
                        and len(started) > LONGEST_DATE_WITH_Z
                        and quantity.isdigit()
                        and quantity.isascii()
                        and len(quantity) <= DIGITS_BELOW_MAX_QUANTITY
                        and len(other_party) <= MAX_OTHER_PARTY_LENGTH
                        and (not zone_text or zone_text in ZONES)
                    ):
                        try:
                            started_at = from_iso(started[:-1])
                        except ValueError:
                            started_at = None
                        if (
                            started_at is not None
                            and started_at.tzinfo is None
                            and started_at >= found.activated_at
                        ):
                            if zone_text:
                                zone = ZONES[zone_text]
                            elif other_party[:1] in "+0":
                                zone = zone_for_other_party(other_party, country_code)
                            else:
                                zone = national
                            context = contexts.get(
                                (found.plan, service_id, zone, found.card.band_at(started_at))
                            )
                            if context is not None:
                                yield (
                                    line_no,
                                    raw,
                                    (
                                        started_at.isoformat(" ", "microseconds"),
                                        cdr_id,
                                        found.number,
                                        context,
                                        int(quantity),
                                        other_party,
                                    ),
                                )
                                continue
            if len(row) <= 1 and not (row and row[0].strip()):
                continue  # blank line
            record = own_csv_row(row, width, positions)
            yield line_no, raw, check(record) if isinstance(record, CdrRecord) else record.reason

    def _check(self, record: CdrRecord) -> ReadRow | str:
        """The row to rate, or the reject reason."""
        cdr_id, msisdn, service_id, started_at, quantity, other_party, zone = record
        if service_id not in self._services:
            return f"unknown service {service_id!r}"
        line = self._sole.get(msisdn)
        if line is None or started_at < line.activated_at:
            found = self._line_at(msisdn, started_at)
            if isinstance(found, str):
                return found
            line = found
        if zone is None:
            zone = zone_for_other_party(other_party, self._country_code)
        card = line.card
        band = card.band_at(started_at)
        if card.rate_for(service_id, zone, band) is None:
            return (
                f"no tariff: price plan {card.plan.code} does not price {service_id} "
                f"in zone {zone} band {band}"
            )
        key = (line.plan, service_id, zone, band)
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = len(self._contexts)
            self._new_contexts.append((context, *key))
        return (database_time(started_at), cdr_id, line.number, context, quantity, other_party)

    def _line_at(self, msisdn: str, instant: datetime) -> _Line | str:
        """The line holding ``msisdn`` at ``instant``, or the reject reason."""
        lines = self._by_msisdn.get(msisdn)
        if not lines:
            return f"unknown subscriber: no subscriber has MSISDN {msisdn}"
        for line in lines:
            if line.activated_at <= instant and (
                line.terminated_at is None or instant < line.terminated_at
            ):
                return line
        return (
            f"subscriber not active at event time: MSISDN {msisdn} had no active line at "
            f"{instant:%Y-%m-%d %H:%M:%S} UTC"
        )


def read_chunks(
    checker: CdrChecker,
    path: Path,
    fmt: str,
    switch_tz: ZoneInfo,
    batch_size: int,
    after_line: int = 0,
    chunk_rows: int | None = None,
) -> Generator[Chunk, None, None]:
    """The chunks of the file at ``path`` after line ``after_line`` (see
    :meth:`CdrChecker.read`), whole batches unless ``chunk_rows`` says otherwise; raises
    :data:`FILE_ERRORS` or :class:`CdrFileError` when it cannot be read."""
    with open_cdr_text(path) as text:
        rows = chunk_rows or batch_size
        yield from checker.read(text, fmt, switch_tz, batch_size, rows, after_line)


# --- The reader process ----------------------------------------------------------------------

# Messages from the reader process, each one pickle on its pipe.
_CHUNK, _END_OF_FILE, _FILE_ERROR, _FAULT = "chunk", "end", "file-error", "fault"


class ReaderProcess:
    """A reader process for one run: started early (it imports while the loader reads the
    subscribers), given the subscribers once, then asked for files. It reads the files asked
    for one after the other, each as soon as it has sent the last chunk of the one before, so a
    file asked for ahead is read while the loader stores the last batches of the one before.
    Their chunks come back over a pipe, in the order asked; a file it cannot read raises
    :class:`CdrFileError` here, as it would in process. Stopped (and, if need be, killed) by
    :meth:`close`."""

    def __init__(self) -> None:
        read_end, write_end = os.pipe()
        src = str(Path(__file__).resolve().parents[3])  # this code's own copy of the package
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
        }
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", f"from {__name__} import serve; serve({write_end})"],
                stdin=subprocess.PIPE,
                pass_fds=(write_end,),
                env=env,
            )
        finally:
            os.close(write_end)
        self._replies = open(read_end, "rb")  # noqa: SIM115
        assert self._process.stdin is not None
        self._requests = self._process.stdin
        self._starting: threading.Thread | None = None
        self.asked = 0  # files asked for
        self.ended = 0  # of them, files whose last chunk (or error) has been read here

    def start(self, subscribers: Subscribers) -> None:
        """Send the subscribers. They are more than a pipe holds, so writing them waits until
        the process has started up and reads them (up to ~0.1 s the loader can use to read the
        first batch): a thread writes them."""
        message = pickle.dumps(subscribers, protocol=pickle.HIGHEST_PROTOCOL)
        self._starting = threading.Thread(
            target=self._write, args=(message,), name="cdr-reader-start", daemon=True
        )
        self._starting.start()

    def ask(
        self, path: Path, fmt: str, switch_tz: ZoneInfo, batch_size: int, after_line: int = 0
    ) -> None:
        """Ask for the chunks of one file after line ``after_line``: the process reads them
        once it has read the files asked for before."""
        self._send((path, fmt, switch_tz, batch_size, after_line))
        self.asked += 1

    def chunks(self) -> Iterator[Chunk]:
        """The chunks of the first file asked for whose end has not been read yet, from where
        the last call left off (a caller that stopped midway gets the rest of that file)."""
        if self.ended == self.asked:
            raise RuntimeError("no CDR file was asked of the reader process")
        while True:
            try:
                # Only this run's own reader process writes to this pipe.
                kind, payload = pickle.load(self._replies)  # noqa: S301
            except EOFError:
                raise RuntimeError("the CDR reader process stopped unexpectedly") from None
            if kind == _CHUNK:
                yield payload
                continue
            if kind == _END_OF_FILE:
                self.ended += 1
                return
            if kind == _FILE_ERROR:
                self.ended += 1
                raise CdrFileError(payload)
            raise RuntimeError(f"the CDR reader process failed:\n{payload}")

    def close(self) -> None:
        """Stop the process: at once when files asked for are still being read (the load
        stopped early), else once it has finished."""
        if self.ended < self.asked:
            self._process.kill()
        try:
            self._started(timeout=_STOP_SECONDS)
            self._requests.close()
            # The reader closes its end of the reply pipe and exits at once (see serve). Wait
            # for that end of file: Popen.wait with a timeout polls, in steps of up to 50 ms,
            # which cost ~60 ms at the end of every load.
            select.select([self._replies], [], [], _STOP_SECONDS)
            self._process.wait(timeout=_STOP_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        finally:
            self._replies.close()

    def _started(self, timeout: float | None = None) -> None:
        """Wait until the subscribers are written: requests follow them on the same pipe."""
        if self._starting is not None:
            self._starting.join(timeout)
            if self._starting.is_alive():
                raise subprocess.TimeoutExpired("CDR reader process", timeout or 0)
            self._starting = None

    def _write(self, message: bytes) -> None:
        try:
            self._requests.write(message)
            self._requests.flush()
        except OSError:
            pass  # the process has gone: the next request or reply says so

    def _send(self, message: object) -> None:
        self._started()
        pickle.dump(message, self._requests, protocol=pickle.HIGHEST_PROTOCOL)
        self._requests.flush()


class _Replies:
    """The reader process's side of the reply pipe. A pipe holds 64 KiB and a chunk a few
    megabytes, so writing chunks straight to it would stop the reader each time the loader is
    busy committing. Chunks are pickled here and written by a thread instead, up to
    :data:`_CHUNKS_AHEAD` of them ahead of the loader; the thread waits in the write, which
    lets the reading go on."""

    def __init__(self, fd: int) -> None:
        self._pipe = open(fd, "wb", buffering=0)  # noqa: SIM115
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_CHUNKS_AHEAD)
        self._broken = False
        self._writer = threading.Thread(target=self._write, name="cdr-replies", daemon=True)
        self._writer.start()

    def send(self, kind: str, payload: object) -> None:
        if self._broken:
            raise BrokenPipeError("the loader stopped reading")
        self._queue.put(pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL))

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join()
        self._pipe.close()

    def _write(self) -> None:
        while (message := self._queue.get()) is not None:
            if self._broken:
                continue  # drain, so that send never waits on a full queue
            try:
                self._pipe.write(message)  # unbuffered, in full: a pipe write blocks until done
            except OSError:
                self._broken = True


_STOP_SECONDS = 5  # for the reader process to stop when asked, before it is killed
_CHUNKS_AHEAD = 2  # batches: the next one ready when the loader asks, and one more on the way


def serve(reply_fd: int) -> None:
    """The reader process: subscribers first, then one file request at a time on stdin, until
    stdin closes. Each file's chunks go back on ``reply_fd``, then an end-of-file marker."""
    gc.disable()  # no reference cycles here; see the loader's _cyclic_gc_paused
    requests, replies = sys.stdin.buffer, _Replies(reply_fd)
    send = replies.send
    try:
        # Requests come from the loader that started this process, on its stdin.
        checker = CdrChecker(pickle.load(requests))  # noqa: S301
        while True:
            try:
                path, fmt, switch_tz, batch_size, after_line = pickle.load(requests)  # noqa: S301
            except EOFError:
                return
            try:
                for chunk in read_chunks(checker, path, fmt, switch_tz, batch_size, after_line):
                    send(_CHUNK, chunk)
            except CdrFileError as exc:
                send(_FILE_ERROR, str(exc))
                continue
            except FILE_ERRORS as exc:
                send(_FILE_ERROR, f"{path}: {exc}")
                continue
            send(_END_OF_FILE, None)
    except BrokenPipeError:
        return  # the loader has gone: nothing left to read for
    except Exception:
        send(_FAULT, traceback.format_exc())
    finally:
        replies.close()
        # Nothing is left to tidy up: ending here saves the interpreter's shutdown (tens of
        # milliseconds, freeing the run's subscribers object by object) while the loader waits.
        sys.stderr.flush()
        os._exit(0)
