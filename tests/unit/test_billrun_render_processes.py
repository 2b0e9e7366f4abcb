"""The bill run's render processes start without importing the program's main module."""

from __future__ import annotations

import sys
from multiprocessing import spawn

from microbss.engine.jobs.billrun import _main_module_not_imported_by_children


def test_processes_spawned_for_rendering_are_not_told_to_import_the_main_module() -> None:
    with _main_module_not_imported_by_children():
        preparation = spawn.get_preparation_data("renderer")
    assert "init_main_from_name" not in preparation
    assert "init_main_from_path" not in preparation


def test_the_main_module_is_left_as_it_was() -> None:
    main = sys.modules["__main__"]
    before = (main.__dict__.get("__spec__"), main.__dict__.get("__file__"))
    with _main_module_not_imported_by_children():
        pass
    assert (main.__dict__.get("__spec__"), main.__dict__.get("__file__")) == before
