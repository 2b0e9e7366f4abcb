"""Engine settings, read once from the environment (every variable is listed in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DATA_DIR = Path("var")
# Used only when MICROBSS_VOUCHER_SECRET is unset: fine for a demo, never for production.
_DEMO_SECRET = "microbss-demo-secret-change-me"


class ConfigError(ValueError):
    """A setting has a value the engine cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = DEFAULT_DATA_DIR
    db_url: str = ""
    listen: str = "127.0.0.1:50051"
    token: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    secret: bytes = _DEMO_SECRET.encode()
    operator_name: str = "microbss Mobile"
    operator_address: str = "Calle Mayor 1, 28013 Madrid, ES"
    operator_vat_id: str = "ESB00000000"
    time_zone: str = "Europe/Madrid"
    currency: str = "EUR"
    country_code: str = "34"
    msisdn_quarantine_days: int = 90
    max_message_bytes: int = 4 * 1024 * 1024
    # See api/server.py: few threads suit the GIL and SQLite; more suit PostgreSQL or many
    # long streams (each usage stream or invoice download holds a worker while it runs).
    workers: int = 4
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'engine.sqlite3'}"

    @property
    def invoice_dir(self) -> Path:
        return self.data_dir / "invoices"


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _bounded(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _int(env, name, default)
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build Settings from environment variables (``os.environ`` by default)."""
    env = dict(os.environ) if env is None else env
    time_zone = env.get("MICROBSS_TIME_ZONE", "Europe/Madrid")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"MICROBSS_TIME_ZONE {time_zone!r} is not an IANA time zone") from None
    return Settings(
        data_dir=Path(env.get("MICROBSS_DATA_DIR", str(DEFAULT_DATA_DIR))),
        db_url=env.get("MICROBSS_ENGINE_DB_URL", ""),
        listen=env.get("MICROBSS_ENGINE_LISTEN", "127.0.0.1:50051"),
        token=env.get("MICROBSS_ENGINE_TOKEN", ""),
        tls_cert=env.get("MICROBSS_ENGINE_TLS_CERT", ""),
        tls_key=env.get("MICROBSS_ENGINE_TLS_KEY", ""),
        secret=env.get("MICROBSS_SECRET", _DEMO_SECRET).encode(),
        operator_name=env.get("MICROBSS_OPERATOR_NAME", "microbss Mobile"),
        operator_address=env.get("MICROBSS_OPERATOR_ADDRESS", "Calle Mayor 1, 28013 Madrid, ES"),
        operator_vat_id=env.get("MICROBSS_OPERATOR_VAT_ID", "ESB00000000"),
        time_zone=time_zone,
        currency=env.get("MICROBSS_CURRENCY", "EUR"),
        country_code=env.get("MICROBSS_COUNTRY_CODE", "34"),
        msisdn_quarantine_days=_int(env, "MICROBSS_MSISDN_QUARANTINE_DAYS", 90),
        max_message_bytes=_int(env, "MICROBSS_ENGINE_MAX_MESSAGE_BYTES", 4 * 1024 * 1024),
        workers=_bounded(env, "MICROBSS_ENGINE_WORKERS", 4, 1, 64),
    )
