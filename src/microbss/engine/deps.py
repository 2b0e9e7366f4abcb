"""The engine's wiring: settings, database engine and clock, built once per process and passed
explicitly to the API server, services and jobs (tests build their own)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from microbss.engine.config import Settings, load_settings
from microbss.engine.domain.periods import utcnow
from microbss.engine.storage.db import make_engine
from microbss.engine.storage.migrate import upgrade_to_head


@dataclass
class Deps:
    settings: Settings
    db: Engine
    clock: Callable[[], datetime] = field(default=utcnow)


def build_deps(settings: Settings | None = None, *, migrate: bool = True) -> Deps:
    settings = settings or load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = make_engine(settings.database_url)
    if migrate:
        upgrade_to_head(db)
    return Deps(settings=settings, db=db)
