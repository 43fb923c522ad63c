"""Indicators: batch functions (numpy/pandas in, same shape out) and streaming twins with equal values.

Every name is importable from here (and the batch functions and streaming classes from ``mdx``):

- moving averages and oscillators (``averages``): ``sma``, ``ema``, ``wma``, ``rsi``, ``macd``,
  ``bollinger``; ``SMA``, ``EMA``, ``WMA``, ``RSI``, ``MACD``, ``Bollinger``;
- returns and rolling statistics (``rolling``): ``returns``, ``rolling_mean``, ``rolling_std``,
  ``rolling_volatility`` (annualised by timeframe on request), ``zscore``, ``correlation``, ``beta``;
  ``Returns``, ``RollingMean``, ``RollingStd``, ``RollingVolatility``, ``ZScore``, ``Correlation``, ``Beta``;
- range and trend on high/low/close (``trend``): ``true_range``, ``atr``, ``stoch``, ``adx``;
  ``TrueRange``, ``ATR``, ``Stoch``, ``ADX``;
- volume (``volume``): ``vwap``, ``anchored_vwap``, ``rolling_vwap``, ``obv``, ``volume_delta``,
  ``cumulative_volume_delta``; ``VWAP``, ``AnchoredVWAP``, ``RollingVWAP``, ``OBV``, ``VolumeDelta``,
  ``CumulativeVolumeDelta``;
- ``compute(bars, ["ema:20", "rsi:14", "macd:12,26,9", "bb:20,2"])`` (``spec``): the bars with the
  indicator columns added.

Batch functions take TA-Lib's argument order (``atr(high, low, close, n)``, ``macd(close, fast, slow,
signal)``). A numpy array (or any 1-D sequence) gives a float64 numpy array; a pandas Series gives a
Series with the same index and name; several outputs give a DataFrame (the Series' index, or a
RangeIndex) whose columns are the fields of the streaming twin's named tuple. Each is one compiled loop
(``kernels``, ``kernels_multi``) whose docstring names its TA-Lib and pandas equivalents; the tests assert
them.

Streaming: each class is an ``mdx.analytics.base.Indicator``: named ``inputs`` and ``outputs``,
``update(...)`` (the output for these inputs: a float, or a named tuple for several outputs),
``update_bar(bar)``, ``value`` (the last output), ``ready`` (enough valid inputs seen for outputs to be
defined), ``reset()``, ``batch(frame)`` (the batch twin over a DataFrame of bars) and ``run(*columns)``.
They run the same floating-point operations in the same order as the batch kernels on plain Python
floats (no numpy in the hot path), so streaming over a series gives bit-for-bit the batch result.

Conventions (TA-Lib's):

- Outputs are NaN until enough values have been seen (the warm-up), at the same index as TA-Lib: EMAs
  are seeded with the SMA of their first values, Wilder averages (RSI, ATR, ADX) likewise; a
  multi-output indicator that TA-Lib computes as one function (MACD, STOCH) starts all its outputs
  together. Exceptions, stated where they apply: a flat RSI window gives 50 (TA-Lib 0).
- Missing input: a NaN **or infinite** (``±inf``) value gives NaN at that position and is *skipped*: the
  state does not change, as if it were not there. So one bad tick costs one NaN output, never NaN
  forever; on such input every function equals its pandas equivalent applied to
  ``s.replace([inf, -inf], nan).dropna()`` and reindexed to ``s.index``. Several inputs (high, low,
  close; price and volume) are skipped together. VWAPs skip a step whose ``price * volume`` is not
  finite; RollingVolatility and Beta skip a return that is not finite.
- Rolling sums are kept shifted by a reference value and recomputed exactly from the window every
  ``recentre_every(n)`` valid values (a multiple of ``n``, at least 256), so they do not drift: over 200,000
  values they stay within ~1e-13 of the exact result, where pandas' rolling variance drifts to ~1e-7 on
  z-scores. Streaming cost is O(1) per update plus an O(n) recompute at each re-centring.
- Bad input raises from the one tree in ``mdx.errors``: a period that is not a positive integer (or
  MACD's fast >= slow, an unknown spec) -> ``ConfigError``; inputs of different lengths, a series too
  short for a single output, a 2-D input -> ``DataError``; non-numeric input -> ``InvalidValue``.
"""

from __future__ import annotations

from .averages import (
    EMA,
    MACD,
    RSI,
    SMA,
    WMA,
    Bollinger,
    BollingerBands,
    MACDValues,
    bollinger,
    ema,
    macd,
    rsi,
    sma,
    wma,
)
from .rolling import (
    Beta,
    Correlation,
    Returns,
    RollingMean,
    RollingStd,
    RollingVolatility,
    ZScore,
    beta,
    correlation,
    returns,
    rolling_mean,
    rolling_std,
    rolling_volatility,
    zscore,
)
from .spec import SPECS, compute
from .trend import ADX, ATR, ADXValues, Stoch, StochValues, TrueRange, adx, atr, stoch, true_range
from .volume import (
    OBV,
    VWAP,
    AnchoredVWAP,
    CumulativeVolumeDelta,
    RollingVWAP,
    VolumeDelta,
    anchored_vwap,
    cumulative_volume_delta,
    obv,
    rolling_vwap,
    volume_delta,
    vwap,
)

__all__ = [
    "ADX",
    "ATR",
    "EMA",
    "MACD",
    "OBV",
    "RSI",
    "SMA",
    "SPECS",
    "VWAP",
    "WMA",
    "ADXValues",
    "AnchoredVWAP",
    "Beta",
    "Bollinger",
    "BollingerBands",
    "Correlation",
    "CumulativeVolumeDelta",
    "MACDValues",
    "Returns",
    "RollingMean",
    "RollingStd",
    "RollingVWAP",
    "RollingVolatility",
    "Stoch",
    "StochValues",
    "TrueRange",
    "VolumeDelta",
    "ZScore",
    "adx",
    "anchored_vwap",
    "atr",
    "beta",
    "bollinger",
    "compute",
    "correlation",
    "cumulative_volume_delta",
    "ema",
    "macd",
    "obv",
    "returns",
    "rolling_mean",
    "rolling_std",
    "rolling_volatility",
    "rolling_vwap",
    "rsi",
    "sma",
    "stoch",
    "true_range",
    "volume_delta",
    "vwap",
    "wma",
    "zscore",
]
