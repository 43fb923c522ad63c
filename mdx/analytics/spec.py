"""``compute(bars, spec)``: indicator columns added to a frame of bars from short spec strings.

A spec string is a name and optional comma-separated parameters: ``"ema:20"``, ``"rsi:14"``,
``"macd:12,26,9"``, ``"bb:20,2"``, ``"stoch:14,3,3"``, ``"volatility:20,1h"``, ``"obv"``. Missing
trailing parameters take the indicator's defaults. ``SPECS`` lists every name with its parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import pandas as pd

from ..errors import ConfigError, MdxError
from .averages import EMA, MACD, RSI, SMA, WMA, Bollinger
from .base import Indicator
from .rolling import Beta, Correlation, Returns, RollingStd, RollingVolatility, ZScore
from .trend import ADX, ATR, Stoch, TrueRange
from .volume import OBV, VWAP, AnchoredVWAP, CumulativeVolumeDelta, RollingVWAP, VolumeDelta


class Spec(NamedTuple):
    make: Callable[..., Indicator]
    params: tuple[tuple[str, type], ...]  # (name, int | float | str) in order


def _log_returns() -> Indicator:
    return Returns(log=True)


SPECS: dict[str, Spec] = {
    "sma": Spec(SMA, (("n", int),)),
    "ema": Spec(EMA, (("n", int),)),
    "wma": Spec(WMA, (("n", int),)),
    "rsi": Spec(RSI, (("n", int),)),
    "macd": Spec(MACD, (("fast", int), ("slow", int), ("signal", int))),
    "bb": Spec(Bollinger, (("n", int), ("k", float))),
    "bollinger": Spec(Bollinger, (("n", int), ("k", float))),
    "tr": Spec(TrueRange, ()),
    "atr": Spec(ATR, (("n", int),)),
    "stoch": Spec(Stoch, (("fastk", int), ("slowk", int), ("slowd", int))),
    "adx": Spec(ADX, (("n", int),)),
    "obv": Spec(OBV, ()),
    "vwap": Spec(VWAP, ()),
    "avwap": Spec(AnchoredVWAP, (("anchor", str),)),
    "rvwap": Spec(RollingVWAP, (("n", int),)),
    "vd": Spec(VolumeDelta, ()),
    "cvd": Spec(CumulativeVolumeDelta, ()),
    "returns": Spec(Returns, ()),
    "log_returns": Spec(_log_returns, ()),
    "std": Spec(RollingStd, (("n", int), ("ddof", int))),
    "zscore": Spec(ZScore, (("n", int), ("ddof", int))),
    "volatility": Spec(RollingVolatility, (("n", int), ("timeframe", str))),
}
# Two-series indicators take their inputs by column name: "corr:20,close,other" is not supported
# (a frame of bars has one price series); use correlation()/beta() or Correlation/Beta directly.
_PAIRS = {"corr": Correlation, "beta": Beta}


def parse(spec: str) -> Indicator:
    """The streaming indicator a spec string names, or a ``ConfigError`` saying what is wrong."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"indicator spec must be a non-empty string like 'ema:20', got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    name = name.strip().lower()
    if name in _PAIRS:
        raise ConfigError(f"indicator spec {spec!r}: {name} needs two series; call mdx.{name} instead")
    entry = SPECS.get(name)
    if entry is None:
        raise ConfigError(f"unknown indicator {name!r} in spec {spec!r}; known: {', '.join(sorted(SPECS))}")
    texts = [t.strip() for t in rest.split(",")] if rest.strip() else []
    if len(texts) > len(entry.params):
        wanted = ", ".join(p for p, _ in entry.params) or "no parameters"
        raise ConfigError(f"indicator spec {spec!r}: {name} takes {wanted}; got {len(texts)} values")
    values = [
        _value(spec, param, kind, text) for (param, kind), text in zip(entry.params, texts, strict=False)
    ]
    try:
        return entry.make(*values)
    except MdxError as error:
        raise ConfigError(f"indicator spec {spec!r}: {error}") from None


def _value(spec: str, param: str, kind: type, text: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"indicator spec {spec!r}: {param} must be {kind.__name__}, got {text!r}") from None


def compute(bars: pd.DataFrame, spec: str | Iterable[str]) -> pd.DataFrame:
    """``bars`` (a frame like ``resample_trades`` gives) with one column per indicator output added::

        compute(bars, ["ema:20", "rsi:14", "macd:12,26,9", "bb:20,2"])
        # adds ema_20, rsi_14, macd_12_26_9_macd / _signal / _histogram, bollinger_20_2_upper / ...

    Columns are named as the streaming indicators' ``name``. Every spec is checked before anything is
    computed: an unknown name or bad parameters raise ``ConfigError``; a missing input column (e.g.
    ``high`` for ATR) or a frame too short for one output raises ``DataError``.
    """
    specs = [spec] if isinstance(spec, str) else list(spec)
    indicators = [parse(s) for s in specs]
    columns: list[pd.Series | pd.DataFrame] = [indicator.batch(bars) for indicator in indicators]
    out = bars.copy()
    for result in columns:
        if isinstance(result, pd.DataFrame):
            for name in result.columns:
                out[name] = result[name]
        else:
            out[result.name] = result
    return out


__all__ = ["SPECS", "Spec", "compute", "parse"]
