"""Per-symbol market parameters for the simulator: price level, tick, lot, volatility, activity.

Known base assets get levels from a table (rough 2024 USD levels); the quote currency converts them
(``ETH/BTC`` comes out near 0.05). Unknown assets get a deterministic level from a hash of the name,
so any unified symbol works and always looks the same. Ticks and lots follow Binance spot for the
majors and a significant-digits rule otherwise (tick 0.1-1 bp of the price, lot worth 0.1-1 USD).
Activity numbers are calibrated loosely on Binance spot BTCUSDT/ETHUSDT (August 2024): ~20 ticks
between BTC levels, level notionals of a few k USD near the top, a heavy-tailed trade size with a
median of ~40 USD. Less active symbols get wider spreads (1-2.5 bp).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

from ...errors import ConfigError

SECONDS_PER_YEAR = 365.0 * 86400.0

# base asset: (USD level, annualized volatility, loading on the market factor, arrivals/s, activity)
# activity scales trade and level notionals relative to BTC.
_ASSETS: dict[str, tuple[float, float, float, float, float]] = {
    "BTC": (68_000.0, 0.55, 0.92, 12.0, 1.0),
    "ETH": (3_300.0, 0.68, 0.82, 9.0, 0.8),
    "SOL": (160.0, 0.80, 0.74, 6.0, 0.5),
    "BNB": (580.0, 0.55, 0.70, 3.0, 0.3),
    "XRP": (0.55, 0.75, 0.65, 4.0, 0.3),
    "DOGE": (0.14, 0.80, 0.68, 4.0, 0.3),
    "ADA": (0.45, 0.75, 0.68, 2.0, 0.15),
    "AVAX": (32.0, 0.80, 0.70, 2.0, 0.15),
    "LINK": (15.0, 0.80, 0.70, 2.0, 0.15),
    "DOT": (6.5, 0.75, 0.68, 1.5, 0.1),
    "LTC": (75.0, 0.70, 0.68, 1.5, 0.1),
    "BCH": (380.0, 0.75, 0.66, 1.5, 0.1),
    "TRX": (0.13, 0.50, 0.50, 1.0, 0.1),
    "TON": (6.5, 0.75, 0.50, 1.5, 0.1),
    "SHIB": (0.000018, 0.80, 0.65, 2.0, 0.1),
    "PEPE": (0.00001, 0.80, 0.60, 3.0, 0.2),
    "NEAR": (5.0, 0.80, 0.68, 1.5, 0.1),
    "ATOM": (7.0, 0.75, 0.66, 1.0, 0.1),
    "UNI": (8.0, 0.80, 0.66, 1.0, 0.1),
    "ARB": (0.8, 0.80, 0.68, 1.5, 0.1),
    "OP": (1.8, 0.80, 0.68, 1.5, 0.1),
    "SUI": (1.2, 0.80, 0.66, 2.0, 0.15),
    "APT": (8.0, 0.80, 0.66, 1.0, 0.1),
}
_USD_QUOTES = {"USDT": 1.0, "USDC": 1.0, "USD": 1.0, "BUSD": 1.0, "FDUSD": 1.0, "TUSD": 1.0, "DAI": 1.0}
_FIAT = {"EUR": 1.08, "GBP": 1.27, "JPY": 0.0066, "TRY": 0.03, "BRL": 0.18}
# symbol: (tick, lot) where Binance spot differs from the generic rule
_INCREMENTS: dict[str, tuple[float, float]] = {
    "BTC/USDT": (0.01, 0.00001),
    "ETH/USDT": (0.01, 0.0001),
    "SOL/USDT": (0.01, 0.001),
    "BNB/USDT": (0.01, 0.001),
}


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """What the simulator needs to know about one symbol. Notionals are in the quote currency."""

    symbol: str
    price: float  # initial mid
    tick: float
    lot: float
    vol: float  # annualized volatility of log returns
    loading: float  # correlation of the symbol's returns with the market factor
    trade_rate: float  # taker order arrivals per second at average volatility
    trade_notional: float  # median taker order notional (lognormal)
    level_notional: float  # median resting level notional at the top of the book
    spread_ticks: int  # usual top-of-book spread

    @property
    def price_decimals(self) -> int:
        return _decimals(self.tick)

    @property
    def amount_decimals(self) -> int:
        return _decimals(self.lot)


def _decimals(increment: float) -> int:
    return max(0, -math.floor(math.log10(increment) + 1e-9))


def _hash_unit(text: str) -> float:
    """A deterministic number in [0, 1) from a name (stable across processes, unlike ``hash``)."""
    return (zlib.crc32(text.encode()) % 1_000_003) / 1_000_003


def _asset(name: str) -> tuple[float, float, float, float, float]:
    known = _ASSETS.get(name)
    if known is not None:
        return known
    if name in _USD_QUOTES:
        return (_USD_QUOTES[name], 0.01, 0.0, 1.0, 0.1)
    if name in _FIAT:
        return (_FIAT[name], 0.08, 0.0, 1.0, 0.1)
    unit = _hash_unit(name)
    level = 10.0 ** (-1.0 + 4.0 * unit)  # 0.1 .. 1000 USD
    return (_round_sig(level, 5), 0.70 + 0.1 * unit, 0.68, 1.5, 0.1)


def _round_sig(value: float, digits: int) -> float:
    return round(value, digits - 1 - math.floor(math.log10(value)))


def symbol_spec(symbol: str) -> SymbolSpec:
    """Parameters for a ccxt unified symbol (``BASE/QUOTE`` or ``BASE/QUOTE:SETTLE``); never fails on
    an unknown asset. Raises ``ConfigError`` only for something that is not a symbol at all."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise ConfigError(f"simulator symbol must be a non-empty string like 'BTC/USDT', got {symbol!r}")
    pair = symbol.split(":", 1)[0]
    base, _, quote = pair.partition("/")
    base, quote = base.strip().upper(), (quote.strip().upper() or "USDT")
    base_usd, base_vol, base_loading, rate, activity = _asset(base)
    quote_usd, quote_vol, quote_loading, _, _ = _asset(quote)
    price = _round_sig(base_usd / quote_usd, 6)
    if quote_usd == 1.0 and quote in _USD_QUOTES:
        vol, loading = base_vol, base_loading
    else:  # a cross: volatility of the ratio, less tied to the market factor
        vol = min(0.9, max(0.3, math.sqrt(base_vol**2 + quote_vol**2 - 2 * 0.7 * base_vol * quote_vol)))
        loading = max(0.2, abs(base_loading - quote_loading))
        rate, activity = rate * 0.3, activity * 0.2
    tick, lot = _INCREMENTS.get(pair.upper(), (0.0, 0.0))
    if tick == 0.0:
        tick = 10.0 ** (math.floor(math.log10(price)) - 4)  # 0.1-1 bp
        lot = min(1.0, 10.0 ** (math.floor(math.log10(10.0 / base_usd) + 0.5) - 1))  # ~0.1-1 USD
    spread_bps = 0.0 if activity >= 0.5 else 1.0 if activity >= 0.15 else 2.5
    return SymbolSpec(
        symbol=symbol,
        price=round(round(price / tick) * tick, _decimals(tick)),
        tick=tick,
        lot=lot,
        vol=vol,
        loading=loading,
        trade_rate=rate,
        trade_notional=40.0 * max(activity, 0.25) / quote_usd,
        level_notional=5_000.0 * activity / quote_usd,
        spread_ticks=max(1, round(spread_bps * 1e-4 * price / tick)),
    )


__all__ = ["SECONDS_PER_YEAR", "SymbolSpec", "symbol_spec"]
