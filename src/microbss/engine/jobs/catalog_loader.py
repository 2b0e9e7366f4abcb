"""Catalog file loading: parse and validate a human-edited TOML catalog, then replace the stored
reference catalog with it in one transaction (`microbss engine catalog load FILE`).

Validation collects every problem in one pass and reports each with its place in the file, as
``catalog.toml:57: price_plans[2].tariffs[0].unit_price: ...``, so an operator fixes the file in
one go. Nothing is written unless the whole file is valid. The format is documented in the header
of the demo catalog, ``microbss/engine/demo/catalog.toml``.

Amounts are decimal text ("0.09") parsed into minor units of the plan's currency, never floats.
Quantities are whole service units (seconds, messages, bytes) or text with a unit ("60 s",
"1 min", "1 MB", "5 GB", "100 msg"); KB/MB/GB are binary (1024-based), as operators bill data.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

from microbss.engine.deps import Deps
from microbss.engine.domain.catalog import (
    WEEKDAY_NAMES,
    Allowance,
    Band,
    BillCycle,
    Catalog,
    PaymentType,
    PeakHours,
    PricePlan,
    RatingStrategy,
    Service,
    ServiceUnit,
    Tariff,
    Zone,
)
from microbss.engine.domain.errors import DomainError, InvalidArgument
from microbss.engine.domain.money import CURRENCY_EXPONENTS, parse_amount
from microbss.engine.services.audit import record_audit
from microbss.engine.storage.catalog_repository import CatalogChanges, replace_catalog
from microbss.engine.storage.uow import UnitOfWork

# The services rating and the CDR formats know, with the unit each is counted in.
REQUIRED_SERVICES = {
    "VOICE": ServiceUnit.SECOND,
    "SMS": ServiceUnit.MESSAGE,
    "DATA": ServiceUnit.BYTE,
}
# Sanity limits in major units of the plan's currency: far above any real price, low enough to
# catch a misplaced decimal point.
MAX_MONTHLY_FEE_MAJOR = 10_000
MAX_INITIAL_CREDIT_MAJOR = 1_000
MAX_UNIT_PRICE_MAJOR = 1_000
MAX_QUANTITY = 10**15  # a petabyte, or 31 million years of talk
MAX_PLAN_ID = 2**31 - 1

_UNIT_FACTORS: dict[ServiceUnit, dict[str, int]] = {
    ServiceUnit.SECOND: {"s": 1, "sec": 1, "min": 60, "h": 3600},
    ServiceUnit.MESSAGE: {"msg": 1, "sms": 1},
    ServiceUnit.BYTE: {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4},
}
_QUANTITY_TEXT = re.compile(r"^\s*(\d{1,16})\s*([A-Za-z]+)\s*$")
_SERVICE_ID = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")
_PLAN_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_]{0,39}$")
_PEAK_HOURS = re.compile(
    r"^\s*(?P<days>[A-Za-z]{3}(?:\s*-\s*[A-Za-z]{3})?(?:\s*,\s*[A-Za-z]{3}(?:\s*-\s*[A-Za-z]{3})?)*)"
    r"\s+(?P<start>\d{2}:\d{2})\s*-\s*(?P<end>\d{2}:\d{2})\s*$"
)


class CatalogFileError(InvalidArgument):
    """The catalog file has problems; ``errors`` lists each with its place in the file."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        noun = "problem" if len(errors) == 1 else "problems"
        listing = "\n".join(f"  {e}" for e in errors)
        DomainError.__init__(
            self,
            f"catalog {source} was not loaded: {len(errors)} {noun}\n{listing}",
            field="catalog",
        )

    def __str__(self) -> str:
        return self.message


# --- Where things are in the file -------------------------------------------------------------


class _Locator:
    """Maps TOML key paths (``price_plans[2].tariffs[0].unit_price``) to line numbers.

    tomllib keeps no positions, so this scans the text for table headers and ``key =`` lines,
    counting array-of-tables entries the way TOML does. Anything it cannot place (a value in an
    inline table, say) is reported at the nearest enclosing key it knows.
    """

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[str, int] = {}
        counts: dict[str, int] = {}
        prefix = ""
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                prefix = self._enter(header.group(1) == "[[", header.group(2), counts)
                self.lines.setdefault(prefix, number)
                # The array as a whole is placed at its first entry.
                self.lines.setdefault(re.sub(r"\[\d+\]$", "", prefix), number)
                continue
            key = self._KEY.match(line)
            if key:
                path = f"{prefix}.{key.group(1)}" if prefix else key.group(1)
                self.lines.setdefault(path, number)

    @staticmethod
    def _enter(is_array: bool, name: str, counts: dict[str, int]) -> str:
        parts = [p.strip().strip('"') for p in name.split(".")]
        path = ""
        for depth, part in enumerate(parts):
            dotted = ".".join(parts[: depth + 1])
            path = f"{path}.{part}" if path else part
            last = depth == len(parts) - 1
            if last and is_array:
                counts[dotted] = counts.get(dotted, 0) + 1
                # A new entry starts afresh: its own nested arrays count from zero again.
                for other in [k for k in counts if k.startswith(dotted + ".")]:
                    del counts[other]
            if dotted in counts:
                path = f"{path}[{counts[dotted] - 1}]"
        return path

    def line_of(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            parent = re.sub(r"(\.?[^.\[\]]+|\[\d+\])$", "", path)
            if parent == path:
                return None
            path = parent
        return None


# --- Reading fields ---------------------------------------------------------------------------


class _Problems:
    """Collects errors as ``source:line: path: message``."""

    def __init__(self, source: str, locator: _Locator) -> None:
        self.source = source
        self.locator = locator
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        line = self.locator.line_of(path)
        where = f"{self.source}:{line}" if line else self.source
        self.items.append(f"{where}: {path}: {message}")


class _Table:
    """One TOML table being read: typed getters that report problems instead of raising."""

    def __init__(self, data: Any, path: str, problems: _Problems, known: set[str]) -> None:
        self.path = path
        self.problems = problems
        self.ok = isinstance(data, dict)
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        if not self.ok:
            problems.add(path, "must be a table of keys and values")
        for key in sorted(set(self.data) - known):
            problems.add(self.at(key), f"unknown key {key!r} (known: {', '.join(sorted(known))})")

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, message: str) -> None:
        self.problems.add(self.at(key), message)

    def has(self, key: str) -> bool:
        return key in self.data

    def _absent(self, key: str, required: bool, hint: str = "") -> bool:
        """True when ``key`` is missing; a missing required key is reported."""
        if self.data.get(key) is not None:
            return False
        if required:
            self.fail(key, f"is required{hint}")
        return True

    def text(
        self, key: str, *, required: bool = True, max_len: int = 100, default: str = ""
    ) -> str | None:
        if self._absent(key, required):
            return None if required else default
        value = self.data.get(key)
        if not isinstance(value, str):
            self.fail(key, f"must be text in quotes, got {value!r}")
            return None
        value = value.strip()
        if required and not value:
            self.fail(key, "must not be empty")
            return None
        if len(value) > max_len:
            self.fail(key, f"is longer than {max_len} characters")
            return None
        return value

    def integer(
        self, key: str, *, low: int, high: int, required: bool = True, default: int = 0
    ) -> int | None:
        if self._absent(key, required):
            return None if required else default
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be a whole number, got {value!r}")
            return None
        if not low <= value <= high:
            self.fail(key, f"must be between {low} and {high}, got {value}")
            return None
        return value

    def choice(
        self, key: str, enum: type[Any], *, required: bool = True, default: Any = None
    ) -> Any:
        if self._absent(key, required, f" (one of {', '.join(e.value for e in enum)})"):
            return default
        value = self.data.get(key)
        try:
            return enum(value.strip().upper() if isinstance(value, str) else value)
        except ValueError:
            self.fail(key, f"{value!r} is not one of {', '.join(e.value for e in enum)}")
            return None

    def amount(
        self, key: str, currency: str | None, *, max_major: int, required: bool = True
    ) -> int | None:
        if self._absent(key, required, ' (an amount in quotes, like "15.00")'):
            return None if required else 0
        value = self.data.get(key)
        if isinstance(value, float | int) and not isinstance(value, bool):
            self.fail(
                key, f'write amounts as text in quotes, like "{value}", so no rounding creeps in'
            )
            return None
        if not isinstance(value, str):
            self.fail(key, f'must be an amount in quotes like "15.00", got {value!r}')
            return None
        if currency is None:
            return None  # the currency's own problem is reported already
        try:
            minor = parse_amount(value, currency, field=self.at(key))
        except InvalidArgument as exc:
            self.fail(key, exc.message)
            return None
        if minor < 0:
            self.fail(key, f"must not be negative, got {value}")
            return None
        if minor > max_major * 10 ** CURRENCY_EXPONENTS[currency]:
            self.fail(key, f"{value} {currency} is above the limit of {max_major} {currency}")
            return None
        return minor

    def quantity(
        self,
        key: str,
        unit: ServiceUnit | None,
        *,
        low: int,
        required: bool = True,
        default: int = 0,
    ) -> int | None:
        if self._absent(key, required):
            return None if required else default
        value = self.data.get(key)
        if unit is None:
            return None  # the service's own problem is reported already
        parsed = _parse_quantity(value, unit)
        if isinstance(parsed, str):
            self.fail(key, parsed)
            return None
        if not low <= parsed <= MAX_QUANTITY:
            self.fail(key, f"must be at least {low} {unit.value.lower()}(s), got {value!r}")
            return None
        return parsed


def _parse_quantity(value: Any, unit: ServiceUnit) -> int | str:
    """Service units from 60 or "1 min"; a message (str) when the value is not understood."""
    factors = _UNIT_FACTORS[unit]
    hint = ", ".join(factors)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        match = _QUANTITY_TEXT.match(value)
        if match and match.group(2).lower() in factors:
            return int(match.group(1)) * factors[match.group(2).lower()]
    example = f"60 {next(iter(factors))}"
    return (
        f"{value!r} is not a quantity of {unit.value.lower()}s"
        f' (a whole number, or text like "{example}"; units: {hint})'
    )


def _parse_peak_hours(text: str) -> PeakHours | str:
    """ "Mon-Fri 08:00-20:00" -> PeakHours; a message (str) when the text is not understood."""
    example = 'like "Mon-Fri 08:00-20:00" or "Mon,Wed,Fri 09:00-18:00"'
    match = _PEAK_HOURS.match(text)
    if not match:
        return f"{text!r} is not peak hours {example}"
    names = [n.lower() for n in WEEKDAY_NAMES]
    weekdays: set[int] = set()
    for part in match.group("days").split(","):
        ends = [p.strip().lower() for p in part.split("-")]
        if any(e not in names for e in ends):
            return f"{text!r}: days are Mon Tue Wed Thu Fri Sat Sun ({example})"
        first, last = names.index(ends[0]), names.index(ends[-1])
        if last < first:
            return f"{text!r}: a day range runs forwards, e.g. Mon-Fri"
        weekdays.update(range(first, last + 1))
    try:
        start, end = (
            time.fromisoformat(match.group("start")),
            time.fromisoformat(match.group("end")),
        )
    except ValueError:
        return f"{text!r}: times are 00:00 to 23:59"
    if start >= end:
        return f"{text!r}: the peak band must start before it ends on the same day"
    return PeakHours(weekdays=frozenset(weekdays), start=start, end=end)


# --- The catalog sections --------------------------------------------------------------------


def parse_catalog_toml(text: str, source: str) -> Catalog:
    """Parse and validate a catalog file; raise CatalogFileError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogFileError(source, [f"{source}: not valid TOML: {exc}"]) from None
    problems = _Problems(source, _Locator(text))
    _Table(data, "", problems, {"services", "bill_cycles", "price_plans"})
    services = _read_services(data.get("services"), problems)
    bill_cycles = _read_bill_cycles(data.get("bill_cycles"), problems)
    plans = _read_plans(data.get("price_plans"), services, problems)
    if problems.items:
        raise CatalogFileError(source, problems.items)
    return Catalog(services=services, bill_cycles=bill_cycles, price_plans=plans)


def _entries(value: Any, name: str, problems: _Problems) -> list[Any]:
    if value is None:
        problems.add(name, f"is missing: add at least one [[{name}]] entry")
        return []
    if not isinstance(value, list) or not value:
        problems.add(name, f"must be one or more [[{name}]] entries")
        return []
    return value


def _read_services(value: Any, problems: _Problems) -> dict[str, Service]:
    found: dict[str, Service] = {}
    for index, raw in enumerate(_entries(value, "services", problems)):
        table = _Table(raw, f"services[{index}]", problems, {"id", "name", "unit"})
        service_id = table.text("id", max_len=16)
        name = table.text("name")
        unit = table.choice("unit", ServiceUnit)
        if service_id is not None and not _SERVICE_ID.match(service_id):
            table.fail("id", f"{service_id!r} must be upper-case letters, digits or _ (e.g. VOICE)")
            continue
        if service_id in found:
            table.fail("id", f"service {service_id} is defined twice")
            continue
        expected = REQUIRED_SERVICES.get(service_id or "")
        if expected and unit and unit != expected:
            table.fail("unit", f"{service_id} is counted in {expected.value}, not {unit.value}")
            unit = expected  # already an error; read the tariffs as if it were right
        if service_id and name and unit:
            found[service_id] = Service(id=service_id, name=name, unit=unit)
    if value is not None:
        for service_id, unit in REQUIRED_SERVICES.items():
            if service_id not in found and not any(
                isinstance(r, dict) and r.get("id") == service_id for r in value
            ):
                problems.add("services", f"service {service_id} (unit {unit.value}) is required")
    return found


def _read_bill_cycles(value: Any, problems: _Problems) -> dict[int, BillCycle]:
    found: dict[int, BillCycle] = {}
    for index, raw in enumerate(_entries(value, "bill_cycles", problems)):
        table = _Table(raw, f"bill_cycles[{index}]", problems, {"id", "name", "cycle_day"})
        cycle_id = table.integer("id", low=1, high=MAX_PLAN_ID)
        name = table.text("name")
        cycle_day = table.integer("cycle_day", low=1, high=28)
        if cycle_id in found:
            table.fail("id", f"bill cycle {cycle_id} is defined twice")
            continue
        if cycle_id is not None and name and cycle_day is not None:
            found[cycle_id] = BillCycle(id=cycle_id, name=name, cycle_day=cycle_day)
    return found


_PLAN_KEYS = {
    "id",
    "code",
    "name",
    "description",
    "payment_type",
    "currency",
    "monthly_fee",
    "initial_credit",
    "peak_hours",
    "tariffs",
    "allowances",
}


def _read_plans(
    value: Any, services: dict[str, Service], problems: _Problems
) -> dict[int, PricePlan]:
    found: dict[int, PricePlan] = {}
    codes: set[str] = set()
    for index, raw in enumerate(_entries(value, "price_plans", problems)):
        table = _Table(raw, f"price_plans[{index}]", problems, _PLAN_KEYS)
        plan = _read_plan(table, services)
        if plan is None:
            continue
        if plan.id in found:
            table.fail("id", f"price plan {plan.id} is defined twice")
        elif plan.code in codes:
            table.fail("code", f"code {plan.code} is used by another price plan")
        else:
            found[plan.id] = plan
            codes.add(plan.code)
    return found


def _read_plan(table: _Table, services: dict[str, Service]) -> PricePlan | None:
    errors_before = len(table.problems.items)
    plan_id = table.integer("id", low=1, high=MAX_PLAN_ID)
    code = table.text("code", max_len=40)
    if code is not None and not _PLAN_CODE.match(code):
        table.fail("code", f"{code!r} must be upper-case letters, digits or _ (e.g. PRE_SMART)")
    name = table.text("name")
    description = table.text("description", required=False, max_len=1000)
    payment_type = table.choice("payment_type", PaymentType)
    currency = _read_currency(table)
    monthly_fee = table.amount("monthly_fee", currency, max_major=MAX_MONTHLY_FEE_MAJOR)
    initial_credit = table.amount(
        "initial_credit", currency, max_major=MAX_INITIAL_CREDIT_MAJOR, required=False
    )
    _check_payment_type_rules(table, payment_type, monthly_fee, initial_credit)
    peak_hours = _read_peak_hours(table)
    tariffs = _read_tariffs(table, services, currency, peak_hours)
    allowances = _read_allowances(table, services)
    if len(table.problems.items) > errors_before:
        return None
    assert plan_id is not None and code and name and payment_type and currency
    return PricePlan(
        id=plan_id,
        code=code,
        name=name,
        payment_type=payment_type,
        currency=currency,
        monthly_fee=monthly_fee or 0,
        initial_credit=initial_credit or 0,
        peak_hours=peak_hours,
        tariffs=tuple(tariffs),
        allowances=tuple(allowances),
        description=description or "",
    )


def _read_currency(table: _Table) -> str | None:
    currency = table.text("currency", max_len=3)
    if currency is not None and currency not in CURRENCY_EXPONENTS:
        table.fail("currency", f"{currency!r} is not an ISO 4217 currency the engine knows")
        return None
    return currency


def _check_payment_type_rules(
    table: _Table,
    payment_type: PaymentType | None,
    monthly_fee: int | None,
    initial_credit: int | None,
) -> None:
    # A prepaid line has no bill to carry a fee; a postpaid line has no balance to credit.
    if payment_type == PaymentType.PREPAID and monthly_fee:
        table.fail("monthly_fee", 'a PREPAID plan has no monthly bill: the fee must be "0.00"')
    if payment_type == PaymentType.POSTPAID and initial_credit:
        table.fail(
            "initial_credit", "a POSTPAID plan has no prepaid balance: remove initial_credit"
        )


def _read_peak_hours(table: _Table) -> PeakHours | None:
    text = table.text("peak_hours", required=False)
    if not text:
        return None
    parsed = _parse_peak_hours(text)
    if isinstance(parsed, str):
        table.fail("peak_hours", parsed)
        return None
    return parsed


_TARIFF_KEYS = {
    "service",
    "zone",
    "band",
    "strategy",
    "unit_price",
    "price_unit",
    "increment",
    "minimum_quantity",
    "minimum_charge",
}


def _read_tariffs(
    plan: _Table, services: dict[str, Service], currency: str | None, peak: PeakHours | None
) -> list[Tariff]:
    raw_list = plan.data.get("tariffs")
    if not isinstance(raw_list, list) or not raw_list:
        plan.fail("tariffs", "every plan needs [[price_plans.tariffs]] entries")
        return []
    found: list[Tariff] = []
    seen: set[tuple[str, Zone, Band]] = set()
    for index, raw in enumerate(raw_list):
        table = _Table(raw, f"{plan.at('tariffs')}[{index}]", plan.problems, _TARIFF_KEYS)
        tariff = _read_tariff(table, services, currency, peak)
        if tariff is None:
            continue
        key = (tariff.service_id, tariff.zone, tariff.band)
        if key in seen:
            table.fail("band", f"a {'/'.join(key)} tariff is already defined in this plan")
            continue
        seen.add(key)
        found.append(tariff)
    # A service/zone whose tariff has its own error is not also reported as missing.
    attempted = {
        (str(raw.get("service", "")), str(raw.get("zone", "")).upper())
        for raw in raw_list
        if isinstance(raw, dict)
    }
    _check_tariff_coverage(plan, found, peak is not None, attempted)
    return found


def _read_tariff(
    table: _Table, services: dict[str, Service], currency: str | None, peak: PeakHours | None
) -> Tariff | None:
    errors_before = len(table.problems.items)
    service_id = table.text("service", max_len=16)
    service = services.get(service_id or "")
    if service_id and service is None:
        table.fail("service", f"service {service_id!r} is not in [[services]]")
    unit = service.unit if service else None
    zone = table.choice("zone", Zone)
    band = table.choice("band", Band, required=False, default=Band.ANY)
    if band in (Band.PEAK, Band.OFFPEAK) and peak is None:
        table.fail("band", f"{band.value} needs peak_hours on the plan")
    strategy = table.choice("strategy", RatingStrategy)
    unit_price = table.amount("unit_price", currency, max_major=MAX_UNIT_PRICE_MAJOR)
    minimum_charge = table.amount(
        "minimum_charge", currency, max_major=MAX_UNIT_PRICE_MAJOR, required=False
    )
    if strategy == RatingStrategy.PER_EVENT:
        for key in ("price_unit", "increment", "minimum_quantity"):
            if table.has(key):
                table.fail(key, "a PER_EVENT tariff prices each event; remove this key")
        price_unit: int | None = 1
        increment: int | None = 1
        minimum_quantity: int | None = 0
    else:
        price_unit = table.quantity("price_unit", unit, low=1, required=False, default=1)
        increment = table.quantity("increment", unit, low=1, required=False, default=1)
        minimum_quantity = table.quantity("minimum_quantity", unit, low=0, required=False)
    if len(table.problems.items) > errors_before or unit_price is None:
        return None  # unit_price is None also when the plan's currency was wrong
    assert service_id and zone and band and strategy
    return Tariff(
        service_id=service_id,
        zone=zone,
        band=band,
        strategy=strategy,
        unit_price=unit_price,
        price_unit=price_unit or 1,
        increment=increment or 1,
        minimum_quantity=minimum_quantity or 0,
        minimum_charge=minimum_charge or 0,
    )


def _check_tariff_coverage(
    plan: _Table, tariffs: list[Tariff], has_peak: bool, attempted: set[tuple[str, str]]
) -> None:
    """Every plan prices the basic national services, and every banded (service, zone) is priced
    in both bands, so that no event can go unrated."""
    priced: dict[tuple[str, Zone], set[Band]] = {}
    for tariff in tariffs:
        priced.setdefault((tariff.service_id, tariff.zone), set()).add(tariff.band)
    for service_id in REQUIRED_SERVICES:
        if (service_id, Zone.NATIONAL) not in priced and (service_id, "NATIONAL") not in attempted:
            plan.fail("tariffs", f"no tariff prices {service_id} in zone NATIONAL")
    for (service_id, zone), bands in sorted(priced.items()):
        if Band.ANY in bands or not has_peak:
            continue
        for needed in (Band.PEAK, Band.OFFPEAK):
            if needed not in bands:
                plan.fail(
                    "tariffs",
                    f"{service_id}/{zone.value} has no {needed.value} (or ANY) tariff,"
                    " so some events would be unpriced",
                )


def _read_allowances(plan: _Table, services: dict[str, Service]) -> list[Allowance]:
    raw_list = plan.data.get("allowances", [])
    if not isinstance(raw_list, list):
        plan.fail("allowances", "must be [[price_plans.allowances]] entries")
        return []
    found: list[Allowance] = []
    for index, raw in enumerate(raw_list):
        table = _Table(
            raw,
            f"{plan.at('allowances')}[{index}]",
            plan.problems,
            {"service", "quantity", "zones"},
        )
        allowance = _read_allowance(table, services)
        if allowance is None:
            continue
        if any(a.service_id == allowance.service_id for a in found):
            table.fail("service", f"this plan already has a {allowance.service_id} allowance")
            continue
        found.append(allowance)
    return found


def _read_allowance(table: _Table, services: dict[str, Service]) -> Allowance | None:
    errors_before = len(table.problems.items)
    service_id = table.text("service", max_len=16)
    service = services.get(service_id or "")
    if service_id and service is None:
        table.fail("service", f"service {service_id!r} is not in [[services]]")
    quantity = table.quantity("quantity", service.unit if service else None, low=1)
    zones = _read_zones(table)
    if len(table.problems.items) > errors_before:
        return None
    assert service_id and quantity is not None and zones
    return Allowance(service_id=service_id, quantity=quantity, zones=zones)


def _read_zones(table: _Table) -> frozenset[Zone] | None:
    raw = table.data.get("zones", ["NATIONAL"])
    if not isinstance(raw, list) or not raw:
        table.fail("zones", 'must be a list of zones like ["NATIONAL", "ROAMING"]')
        return None
    zones: set[Zone] = set()
    for item in raw:
        try:
            zones.add(Zone(str(item).strip().upper()))
        except ValueError:
            table.fail("zones", f"{item!r} is not one of {', '.join(z.value for z in Zone)}")
            return None
    return frozenset(zones)


# --- Loading into the database ---------------------------------------------------------------


@dataclass(frozen=True)
class CatalogImport:
    """What `catalog load` did."""

    source: str
    sha256: str
    catalog: Catalog
    changes: CatalogChanges

    def __str__(self) -> str:
        c = self.catalog
        lines = [
            f"catalog {self.source} loaded: {len(c.services)} services, "
            f"{len(c.bill_cycles)} bill cycles, {len(c.price_plans)} price plans "
            f"({self.changes.summary()})"
        ]
        lines += [f"  added    {label}" for label in self.changes.added]
        lines += [f"  changed  {label}" for label in self.changes.changed]
        lines += [f"  removed  {label}" for label in self.changes.removed]
        return "\n".join(lines)


def read_catalog_file(path: Path) -> tuple[str, bytes]:
    """The file's text and raw bytes; a missing or undecodable file is an InvalidArgument."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(
            f"cannot read catalog file {path}: {exc.strerror}", field="file"
        ) from None
    try:
        return raw.decode("utf-8"), raw
    except UnicodeDecodeError:
        raise InvalidArgument(f"catalog file {path} is not UTF-8 text", field="file") from None


def import_catalog(deps: Deps, path: Path, actor: str) -> CatalogImport:
    """Validate the catalog file, then replace the stored catalog with it in one transaction."""
    text, raw = read_catalog_file(path)
    catalog = parse_catalog_toml(text, path.name)
    digest = hashlib.sha256(raw).hexdigest()
    with UnitOfWork(deps.db, write=True) as uow:
        changes = replace_catalog(uow.conn, catalog)
        record_audit(
            uow.conn,
            actor=actor,
            action="catalog.load",
            target=f"catalog:{path.name}",
            details={
                "sha256": digest,
                "added": changes.added,
                "changed": changes.changed,
                "removed": changes.removed,
            },
        )
        uow.commit()
    return CatalogImport(source=str(path), sha256=digest, catalog=catalog, changes=changes)
