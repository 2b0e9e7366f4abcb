"""Engine settings read from the environment: defaults, and a clear error naming the variable."""

from __future__ import annotations

import pytest

from microbss.engine.config import ConfigError, load_settings


def test_the_engine_uses_four_worker_threads_unless_told_otherwise() -> None:
    assert load_settings({}).workers == 4
    assert load_settings({"MICROBSS_ENGINE_WORKERS": "16"}).workers == 16


@pytest.mark.parametrize("raw", ["0", "65", "-1", "many"])
def test_an_unusable_worker_count_is_refused_with_the_variable_named(raw: str) -> None:
    with pytest.raises(ConfigError, match="MICROBSS_ENGINE_WORKERS"):
        load_settings({"MICROBSS_ENGINE_WORKERS": raw})


def test_an_unknown_time_zone_is_refused_with_the_variable_named() -> None:
    with pytest.raises(ConfigError, match="MICROBSS_TIME_ZONE"):
        load_settings({"MICROBSS_TIME_ZONE": "Mars/Olympus"})
