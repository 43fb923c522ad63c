"""Number and time formatting for tiles and tables: stable widths, no jitter between refreshes."""

from __future__ import annotations

import math
import time

DASH = "—"


def price_decimals(price: float) -> int:
    """Decimals that show a price to about five significant digits (2 for BTC, 3-4 for SOL, 8 for dust)."""
    if not (math.isfinite(price) and price > 0):
        return 2
    return max(2, min(8, 4 - math.floor(math.log10(price))))


def price(value: float | None, decimals: int | None = None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    dp = price_decimals(value) if decimals is None else decimals
    return f"{value:,.{dp}f}"


def amount(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:,.2f}M"
    if size >= 1e4:
        return f"{value / 1e3:,.1f}k"
    if size >= 100:
        return f"{value:,.1f}"
    if size >= 1:
        return f"{value:,.3f}"
    if size == 0:
        return "0"
    return f"{value:.{min(5, 2 - math.floor(math.log10(size)))}f}"  # three significant digits, at most 5 dp


def pct(value: float | None, signed: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:+.2f}%" if signed else f"{value:.2f}%"


def bps(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    if value < 1:
        return f"{value:.3f}"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def signed(value: float | None, decimals: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:+.{decimals}f}"


def rate(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def age_ms(value_ms: float | None) -> str:
    """``37 ms``, ``1.2 s``, ``3 min``; a dash when nothing has arrived yet."""
    if value_ms is None or not math.isfinite(value_ms):
        return DASH
    value_ms = max(value_ms, 0.0)
    if value_ms < 1000:
        return f"{value_ms:.0f} ms"
    if value_ms < 60_000:
        return f"{value_ms / 1000:.1f} s"
    return f"{value_ms / 60_000:.0f} min"


def clock_time(ts_ns: int, with_ms: bool = True) -> str:
    """UTC ``HH:MM:SS.mmm`` of an epoch-ns timestamp."""
    seconds, ns = divmod(int(ts_ns), 1_000_000_000)
    text = time.strftime("%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{ns // 1_000_000:03d}" if with_ms else text


def seconds(value_s: float) -> str:
    return f"{value_s:.1f} s" if value_s < 60 else f"{value_s / 60:.1f} min"


def units(symbol: str) -> tuple[str, str]:
    """(base, quote) of a unified symbol: ``BTC/USDT`` -> (``BTC``, ``USDT``); ``BTC/USDT:USDT`` (a
    linear swap) -> (``BTC``, ``USDT``). Sizes and volumes are in the base currency, prices in the quote
    currency. ("", "") when the symbol does not say."""
    base, slash, rest = symbol.partition("/")
    if not slash or not base:
        return "", ""
    return base, rest.split(":")[0]


def short_source(source: str, width: int = 40) -> str:
    """A short label for a source string: file names instead of paths, ``+N`` for more files, at most
    ``width`` characters (``replay:/long/path/a.gz,/long/path/b.gz`` -> ``replay: a.gz +1``)."""
    parts = []
    for part in source.split("+"):
        kind, colon, rest = part.strip().partition(":")
        if colon and kind == "replay":
            names = [p.rstrip("/").rsplit("/", 1)[-1] for p in rest.split(",") if p.strip()]
            label = "replay: " + (names[0] if names else "")
            if len(names) > 1:
                label += f" +{len(names) - 1}"
            parts.append(label)
        else:
            parts.append(part.strip())
    text = " + ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


__all__ = [
    "DASH",
    "age_ms",
    "amount",
    "bps",
    "clock_time",
    "pct",
    "price",
    "price_decimals",
    "rate",
    "seconds",
    "short_source",
    "units",
]
