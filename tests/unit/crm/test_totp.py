"""TOTP codes: RFC 6238 test vectors, drift window and replay guard."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest

from microbss.crm.accounts import totp

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()

# RFC 6238 appendix B, SHA-1 column (8 digits).
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("unix_time", "expected"), RFC_VECTORS)
def test_codes_match_the_rfc_6238_sha1_vectors(unix_time: int, expected: str) -> None:
    at = datetime.fromtimestamp(unix_time, UTC)
    assert totp.code_for_step(RFC_SECRET, totp.step_at(at), digits=8) == expected


@pytest.mark.parametrize(("unix_time", "expected"), RFC_VECTORS)
def test_the_rfc_vector_code_is_accepted_at_its_time(unix_time: int, expected: str) -> None:
    at = datetime.fromtimestamp(unix_time, UTC)
    step = totp.matching_step(RFC_SECRET, expected, at, last_step=0, digits=8)
    assert step == totp.step_at(at)


def test_a_code_one_step_old_or_one_step_early_is_accepted_for_clock_drift() -> None:
    at = datetime.fromtimestamp(1111111111, UTC)
    current = totp.step_at(at)
    for step in (current - 1, current + 1):
        code = totp.code_for_step(RFC_SECRET, step)
        assert totp.matching_step(RFC_SECRET, code, at, last_step=0) == step


def test_a_code_two_steps_away_is_refused() -> None:
    at = datetime.fromtimestamp(1111111111, UTC)
    current = totp.step_at(at)
    for step in (current - 2, current + 2):
        code = totp.code_for_step(RFC_SECRET, step)
        assert totp.matching_step(RFC_SECRET, code, at, last_step=0) is None


def test_replaying_the_code_of_the_last_accepted_step_is_refused() -> None:
    at = datetime.fromtimestamp(1234567890, UTC)
    current = totp.step_at(at)
    code = totp.code_for_step(RFC_SECRET, current)
    assert totp.matching_step(RFC_SECRET, code, at, last_step=current) is None


def test_an_older_code_after_a_newer_one_was_accepted_is_refused() -> None:
    at = datetime.fromtimestamp(1234567890, UTC)
    current = totp.step_at(at)
    older = totp.code_for_step(RFC_SECRET, current - 1)
    assert totp.matching_step(RFC_SECRET, older, at, last_step=current) is None


def test_the_next_step_is_still_accepted_after_the_current_one_was_used() -> None:
    at = datetime.fromtimestamp(1234567890, UTC)
    current = totp.step_at(at)
    newer = totp.code_for_step(RFC_SECRET, current + 1)
    assert totp.matching_step(RFC_SECRET, newer, at, last_step=current) == current + 1


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_are_refused(typed: str) -> None:
    at = datetime.fromtimestamp(1234567890, UTC)
    assert totp.matching_step(RFC_SECRET, typed, at, last_step=0) is None


def test_spaces_in_a_typed_code_are_ignored() -> None:
    at = datetime.fromtimestamp(1234567890, UTC)
    code = totp.code_for_step(RFC_SECRET, totp.step_at(at))
    spaced = f"{code[:3]} {code[3:]}"
    assert totp.matching_step(RFC_SECRET, spaced, at, last_step=0) == totp.step_at(at)


def test_a_new_secret_has_160_bits_and_differs_each_time() -> None:
    first, second = totp.new_secret(), totp.new_secret()
    assert len(base64.b32decode(first)) == 20
    assert first != second


def test_the_otpauth_uri_carries_the_issuer_and_the_username() -> None:
    uri = totp.provisioning_uri(RFC_SECRET, "alice")
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert parsed.path == "/microbss:alice"
    query = parse_qs(parsed.query)
    assert query["issuer"] == ["microbss"]
    assert query["secret"] == [RFC_SECRET]


def test_the_qr_code_is_an_inline_svg() -> None:
    svg = totp.qr_code_svg(totp.provisioning_uri(RFC_SECRET, "alice"))
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "http" not in svg.replace("http://www.w3.org", "")
