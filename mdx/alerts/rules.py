"""Alert rules: each watches one symbol, measures one value from the events it takes, and says when that
value crosses its threshold. Rules run on the engine thread (``AlertEngine``) and keep their own state;
they read event time only, so the same recording always fires the same alerts.

=====================  ====================  ===============================================================
rule                   takes                 fires when (value, threshold)
=====================  ====================  ===============================================================
``PriceAbove``         trades                the last price is above ``level`` (price, level)
``PriceBelow``         trades                the last price is below ``level``
``PriceCross``         trades                the price crosses ``level``, up or down (from the last trade)
``PctChange``          trades                the price moved ``pct`` % or more within ``window`` (%, pct)
``ZScoreBeyond``       closed bars           the close's z-score over ``n`` bars is beyond ±``k``
``VolatilitySpike``    closed bars           volatility over ``short`` bars > ``k`` x its median over the
                                             last ``long`` bars (ratio, k)
``SpreadAbove``        book views            the spread is above ``bps`` (bps, bps), in-sync books only
``ImbalanceBeyond``    book views            the top-of-book imbalance is beyond ±``level``
``Stale``              every event           no event of the symbol for ``seconds`` of event time, seen
                                             from any other event of its exchange (s, seconds)
``ConfluenceLabel      ``Confluence``        the confluence label of ``timeframe`` changes (``into`` /
Change``                                     ``out_of``: only to / from these labels) (score, the label
                                             cut-off crossed: 20, 40, 60 or 80)
``ConsensusChange``    ``Consensus``         the multi-timeframe consensus signal (BUY / SELL / NEUTRAL)
                                             changes with a confidence >= ``min_confidence``
                                             (confidence, min_confidence)
=====================  ====================  ===============================================================

Every rule has a ``cooldown`` (event-time seconds, default 60) that the engine applies: after it fires,
it is silent for that long, however often its condition holds (level rules such as ``PriceAbove`` would
otherwise fire on every trade). ``exchange`` ("" = any) narrows a rule to one venue.

The signal-change rules judge the closed-bar values only (``Confluence`` / ``Consensus`` events with
``final`` True): those are what the batch functions give, and a change on them is a change that holds.
``provisional=True`` also judges the open-bar previews ``ConfluenceMaker`` emits (``final`` False): an
earlier warning that may be taken back when the bar closes (then the change back fires too, cooldown
permitting). The first signal a rule sees is its starting point, not a change; warm-up values (no label)
are skipped.
"""

from __future__ import annotations

import difflib
import math
from collections import deque
from collections.abc import Iterable
from typing import Any, ClassVar

from ..analytics.confluence import LABELS
from ..analytics.consensus import BUY, NEUTRAL, SELL
from ..analytics.indicators import ZScore
from ..analytics.live import Confluence, Consensus
from ..analytics.signals import VolatilityRatio
from ..errors import ConfigError
from ..events import Bar, Trade
from ..market.book import BookView
from ..market.timeframes import timeframe_ns

NS = 1_000_000_000


def _finite(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _positive(value: object, what: str) -> float:
    number = _finite(value, what)
    if number <= 0:
        raise ConfigError(f"{what} must be > 0, got {value!r}")
    return number


def _count(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{what} must be a whole number >= {minimum}, got {value!r}")
    return value


def _price(x: float) -> str:
    """Six significant digits, thousands separated, no trailing zeros: 68,012.5 / 101 / 0.00012345."""
    if not x or not math.isfinite(x):
        return str(x)
    text = f"{x:,.{max(0, min(10, 5 - math.floor(math.log10(abs(x)))))}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class Rule:
    """Base of the rules: a symbol, a cooldown, a name, and ``observe(event)`` giving the value when the
    rule fires on that event (None otherwise). Subclasses set ``kind``, ``takes`` and ``threshold``."""

    kind: ClassVar[str] = ""
    takes: ClassVar[tuple[type, ...]] = ()
    every_symbol: ClassVar[bool] = False  # True: observes the events of every symbol (``Stale``)
    threshold: float = math.nan

    def __init__(self, symbol: str, *, exchange: str = "", cooldown: float = 60.0, name: str = "") -> None:
        if not isinstance(symbol, str) or not symbol:
            raise ConfigError(
                f"{self.kind} rule: symbol must be a unified symbol like 'BTC/USDT', got {symbol!r}"
            )
        cooldown = _finite(cooldown, f"{self.kind} rule cooldown")
        if cooldown < 0:
            raise ConfigError(f"{self.kind} rule cooldown must be >= 0 s, got {cooldown!r}")
        self.symbol = symbol
        self.exchange = exchange
        self.cooldown_ns = int(cooldown * NS)
        self._name = name

    @property
    def name(self) -> str:
        return self._name or f"{self.kind}:{self.symbol}:{self.threshold:g}"

    def observe(self, event: Any) -> float | None:
        """Update the rule's state with ``event``; the measured value when the rule fires, else None."""
        raise NotImplementedError

    def text(self, value: float) -> str:
        """One line saying what happened, for a fired ``value``."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line saying what the rule watches (the monitor's list of rules shows it)."""
        return f"{self.symbol} {self.kind} {self.threshold:g}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class PriceAbove(Rule):
    kind = "price_above"
    takes = (Trade,)

    def __init__(self, symbol: str, level: float, **options: Any) -> None:
        self.threshold = _positive(level, "price level")
        super().__init__(symbol, **options)

    def observe(self, event: Trade) -> float | None:
        return event.price if event.price > self.threshold else None

    def text(self, value: float) -> str:
        return f"{self.symbol} price {_price(value)} is above {_price(self.threshold)}"

    def describe(self) -> str:
        return f"{self.symbol} price above {_price(self.threshold)}"


class PriceBelow(PriceAbove):
    kind = "price_below"

    def observe(self, event: Trade) -> float | None:
        return event.price if event.price < self.threshold else None

    def text(self, value: float) -> str:
        return f"{self.symbol} price {_price(value)} is below {_price(self.threshold)}"

    def describe(self) -> str:
        return f"{self.symbol} price below {_price(self.threshold)}"


class PriceCross(Rule):
    kind = "price_cross"
    takes = (Trade,)

    def __init__(self, symbol: str, level: float, **options: Any) -> None:
        self.threshold = _positive(level, "price level")
        super().__init__(symbol, **options)
        self._last = math.nan
        self._up = True

    def observe(self, event: Trade) -> float | None:
        last, self._last = self._last, event.price
        level = self.threshold
        if last < level <= event.price:
            self._up = True
            return event.price
        if last > level >= event.price:
            self._up = False
            return event.price
        return None

    def text(self, value: float) -> str:
        way = "above" if self._up else "below"
        return f"{self.symbol} price {_price(value)} crossed {way} {_price(self.threshold)}"

    def describe(self) -> str:
        return f"{self.symbol} price crosses {_price(self.threshold)}"


class PctChange(Rule):
    """The change from the first trade within ``window`` (a timeframe string such as ``5m``) to the last:
    fires at ``abs(change) >= pct`` (``direction`` "up" or "down" for one side only)."""

    kind = "pct_change"
    takes = (Trade,)

    def __init__(
        self, symbol: str, pct: float, window: str = "5m", *, direction: str = "both", **options: Any
    ) -> None:
        self.threshold = _positive(pct, "pct")
        if direction not in ("both", "up", "down"):
            raise ConfigError(f"direction must be 'both', 'up' or 'down', got {direction!r}")
        self.window = window
        self.window_ns = timeframe_ns(window)
        self.direction = direction
        super().__init__(symbol, **options)
        self._prices: deque[tuple[int, float]] = deque()

    @property
    def name(self) -> str:
        return self._name or f"{self.kind}:{self.symbol}:{self.threshold:g}%/{self.window}"

    def observe(self, event: Trade) -> float | None:
        prices = self._prices
        prices.append((event.ts_event, event.price))
        horizon = event.ts_event - self.window_ns
        while prices[0][0] < horizon:
            prices.popleft()
        change = (event.price / prices[0][1] - 1.0) * 100.0
        if self.direction != "down" and change >= self.threshold:
            return change
        if self.direction != "up" and change <= -self.threshold:
            return change
        return None

    def text(self, value: float) -> str:
        return f"{self.symbol} moved {value:+.2f}% within {self.window} (threshold {self.threshold:g}%)"

    def describe(self) -> str:
        return f"{self.symbol} moves {self.threshold:g}% within {self.window}"


class _BarRule(Rule):
    takes = (Bar,)

    def __init__(self, symbol: str, timeframe: str, **options: Any) -> None:
        timeframe_ns(timeframe)  # InvalidTimeframe early
        self.timeframe = timeframe
        super().__init__(symbol, **options)

    def observe(self, event: Bar) -> float | None:
        if not event.closed or event.timeframe != self.timeframe:
            return None
        return self.on_close(event.close)

    def on_close(self, close: float) -> float | None:
        raise NotImplementedError


class ZScoreBeyond(_BarRule):
    """The z-score of the close over the last ``n`` closed bars of ``timeframe`` beyond ``±k``."""

    kind = "zscore"

    def __init__(
        self, symbol: str, k: float = 2.0, n: int = 20, timeframe: str = "1m", **options: Any
    ) -> None:
        self.threshold = _positive(k, "k")
        self.n = _count(n, "n", 2)
        self._z = ZScore(self.n)
        super().__init__(symbol, timeframe, **options)

    @property
    def name(self) -> str:
        return self._name or f"{self.kind}:{self.symbol}:{self.threshold:g}:{self.n}x{self.timeframe}"

    def on_close(self, close: float) -> float | None:
        z = self._z.update(close)
        return z if abs(z) >= self.threshold else None  # NaN (warming up) never fires

    def text(self, value: float) -> str:
        over = f"over {self.n} {self.timeframe} bars"
        return f"{self.symbol} z-score {value:+.2f} {over} (beyond ±{self.threshold:g})"

    def describe(self) -> str:
        return f"{self.symbol} |z| >= {self.threshold:g} ({self.n} x {self.timeframe})"


class VolatilitySpike(_BarRule):
    """Volatility of log returns over ``short`` bars above ``k`` times its median over the previous ``long``
    values (``mdx.analytics.signals.VolatilityRatio``: defined once ``long // 2`` of them were seen)."""

    kind = "volatility_spike"

    def __init__(
        self,
        symbol: str,
        k: float = 3.0,
        short: int = 10,
        long: int = 100,
        timeframe: str = "1m",
        **options: Any,
    ) -> None:
        self.threshold = _positive(k, "k")
        self._ratio = VolatilityRatio(short, long)
        self.short, self.long = self._ratio.short, self._ratio.long
        super().__init__(symbol, timeframe, **options)

    @property
    def name(self) -> str:
        windows = f"{self.short}/{self.long}x{self.timeframe}"
        return self._name or f"{self.kind}:{self.symbol}:{self.threshold:g}:{windows}"

    def on_close(self, close: float) -> float | None:
        ratio = self._ratio.update(close).ratio
        return ratio if ratio > self.threshold else None  # NaN (warming up) never fires

    def text(self, value: float) -> str:
        return (
            f"{self.symbol} volatility spike: {value:.1f}x its median ({self.short} vs {self.long} "
            f"{self.timeframe} bars, threshold {self.threshold:g}x)"
        )

    def describe(self) -> str:
        return f"{self.symbol} volatility > {self.threshold:g}x median ({self.timeframe})"


class SpreadAbove(Rule):
    kind = "spread_above"
    takes = (BookView,)

    def __init__(self, symbol: str, bps: float, **options: Any) -> None:
        self.threshold = _positive(bps, "bps")
        super().__init__(symbol, **options)

    def observe(self, event: BookView) -> float | None:
        if not event.in_sync:
            return None
        return event.spread_bps if event.spread_bps > self.threshold else None

    def text(self, value: float) -> str:
        return f"{self.symbol} spread {value:.2f} bps is above {self.threshold:g} bps"

    def describe(self) -> str:
        return f"{self.symbol} spread above {self.threshold:g} bps"


class ImbalanceBeyond(Rule):
    kind = "imbalance"
    takes = (BookView,)

    def __init__(self, symbol: str, level: float = 0.8, **options: Any) -> None:
        level = _positive(level, "imbalance level")
        if level >= 1:
            raise ConfigError(f"imbalance level must be in (0, 1), got {level!r}")
        self.threshold = level
        super().__init__(symbol, **options)

    def observe(self, event: BookView) -> float | None:
        if not event.in_sync:
            return None
        return event.imbalance if abs(event.imbalance) >= self.threshold else None

    def text(self, value: float) -> str:
        side = "bid" if value > 0 else "ask"
        return f"{self.symbol} book imbalance {value:+.2f} ({side}-heavy, beyond ±{self.threshold:g})"

    def describe(self) -> str:
        return f"{self.symbol} |imbalance| >= {self.threshold:g}"


class Stale(Rule):
    """No event of the symbol for ``seconds`` of event time, judged when another event of the same exchange
    arrives (or when ``AlertEngine.tick(now_ns)`` is called). Fires once per silence (and cooldown)."""

    kind = "stale"
    takes = (object,)
    every_symbol = True

    def __init__(self, symbol: str, seconds: float = 30.0, **options: Any) -> None:
        self.threshold = _positive(seconds, "seconds")
        super().__init__(symbol, **options)
        self._last_ns = 0
        self._fired_for = -1

    def observe(self, event: Any) -> float | None:
        if event.symbol == self.symbol:
            self._last_ns = max(self._last_ns, event.ts_event)
            return None
        return self.age(event.ts_event)

    def age(self, now_ns: int) -> float | None:
        """The silence in seconds at ``now_ns`` when it is long enough to fire (once per silence)."""
        if not self._last_ns or self._fired_for == self._last_ns:
            return None
        age = (now_ns - self._last_ns) / NS
        if age < self.threshold:
            return None
        self._fired_for = self._last_ns
        return age

    def text(self, value: float) -> str:
        return f"{self.symbol} has had no data for {value:.0f} s (threshold {self.threshold:g} s)"

    def describe(self) -> str:
        return f"{self.symbol} stale for {self.threshold:g} s"


def _choices(given: str | Iterable[str] | None, known: tuple[str, ...], what: str) -> frozenset[str]:
    """The signals named by ``given`` (one or several; None: any), each one of ``known``."""
    if given is None:
        return frozenset()
    names = (given,) if isinstance(given, str) else tuple(given)
    for name in names:
        if name not in known:
            near = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"{what}: unknown signal {name!r}{hint}; known: {', '.join(known)}")
    if not names:
        raise ConfigError(f"{what}: an empty list would never fire (None: any signal)")
    return frozenset(names)


class _SignalChange(Rule):
    """Base of the rules that fire when a signal (a label, BUY / SELL / NEUTRAL) changes; see the module
    docstring. Subclasses give ``signals`` and ``signal_of(event)``, and read the fired change in
    ``self.change`` (previous, new)."""

    signals: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        symbol: str,
        *,
        into: str | Iterable[str] | None = None,
        out_of: str | Iterable[str] | None = None,
        provisional: bool = False,
        **options: Any,
    ) -> None:
        self.into = _choices(into, self.signals, f"{self.kind} rule into")
        self.out_of = _choices(out_of, self.signals, f"{self.kind} rule out_of")
        self.provisional = bool(provisional)
        super().__init__(symbol, **options)
        self._last = ""
        self.change = ("", "")
        self.final = True  # whether the fired change was on a closed bar

    def observe(self, event: Any) -> float | None:
        if not (event.final or self.provisional):
            return None
        new = self.signal_of(event)
        if not new:
            return None  # warm-up, or not this rule's (e.g. another timeframe)
        old = self._last
        if not self.confirmed(event):
            return None
        self._last = new
        if not old or old == new:
            return None
        if (self.into and new not in self.into) or (self.out_of and old not in self.out_of):
            return None
        self.change = (old, new)
        self.final = event.final
        return self.measure(event)

    def signal_of(self, event: Any) -> str:
        raise NotImplementedError

    def confirmed(self, event: Any) -> bool:
        """Whether ``event``'s signal counts (``ConsensusChange``: a confidence high enough)."""
        return True

    def measure(self, event: Any) -> float:
        raise NotImplementedError

    def _filters(self) -> str:
        into = f" into {'/'.join(sorted(self.into))}" if self.into else ""
        out_of = f" out of {'/'.join(sorted(self.out_of))}" if self.out_of else ""
        return into + out_of + (" (open bars too)" if self.provisional else "")


def _cutoff(old: str, new: str) -> float:
    """The score cut-off between two confluence labels that a change from ``old`` to ``new`` crossed
    (the nearest to ``new``): neutral -> buy 60, buy -> neutral 60, strong buy -> sell 40."""
    rank_old, rank_new = LABELS.index(old), LABELS.index(new)
    return 20.0 * (rank_new if rank_new > rank_old else rank_new + 1)


class ConfluenceLabelChange(_SignalChange):
    """The confluence label of ``timeframe`` ("strong sell", "sell", "neutral", "buy", "strong buy")
    changes; value: the score, threshold: the label cut-off it crossed (the nearest to the new label)."""

    kind = "confluence_change"
    takes = (Confluence,)
    signals = LABELS
    threshold = 50.0

    def __init__(self, symbol: str, timeframe: str = "1m", **options: Any) -> None:
        timeframe_ns(timeframe)  # InvalidTimeframe early
        self.timeframe = timeframe
        super().__init__(symbol, **options)

    @property
    def name(self) -> str:
        return self._name or f"{self.kind}:{self.symbol}:{self.timeframe}{self._filters()}"

    def signal_of(self, event: Confluence) -> str:
        return event.label if event.timeframe == self.timeframe else ""

    def measure(self, event: Confluence) -> float:
        self.threshold = _cutoff(*self.change)
        return event.score

    def text(self, value: float) -> str:
        old, new = self.change
        open_bar = "" if self.final else " (open bar)"
        return (
            f"{self.symbol} {self.timeframe} confluence turned {new} from {old}: score {value:.1f} "
            f"(cut-off {self.threshold:g}){open_bar}"
        )

    def describe(self) -> str:
        return f"{self.symbol} {self.timeframe} confluence label changes{self._filters()}"


class ConsensusChange(_SignalChange):
    """The multi-timeframe consensus signal (BUY / SELL / NEUTRAL) changes, once its confidence is at
    least ``min_confidence`` (a signal below it does not count: it is neither a change nor the new
    starting point); value: the confidence, threshold: ``min_confidence``."""

    kind = "consensus_change"
    takes = (Consensus,)
    signals = (BUY, SELL, NEUTRAL)

    def __init__(self, symbol: str, min_confidence: float = 0.0, **options: Any) -> None:
        level = _finite(min_confidence, "min_confidence")
        if not 0.0 <= level <= 1.0:
            raise ConfigError(f"min_confidence must be within [0, 1], got {min_confidence!r}")
        self.threshold = level
        super().__init__(symbol, **options)
        self._votes: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return self._name or f"{self.kind}:{self.symbol}:{self.threshold:g}{self._filters()}"

    def signal_of(self, event: Consensus) -> str:
        return event.signal

    def confirmed(self, event: Consensus) -> bool:
        return event.confidence >= self.threshold

    def measure(self, event: Consensus) -> float:
        self._votes = event.votes
        return event.confidence

    def text(self, value: float) -> str:
        old, new = self.change
        votes = ", ".join(f"{tf} {vote or '-'}" for tf, vote in self._votes)
        open_bar = "" if self.final else " (open bars)"
        return f"{self.symbol} consensus turned {new} from {old}: confidence {value:.2f} ({votes}){open_bar}"

    def describe(self) -> str:
        floor = f" (confidence >= {self.threshold:g})" if self.threshold else ""
        return f"{self.symbol} consensus signal changes{floor}{self._filters()}"


__all__ = [
    "ConfluenceLabelChange",
    "ConsensusChange",
    "ImbalanceBeyond",
    "PctChange",
    "PriceAbove",
    "PriceBelow",
    "PriceCross",
    "Rule",
    "SpreadAbove",
    "Stale",
    "VolatilitySpike",
    "ZScoreBeyond",
]
