"""Shared fixtures: an engine database per test on SQLite, and again on PostgreSQL when
MICROBSS_TEST_POSTGRES_URL is set (tests taking ``deps`` run once per backend)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from microbss.engine.config import load_settings
from microbss.engine.deps import Deps
from microbss.engine.storage.db import make_engine
from microbss.engine.storage.migrate import upgrade_to_head
from microbss.engine.storage.tables import metadata

POSTGRES_URL = os.environ.get("MICROBSS_TEST_POSTGRES_URL", "")

BACKENDS = [pytest.param("sqlite", id="sqlite")]
if POSTGRES_URL:
    BACKENDS.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))

_migrated_postgres = False


def _postgres_engine():  # type: ignore[no-untyped-def]
    global _migrated_postgres
    engine = make_engine(POSTGRES_URL)
    if not _migrated_postgres:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade_to_head(engine)
        _migrated_postgres = True
    else:
        names = ", ".join(t.name for t in metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture(params=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a test engine: its own data dir and a fixed secret."""
    return {
        "MICROBSS_DATA_DIR": str(tmp_path / "data"),
        "MICROBSS_SECRET": "test-secret",
        "MICROBSS_TIME_ZONE": "Europe/Madrid",
    }


@pytest.fixture
def deps(db_backend: str, settings_env: dict[str, str]) -> Iterator[Deps]:
    """A migrated, empty engine database (SQLite file or PostgreSQL) with its settings."""
    settings = load_settings(settings_env)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if db_backend == "postgres":
        db = _postgres_engine()
    else:
        db = make_engine(f"sqlite:///{settings.data_dir / 'engine.sqlite3'}")
        upgrade_to_head(db)
    yield Deps(settings=settings, db=db)
    db.dispose()
