"""nbval runs every notebook here; the ones that read ../shared/data skip locally without it (fail in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("MDX_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
NEEDS_SHARED_DATA = {"replay_study.ipynb", "data.ipynb"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if SHARED_DATA.exists() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason=f"{SHARED_DATA} is missing (recorded data lives in ../shared/data)")
    for item in items:
        if Path(str(item.fspath)).name in NEEDS_SHARED_DATA:
            item.add_marker(skip)
