"""Analytics on bars and series: indicators (batch functions and streaming twins with equal values) and
the compiled kernels behind them. Signals, pairs and alerts join here; analytics never imports the UI.

Submodules load on first use (``mdx.analytics.indicators`` compiles numba kernels), so importing
``mdx.analytics.series`` alone stays cheap.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def __getattr__(name: str) -> ModuleType:
    """``mdx.analytics.indicators`` (or any submodule) imported on first attribute access."""
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
