"""Shared fixtures. Recorded exchange data is used by path from ../shared/data (never copied here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MDX_SHARED_DATA", ROOT.parent / "shared" / "data"))


def require(path: Path, why: str = "") -> Path:
    """Return ``path``; skip the test locally when it is missing, fail when ``CI`` is set."""
    if path.exists():
        return path
    message = f"{path} is missing{': ' + why if why else ''} (recorded data lives in ../shared/data)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def shared_data() -> Path:
    return require(SHARED_DATA)


# Property-based fuzzing (tests/test_fuzz*.py): a bounded run in `make test`, a long one in `make fuzz`.
_quiet = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("test", max_examples=60, deadline=None, suppress_health_check=_quiet)
settings.register_profile("fuzz", max_examples=4000, deadline=None, suppress_health_check=_quiet)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "test"))

# A real redis-server per test that asks for it (tests/redis_server.py).
pytest_plugins = ["tests.redis_server"]
