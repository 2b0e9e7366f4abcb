"""Demo data shipped with the engine: the demo catalog (``catalog.toml``), read with
``importlib.resources`` so it works from a source tree and from an installed package alike."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEMO_CATALOG_NAME = "catalog.toml"


def demo_catalog_text() -> str:
    return resources.files(__package__).joinpath(DEMO_CATALOG_NAME).read_text(encoding="utf-8")


def demo_catalog_path() -> Path:
    """The demo catalog's path on disk (for printing and for `catalog load`)."""
    return Path(str(resources.files(__package__).joinpath(DEMO_CATALOG_NAME)))
