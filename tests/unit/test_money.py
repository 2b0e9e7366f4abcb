from hypothesis import given
from hypothesis import strategies as st

from microbss.engine.domain.money import divide_round_half_up, format_amount, parse_amount


def test_half_cent_rounds_up():
    assert divide_round_half_up(915, 100) == 9
    assert divide_round_half_up(950, 100) == 10
    assert divide_round_half_up(-950, 100) == -10


@given(
    st.integers(min_value=-(10**12), max_value=10**12), st.integers(min_value=1, max_value=10**6)
)
def test_rounding_is_never_more_than_half_a_unit_off(numerator, denominator):
    rounded = divide_round_half_up(numerator, denominator)
    assert abs(rounded * denominator - numerator) * 2 <= denominator


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_formatted_euro_amounts_parse_back_to_the_same_cents(minor):
    text = format_amount(minor, "EUR").removesuffix(" EUR")
    assert parse_amount(text, "EUR") == minor
