"""The generated Django secret key file and the password length cap."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from microbss.crm.accounts.passwords import MaximumLengthValidator
from microbss.crm.secret_key import load_or_create_secret_key


def test_the_secret_key_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "crm-secret-key"
    first = load_or_create_secret_key(path, lambda: "first-key")
    second = load_or_create_secret_key(path, lambda: "second-key")
    assert first == second == "first-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_a_password_of_128_characters_is_accepted_and_129_refused() -> None:
    validator = MaximumLengthValidator()
    validator.validate("x" * 128)
    with pytest.raises(ValidationError, match="at most 128"):
        validator.validate("x" * 129)
