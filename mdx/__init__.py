"""mdx — a market-data research workbench for Jupyter.

The public API is re-exported here and imported lazily, so ``import mdx`` stays cheap
(numba kernels, ccxt and the widgets load on first use)::

    import mdx
    events = mdx.read_capture("btcusdt_20240808.gz")
    book = mdx.OrderBook()
    bars = mdx.resample_trades(trades_df, "1m")
    session = mdx.Session(mdx.Simulator()).start()
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # events
    "Trade": "mdx.events",
    "BookSnapshot": "mdx.events",
    "BookDelta": "mdx.events",
    "Quote": "mdx.events",
    "Bar": "mdx.events",
    "Event": "mdx.events",
    # errors
    "MdxError": "mdx.errors",
    "ConfigError": "mdx.errors",
    "InvalidTimeframe": "mdx.errors",
    "DataError": "mdx.errors",
    "MalformedFrame": "mdx.errors",
    "InvalidValue": "mdx.errors",
    "DuplicateTrade": "mdx.errors",
    "CaptureError": "mdx.errors",
    "BookError": "mdx.errors",
    "BookOutOfSync": "mdx.errors",
    "CrossedBook": "mdx.errors",
    "SourceError": "mdx.errors",
    "SourceUnavailable": "mdx.errors",
    "UnknownSymbol": "mdx.errors",
    # engine
    "Clock": "mdx.clock",
    "LiveClock": "mdx.clock",
    "SimulatedClock": "mdx.clock",
    "Hub": "mdx.hub",
    "Cache": "mdx.cache",
    "Rejections": "mdx.stats",
    "Settings": "mdx.config",
    "Session": "mdx.session",
    "SessionStatus": "mdx.session",
    "timeframe_ns": "mdx.timeframes",
    # market state and maths
    "OrderBook": "mdx.book",
    "BookView": "mdx.book",
    "resample_trades": "mdx.bars",
    "BarBuilder": "mdx.bars",
    "bars_to_frame": "mdx.bars",
    "trades_to_frame": "mdx.bars",
    "RecordingWriter": "mdx.recording",
    "sma": "mdx.indicators",
    "ema": "mdx.indicators",
    "rsi": "mdx.indicators",
    "returns": "mdx.indicators",
    "rolling_volatility": "mdx.indicators",
    "zscore": "mdx.indicators",
    "SMA": "mdx.indicators",
    "EMA": "mdx.indicators",
    "RSI": "mdx.indicators",
    "Returns": "mdx.indicators",
    "RollingVolatility": "mdx.indicators",
    "ZScore": "mdx.indicators",
    # the live monitor
    "MonitorApp": "mdx.ui",
    "serve_monitor": "mdx.serve",
    # sources and files
    "make_source": "mdx.sources",
    "Simulator": "mdx.sources.simulator",
    "SimFaults": "mdx.sources.simulator",
    "ReplaySource": "mdx.sources.replay",
    "read_capture": "mdx.capture",
    "read_recording": "mdx.recording",
    "write_recording": "mdx.recording",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mdx' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
