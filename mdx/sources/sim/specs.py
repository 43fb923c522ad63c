"""Per-symbol market parameters for the simulator: price level, tick, lot, volatility, activity.

BTC/USDT and ETH/USDT use figures fitted on real Binance spot captures (``CALIBRATED``, produced by
``python -m mdx.sources.sim.calibrate``, which also prints the simulator"s figures beside them): the
spread in ticks and how often and how far it widens, the depth profile (ticks between levels, level
notionals and their growth away from the mid, the size of the best level), the notional of single
trades and the number of trades per taker order (tabulated quantiles), taker orders, book deltas and
top-of-book updates per second, and the volatility of 1 s returns. The table is data in this file:
the simulator never reads the captures.

Other symbols get BTC/USDT"s figures scaled: notionals by the asset"s ``activity`` (and the quote
currency), taker orders per second from the asset table, top-of-book updates in proportion, the
spread by activity (1-2.5 bp for the less active), ticks between levels from the volatility.
Known base assets get price levels from a table (rough 2024 USD levels, BTC and ETH those of the
captures); the quote currency converts them (``ETH/BTC`` comes out near 0.05). Unknown assets get a
deterministic level from a hash of the name, so any unified symbol works and always looks the same.
Ticks and lots follow Binance spot for the majors and a significant-digits rule otherwise (tick
0.1-1 bp of the price, lot worth 0.1-1 USD).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

from ...errors import ConfigError

SECONDS_PER_YEAR = 365.0 * 86400.0
# probabilities at which the calibrated size distributions are tabulated (inverse CDF knots)
TRADE_PROBS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)
BOOK_SPAN_BPS = 30.0  # the simulated book spans about this far from the mid on each side
UPDATE_MS = 100  # book deltas every 100 ms, like Binance"s depth@100ms


@dataclass(frozen=True, slots=True)
class Calibration:
    """Figures fitted on a real capture (``calibrate.py``); notionals in the quote currency."""

    capture: str
    price: float  # median mid
    spread_ticks: int  # median spread
    wide_share: float  # share of time the spread is wider
    wide_ticks: float  # median spread when wider
    level_gap: float  # mean ticks between levels within 10 bps of the mid
    level_notional: float  # mean level notional at the mid (the best level aside)
    level_growth: float  # relative growth of the mean level notional per bps from the mid
    level_sigma: float  # lognormal sigma of level notionals
    top_notional: float  # median notional of the best level
    top_sigma: float  # lognormal sigma of the best level"s notional
    fill_notional: tuple[float, ...]  # notional of one trade (fill) at TRADE_PROBS
    fills_per_order: tuple[float, ...]  # trades per taker order at TRADE_PROBS
    order_rate: float  # taker orders per second
    delta_rate: float  # book deltas per second
    quote_rate: float  # top-of-book updates per second
    touch_notional: float  # median size change of the best level at an unchanged price
    touch_sigma: float  # lognormal sigma of those changes
    vol: float  # annualized volatility of 1 s mid returns


CALIBRATED: dict[str, Calibration] = {
    "BTC/USDT": Calibration(
        capture="Binance spot BTCUSDT, 2024-08-08 23:54 to 08-09 00:05 UTC",
        price=61688.0,
        spread_ticks=1,
        wide_share=0.00661,
        wide_ticks=104.0,
        level_gap=25.5,
        level_notional=10900.0,
        level_growth=0.0,
        level_sigma=1.84,
        top_notional=120000.0,
        top_sigma=1.35,
        fill_notional=(
            0.616,
            1.23,
            5.54,
            5.55,
            6.17,
            41.3,
            866.0,
            3550.0,
            6170.0,
            20000.0,
            44600.0,
            427000.0,
        ),
        fills_per_order=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 6.0, 10.0, 21.7, 80.4, 735.0),
        order_rate=11.0,
        delta_rate=9.99,
        quote_rate=113.0,
        touch_notional=5050.0,
        touch_sigma=1.92,
        vol=0.666,
    ),
    "ETH/USDT": Calibration(
        capture="Binance spot ETHUSDT, 2024-08-08 23:54 to 08-09 00:05 UTC",
        price=2681.2,
        spread_ticks=1,
        wide_share=0.0043,
        wide_ticks=8.5,
        level_gap=2.29,
        level_notional=9750.0,
        level_growth=0.0608,
        level_sigma=1.35,
        top_notional=25900.0,
        top_sigma=1.17,
        fill_notional=(
            0.267,
            0.803,
            2.95,
            5.36,
            5.36,
            20.9,
            467.0,
            2140.0,
            4290.0,
            9960.0,
            30700.0,
            140000.0,
        ),
        fills_per_order=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0, 7.0, 11.0, 20.0, 37.4, 219.0),
        order_rate=7.62,
        delta_rate=9.95,
        quote_rate=90.3,
        touch_notional=2680.0,
        touch_sigma=1.04,
        vol=0.705,
    ),
}
_REFERENCE = CALIBRATED["BTC/USDT"]  # what other symbols are scaled from
_ETH = CALIBRATED["ETH/USDT"]

# base asset: (USD level, annualized volatility, loading on the market factor, taker orders/s, activity)
# activity scales notionals relative to BTC. BTC/USDT and ETH/USDT use CALIBRATED (so do the BTC and
# ETH rows for other quotes: price level, volatility and taker orders per second).
_ASSETS: dict[str, tuple[float, float, float, float, float]] = {
    "BTC": (_REFERENCE.price, _REFERENCE.vol, 0.92, _REFERENCE.order_rate, 1.0),
    "ETH": (_ETH.price, _ETH.vol, 0.82, _ETH.order_rate, 0.8),
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
    """What the simulator needs to know about one symbol. Notionals are in the quote currency; the
    fields from ``spread_ticks`` on mean what the ``Calibration`` fields of the same name mean."""

    symbol: str
    price: float  # initial mid
    tick: float
    lot: float
    vol: float  # annualized volatility of log returns
    loading: float  # correlation of the symbol"s returns with the market factor
    spread_ticks: int
    wide_share: float
    wide_ticks: float
    level_gap: float
    level_notional: float
    level_growth: float
    level_sigma: float
    top_notional: float
    top_sigma: float
    fill_notional: tuple[float, ...]
    fills_per_order: tuple[float, ...]
    order_rate: float  # taker orders per second at average volatility
    quote_rate: float  # top-of-book updates per second at average volatility
    touch_notional: float
    touch_sigma: float
    book_levels: int  # levels per side of the simulated book
    calibration: str = ""  # the capture the figures were fitted on; "" when scaled

    @property
    def price_decimals(self) -> int:
        return _decimals(self.tick)

    @property
    def amount_decimals(self) -> int:
        return _decimals(self.lot)


def increment_scale(increment: float) -> float:
    """The divisor that turns a count of ``increment`` into a value: ``100.0`` for 0.01. Dividing an
    integer by a power of ten gives the float nearest to the decimal (no ``round`` needed). Increments
    of 1 and more (10, 100: prices in the millions) are exact as well: the divisor is ``1 / 10**k``."""
    if increment < 1.0:
        inverse = round(1.0 / increment)
        if abs(inverse * increment - 1.0) > 1e-9:
            raise ConfigError(f"tick or lot {increment!r} does not divide 1")
        return float(inverse)
    return 1.0 / increment


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
    price = round(round(price / tick) * tick, _decimals(tick))
    cal = CALIBRATED.get(symbol.strip().upper())
    if cal is None:
        cal = _scaled(price, tick, vol, rate, activity, quote_usd)
    bps_ticks = 1e-4 * price / tick  # ticks per basis point
    return SymbolSpec(
        symbol=symbol,
        price=price,
        tick=tick,
        lot=lot,
        vol=cal.vol,
        loading=loading,
        spread_ticks=cal.spread_ticks,
        wide_share=cal.wide_share,
        wide_ticks=cal.wide_ticks,
        level_gap=cal.level_gap,
        level_notional=cal.level_notional,
        level_growth=cal.level_growth,
        level_sigma=cal.level_sigma,
        top_notional=cal.top_notional,
        top_sigma=cal.top_sigma,
        fill_notional=cal.fill_notional,
        fills_per_order=cal.fills_per_order,
        order_rate=cal.order_rate,
        quote_rate=cal.quote_rate,
        touch_notional=cal.touch_notional,
        touch_sigma=cal.touch_sigma,
        book_levels=min(1000, max(100, math.ceil(BOOK_SPAN_BPS * bps_ticks / cal.level_gap))),
        calibration=cal.capture,
    )


def _scaled(
    price: float, tick: float, vol: float, rate: float, activity: float, quote_usd: float
) -> Calibration:
    """BTC/USDT"s figures for another symbol: notionals scaled by activity (trade sizes no less than a
    quarter of BTC"s), rates by the asset"s taker orders per second, ticks between levels a tenth of a
    1-sigma 100 ms move, the spread 0 / 1 / 2.5 bp (at least one tick) by activity."""
    ref = _REFERENCE
    spread_bps = 0.0 if activity >= 0.5 else 1.0 if activity >= 0.15 else 2.5
    spread = max(1, round(spread_bps * 1e-4 * price / tick))
    bps_ticks = 1e-4 * price / tick
    ref_bps_ticks = 1e-4 * ref.price / _INCREMENTS["BTC/USDT"][0]
    gap = max(1.0, price * vol / math.sqrt(SECONDS_PER_YEAR * 10.0) / tick / 10.0)
    depth_per_bps = ref.level_notional * ref_bps_ticks / ref.level_gap * activity / quote_usd
    trades = max(activity, 0.25) / quote_usd
    return Calibration(
        capture="",
        price=price,
        spread_ticks=spread,
        wide_share=ref.wide_share,
        wide_ticks=max(spread + 1.0, ref.wide_ticks / ref_bps_ticks * bps_ticks),
        level_gap=gap,
        level_notional=depth_per_bps * gap / bps_ticks,
        level_growth=ref.level_growth,
        level_sigma=ref.level_sigma,
        top_notional=ref.top_notional * activity / quote_usd,
        top_sigma=ref.top_sigma,
        fill_notional=tuple(v * trades for v in ref.fill_notional),
        fills_per_order=ref.fills_per_order,
        order_rate=rate,
        delta_rate=ref.delta_rate,
        quote_rate=ref.quote_rate * rate / ref.order_rate,
        touch_notional=ref.touch_notional * activity / quote_usd,
        touch_sigma=ref.touch_sigma,
        vol=vol,
    )


__all__ = [
    "CALIBRATED",
    "SECONDS_PER_YEAR",
    "TRADE_PROBS",
    "Calibration",
    "SymbolSpec",
    "increment_scale",
    "symbol_spec",
]
