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
    "register_event": "mdx.events",
    "Consumer": "mdx.consumer",
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
    "ExchangeUnreachable": "mdx.errors",
    "ExchangeBlocked": "mdx.errors",
    "UnknownSymbol": "mdx.errors",
    "TimeJump": "mdx.errors",
    "StaleSnapshot": "mdx.errors",
    "StoreError": "mdx.errors",
    "Credentials": "mdx.config",
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
    "timeframe_ns": "mdx.market.timeframes",
    # market state and maths
    "OrderBook": "mdx.market.book",
    "BookView": "mdx.market.book",
    "resample_trades": "mdx.market.bars",
    "BarBuilder": "mdx.market.bars",
    "bars_to_frame": "mdx.market.bars",
    "trades_to_frame": "mdx.market.bars",
    "RecordingWriter": "mdx.io.recording",
    "sma": "mdx.analytics.indicators",
    "bollinger": "mdx.analytics.indicators",
    "vwap": "mdx.analytics.indicators",
    "Bollinger": "mdx.analytics.indicators",
    "VWAP": "mdx.analytics.indicators",
    "Indicator": "mdx.analytics.base",
    "ema": "mdx.analytics.indicators",
    "rsi": "mdx.analytics.indicators",
    "returns": "mdx.analytics.indicators",
    "rolling_volatility": "mdx.analytics.indicators",
    "zscore": "mdx.analytics.indicators",
    "SMA": "mdx.analytics.indicators",
    "EMA": "mdx.analytics.indicators",
    "RSI": "mdx.analytics.indicators",
    "Returns": "mdx.analytics.indicators",
    "RollingVolatility": "mdx.analytics.indicators",
    "ZScore": "mdx.analytics.indicators",
    "wma": "mdx.analytics.indicators",
    "macd": "mdx.analytics.indicators",
    "true_range": "mdx.analytics.indicators",
    "atr": "mdx.analytics.indicators",
    "obv": "mdx.analytics.indicators",
    "anchored_vwap": "mdx.analytics.indicators",
    "rolling_vwap": "mdx.analytics.indicators",
    "volume_delta": "mdx.analytics.indicators",
    "cumulative_volume_delta": "mdx.analytics.indicators",
    "stoch": "mdx.analytics.indicators",
    "adx": "mdx.analytics.indicators",
    "rolling_mean": "mdx.analytics.indicators",
    "rolling_std": "mdx.analytics.indicators",
    "correlation": "mdx.analytics.indicators",
    "beta": "mdx.analytics.indicators",
    "compute": "mdx.analytics.indicators",
    "WMA": "mdx.analytics.indicators",
    "MACD": "mdx.analytics.indicators",
    "TrueRange": "mdx.analytics.indicators",
    "ATR": "mdx.analytics.indicators",
    "OBV": "mdx.analytics.indicators",
    "AnchoredVWAP": "mdx.analytics.indicators",
    "RollingVWAP": "mdx.analytics.indicators",
    "VolumeDelta": "mdx.analytics.indicators",
    "CumulativeVolumeDelta": "mdx.analytics.indicators",
    "Stoch": "mdx.analytics.indicators",
    "ADX": "mdx.analytics.indicators",
    "RollingMean": "mdx.analytics.indicators",
    "RollingStd": "mdx.analytics.indicators",
    "Correlation": "mdx.analytics.indicators",
    "Beta": "mdx.analytics.indicators",
    "indicators": "mdx.analytics",
    # signals and pairs
    "zscore_signal": "mdx.analytics.signals",
    "volatility_ratio": "mdx.analytics.signals",
    "anomalies": "mdx.analytics.signals",
    "ZScoreSignal": "mdx.analytics.signals",
    "VolatilityRatio": "mdx.analytics.signals",
    "Anomalies": "mdx.analytics.signals",
    "pair_spread": "mdx.analytics.pairs",
    "PairSpread": "mdx.analytics.pairs",
    "half_life": "mdx.analytics.pairs",
    "cointegration": "mdx.analytics.pairs",
    "correlation_matrix": "mdx.analytics.pairs",
    "confluence": "mdx.analytics.confluence",
    "ConfluenceScore": "mdx.analytics.confluence",
    "ConfluenceParams": "mdx.analytics.confluence",
    "consensus": "mdx.analytics.consensus",
    "MultiTimeframeConsensus": "mdx.analytics.consensus",
    "Confluence": "mdx.analytics.live",
    "Consensus": "mdx.analytics.live",
    "ConfluenceMaker": "mdx.analytics.live",
    "read_coinbase_candles": "mdx.io.candles",
    # alerts
    "Alert": "mdx.alerts",
    "AlertEngine": "mdx.alerts",
    "PriceAbove": "mdx.alerts",
    "PriceBelow": "mdx.alerts",
    "PriceCross": "mdx.alerts",
    "PctChange": "mdx.alerts",
    "ZScoreBeyond": "mdx.alerts",
    "VolatilitySpike": "mdx.alerts",
    "SpreadAbove": "mdx.alerts",
    "ImbalanceBeyond": "mdx.alerts",
    "Stale": "mdx.alerts",
    "ConfluenceLabelChange": "mdx.alerts",
    "ConsensusChange": "mdx.alerts",
    "LogSink": "mdx.alerts",
    "WebhookSink": "mdx.alerts",
    # the live monitor
    "MonitorApp": "mdx.ui",
    "serve_monitor": "mdx.serve",
    # storage
    "Store": "mdx.store",
    "StoreWriter": "mdx.store",
    "import_csv": "mdx.store",
    "export": "mdx.store",
    "ImportReport": "mdx.store",
    "ExportReport": "mdx.store",
    "RejectedFile": "mdx.errors",
    "backfill": "mdx.store.backfill",
    "run_backfill": "mdx.store.backfill",
    "BackfillReport": "mdx.store.backfill",
    "TTLCache": "mdx.store.cache",
    # venues: the other public channels, cross-venue checks, latency
    "Ticker": "mdx.channel_events",
    "ExchangeBar": "mdx.channel_events",
    "Funding": "mdx.channel_events",
    "MarkPrice": "mdx.channel_events",
    "OpenInterest": "mdx.channel_events",
    "Liquidation": "mdx.channel_events",
    "VenueMonitor": "mdx.market.venues",
    "VenueDeviation": "mdx.market.venues",
    "CompositePrice": "mdx.market.venues",
    "session_states": "mdx.market.venues",
    "LatencyTracker": "mdx.market.latency",
    "Latency": "mdx.market.latency",
    "LiveSource": "mdx.sources.live",
    "RedisSource": "mdx.sources.redis",
    "Collector": "mdx.sources.redis",
    # sources and files
    "make_source": "mdx.sources",
    "make_sources": "mdx.sources",
    "merge_by_recv": "mdx.sources.merge",
    "HistorySource": "mdx.sources.base",
    "Simulator": "mdx.sources.sim.simulator",
    "SimFaults": "mdx.sources.sim.simulator",
    "ReplaySource": "mdx.sources.replay",
    "read_capture": "mdx.io.capture",
    "read_recording": "mdx.io.recording",
    "write_recording": "mdx.io.recording",
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
