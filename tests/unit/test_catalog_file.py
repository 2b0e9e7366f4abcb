"""The catalog file format: the demo catalog parses to the documented plans, and every kind of
mistake is reported with its place in the file, all at once."""

from __future__ import annotations

import pytest

from microbss.engine.demo import demo_catalog_text
from microbss.engine.domain.catalog import Band, PaymentType, RatingStrategy, Zone
from microbss.engine.jobs.catalog_loader import CatalogFileError, parse_catalog_toml

MINIMAL = """
[[services]]
id = "VOICE"
name = "Voice"
unit = "SECOND"

[[services]]
id = "SMS"
name = "SMS"
unit = "MESSAGE"

[[services]]
id = "DATA"
name = "Data"
unit = "BYTE"

[[bill_cycles]]
id = 1
name = "1st"
cycle_day = 1

[[price_plans]]
id = 1
code = "P1"
name = "Plan one"
payment_type = "{payment_type}"
currency = "EUR"
monthly_fee = "{fee}"
{extra_plan}

  [[price_plans.tariffs]]
  service = "VOICE"
  zone = "NATIONAL"
  strategy = "PER_UNIT"
  unit_price = "{voice_price}"
  price_unit = "1 min"
  increment = "1 s"
  minimum_quantity = "60 s"

  [[price_plans.tariffs]]
  service = "SMS"
  zone = "NATIONAL"
  strategy = "PER_EVENT"
  unit_price = "0.05"

  [[price_plans.tariffs]]
  service = "DATA"
  zone = "NATIONAL"
  strategy = "PER_UNIT"
  unit_price = "0.02"
  price_unit = "1 MB"
  increment = "1 KB"
"""


def minimal(**overrides: str) -> str:
    values = {"payment_type": "POSTPAID", "fee": "15.00", "extra_plan": "", "voice_price": "0.09"}
    values.update(overrides)
    return MINIMAL.format(**values)


def problems_of(text: str) -> list[str]:
    with pytest.raises(CatalogFileError) as caught:
        parse_catalog_toml(text, "test.toml")
    return caught.value.errors


def test_the_demo_catalog_has_two_prepaid_and_two_postpaid_plans() -> None:
    catalog = parse_catalog_toml(demo_catalog_text(), "catalog.toml")
    kinds = sorted((p.code, p.payment_type) for p in catalog.price_plans.values())
    assert kinds == [
        ("POST_S", PaymentType.POSTPAID),
        ("POST_XL", PaymentType.POSTPAID),
        ("PRE_SMART", PaymentType.PREPAID),
        ("PRE_TALK", PaymentType.PREPAID),
    ]
    assert {c.cycle_day for c in catalog.bill_cycles.values()} == {1, 15}


def test_the_demo_catalog_prices_every_service_in_every_zone() -> None:
    catalog = parse_catalog_toml(demo_catalog_text(), "catalog.toml")
    for plan in catalog.price_plans.values():
        for service in ("VOICE", "SMS", "DATA"):
            for zone in Zone:
                for band in (Band.PEAK, Band.OFFPEAK):
                    assert plan.tariff_for(service, zone, band) is not None, (plan.code, service)


def test_demo_prepaid_smart_charges_voice_per_second_after_a_minute_and_data_per_started_kb() -> (
    None
):
    plan = parse_catalog_toml(demo_catalog_text(), "catalog.toml").price_plans[101]
    voice = plan.tariff_for("VOICE", Zone.NATIONAL, Band.ANY)
    data = plan.tariff_for("DATA", Zone.NATIONAL, Band.ANY)
    assert voice is not None and data is not None
    assert (voice.unit_price, voice.price_unit, voice.increment, voice.minimum_quantity) == (
        9,
        60,
        1,
        60,
    )
    assert (data.unit_price, data.price_unit, data.increment) == (2, 1048576, 1024)
    assert plan.initial_credit == 500
    assert plan.allowance_for("DATA", Zone.NATIONAL).quantity == 1024**3  # type: ignore[union-attr]


def test_demo_postpaid_xl_has_peak_hours_and_a_minimum_charge_on_international_calls() -> None:
    plan = parse_catalog_toml(demo_catalog_text(), "catalog.toml").price_plans[202]
    assert plan.peak_hours is not None and plan.peak_hours.describe() == "Mon-Fri 08:00-20:00"
    international = plan.tariff_for("VOICE", Zone.INTERNATIONAL, Band.PEAK)
    assert international is not None and international.minimum_charge == 50
    assert plan.monthly_fee == 3500


def test_a_valid_minimal_file_parses_with_amounts_in_minor_units() -> None:
    catalog = parse_catalog_toml(minimal(), "test.toml")
    plan = catalog.price_plans[1]
    assert plan.monthly_fee == 1500
    assert plan.tariffs[1].strategy == RatingStrategy.PER_EVENT
    assert plan.tariffs[1].unit_price == 5


def test_a_wrong_amount_is_reported_with_its_key_path_and_line() -> None:
    text = minimal(voice_price="0.0x")
    line = next(n for n, text_line in enumerate(text.splitlines(), 1) if '"0.0x"' in text_line)
    assert problems_of(text) == [
        f"test.toml:{line}: price_plans[0].tariffs[0].unit_price: '0.0x' is not an amount like"
        " 10.50"
    ]


def test_every_problem_in_a_file_is_reported_together() -> None:
    text = minimal(fee="15.001", voice_price="-1.00", extra_plan='colour = "red"')
    problems = problems_of(text)
    assert len(problems) == 3
    assert any("monthly_fee" in p and "more than 2 decimals" in p for p in problems)
    assert any("unit_price" in p and "negative" in p for p in problems)
    assert any("unknown key 'colour'" in p for p in problems)


def test_amounts_written_as_bare_numbers_are_refused_so_no_float_ever_enters() -> None:
    text = minimal().replace('monthly_fee = "15.00"', "monthly_fee = 15.0")
    assert "write amounts as text in quotes" in problems_of(text)[0]


def test_a_prepaid_plan_may_not_carry_a_monthly_fee() -> None:
    problems = problems_of(minimal(payment_type="PREPAID", fee="5.00"))
    assert "a PREPAID plan has no monthly bill" in problems[0]


def test_a_postpaid_plan_may_not_carry_initial_credit() -> None:
    problems = problems_of(minimal(extra_plan='initial_credit = "5.00"'))
    assert "a POSTPAID plan has no prepaid balance" in problems[0]


def test_an_unknown_currency_is_refused() -> None:
    problems = problems_of(minimal().replace('currency = "EUR"', 'currency = "XYZ"'))
    assert "'XYZ' is not an ISO 4217 currency" in problems[0]


def test_an_absurd_monthly_fee_is_refused() -> None:
    problems = problems_of(minimal(fee="1500000.00"))
    assert "above the limit" in problems[0]


def test_a_tariff_for_an_unknown_service_is_refused() -> None:
    text = minimal().replace('service = "SMS"\n  zone', 'service = "FAX"\n  zone', 1)
    problems = problems_of(text)
    assert any("service 'FAX' is not in [[services]]" in p for p in problems)
    assert any("no tariff prices SMS in zone NATIONAL" in p for p in problems)


def test_a_duplicate_tariff_for_the_same_service_zone_and_band_is_refused() -> None:
    text = (
        minimal() + '\n  [[price_plans.tariffs]]\n  service = "SMS"\n  zone = "NATIONAL"\n'
        '  strategy = "PER_EVENT"\n  unit_price = "0.06"\n'
    )
    assert "SMS/NATIONAL/ANY tariff is already defined" in problems_of(text)[0]


def test_duplicate_plan_ids_and_codes_are_refused() -> None:
    plan_block = minimal()[minimal().index("[[price_plans]]") :]
    twice = minimal() + plan_block
    assert "price plan 1 is defined twice" in problems_of(twice)[0]
    other_id = plan_block.replace("id = 1\n", "id = 2\n", 1)
    assert "code P1 is used by another price plan" in problems_of(minimal() + other_id)[0]


def test_peak_and_offpeak_bands_need_peak_hours_and_both_bands() -> None:
    text = minimal().replace(
        'zone = "NATIONAL"\n  strategy = "PER_UNIT"\n  unit_price = "0.09"',
        'zone = "NATIONAL"\n  band = "PEAK"\n  strategy = "PER_UNIT"\n  unit_price = "0.09"',
        1,
    )
    assert any("PEAK needs peak_hours" in p for p in problems_of(text))
    with_hours = text.replace(
        'monthly_fee = "15.00"', 'monthly_fee = "15.00"\npeak_hours = "Mon-Fri 08:00-20:00"'
    )
    assert any(
        "VOICE/NATIONAL has no OFFPEAK (or ANY) tariff" in p for p in problems_of(with_hours)
    )


@pytest.mark.parametrize(
    ("peak_hours", "message"),
    [
        ("Mon-Fri 20:00-08:00", "must start before it ends"),
        ("Mon-Xyz 08:00-20:00", "days are Mon Tue"),
        ("weekdays", "is not peak hours"),
    ],
)
def test_bad_peak_hours_are_explained(peak_hours: str, message: str) -> None:
    text = minimal(extra_plan=f'peak_hours = "{peak_hours}"')
    assert message in problems_of(text)[0]


def test_a_bill_cycle_day_beyond_28_is_refused() -> None:
    problems = problems_of(minimal().replace("cycle_day = 1", "cycle_day = 31"))
    assert "bill_cycles[0].cycle_day: must be between 1 and 28, got 31" in problems[0]


def test_the_basic_services_must_be_counted_in_their_units() -> None:
    problems = problems_of(minimal().replace('unit = "BYTE"', 'unit = "SECOND"'))
    assert "DATA is counted in BYTE, not SECOND" in problems[0]


def test_a_quantity_in_an_unknown_unit_is_refused() -> None:
    problems = problems_of(minimal().replace('price_unit = "1 MB"', 'price_unit = "1 parsec"'))
    assert "'1 parsec' is not a quantity of bytes" in problems[0]


def test_a_file_that_is_not_toml_is_reported_with_its_line() -> None:
    problems = problems_of("[[services]]\nid = \n")
    assert problems[0].startswith("test.toml: not valid TOML:") and "line 2" in problems[0]


def test_the_error_message_lists_every_problem_for_the_operator() -> None:
    with pytest.raises(CatalogFileError) as caught:
        parse_catalog_toml(minimal(fee="x", voice_price="y"), "test.toml")
    assert str(caught.value).startswith("catalog test.toml was not loaded: 2 problems")
    assert caught.value.status == "INVALID_ARGUMENT"
