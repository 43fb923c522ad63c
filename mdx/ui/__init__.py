"""Live-monitor widgets for notebooks (the only part of mdx that imports ipywidgets and bqplot).

Every panel is a class whose root widget is created once and redrawn in place by ``update(...)``; each
can be displayed alone in any notebook. ``MonitorApp`` puts them together around a ``Session``::

    from mdx.ui import MonitorApp
    app = MonitorApp(Settings.from_env()).start()
    app

Panels: ``CandleChart`` (OHLC + volume + EMA / Bollinger / VWAP), ``MacdChart`` and ``RsiChart`` (sub-charts
under it, toggled), ``MidChart`` (mid, microprice, spread band), ``ImbalanceChart``, ``DepthChart``,
``Ladder``, ``TradesTable``, ``Tiles``, ``Watchlist``, ``SignalTile`` (z-score signal), ``ConfluenceGauge``,
``ConsensusRow``, ``AlertsPanel`` (rules, triggers, a form to add / remove rules), ``StatusLine``,
``LogPanel``, ``FeedLines`` (polled streams, latency per venue, REST cache), ``VenuesPanel`` (the venue
table and composite prices, with several exchanges), ``DerivativesPanel`` (funding, mark / index, open
interest, liquidations of a perpetual), ``Controls``; ``Refresher`` runs a fixed-rate refresh
on the kernel's loop. ``MonitorModel`` (``mdx.ui.model``) is the app without widgets: it turns cache
snapshots into a ``MonitorFrame`` of plain values (``TileValues``, ``WatchValues``, ``StatusInfo``, ...).
Stable DOM classes (``mdx-tile-last``, ``mdx-symbol``, ``mdx-timeframe``, ``mdx-status``,
``mdx-source-status``, ``mdx-chart-note`` and ``mdx-empty`` for a chart's empty state, ...) let browser
tests find things. Axes get round ticks and UTC time labels from ``mdx.ui.ticks`` (no widgets there).

Names are imported on first use (like ``mdx`` itself), so ``import mdx.ui.model`` loads no widgets.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "MonitorApp": "app",
    "AlertsPanel": "alerts_panel",
    "AlertTracker": "alerts_model",
    "RULE_TYPES": "alerts_model",
    "make_rule": "alerts_model",
    "MacdChart": "oscillators",
    "RsiChart": "oscillators",
    "ConfluenceGauge": "signals_panel",
    "ConsensusRow": "signals_panel",
    "SignalTile": "signals_panel",
    "SignalTracker": "signals_model",
    "AlertValues": "values",
    "ConfluenceValues": "values",
    "ConsensusValues": "values",
    "SignalValues": "values",
    "DepthChart": "book",
    "Ladder": "book",
    "CandleChart": "charts",
    "ImbalanceChart": "charts",
    "MidChart": "charts",
    "Controls": "controls",
    "BarArrays": "data",
    "BarSeries": "data",
    "bar_arrays": "data",
    "book_columns": "data",
    "MonitorFrame": "model",
    "MonitorModel": "model",
    "DEFAULT_HZ": "refresh",
    "MAX_HZ": "refresh",
    "Refresher": "refresh",
    "LogBuffer": "status",
    "LogPanel": "status",
    "StatusLine": "status",
    "FeedLines": "status",
    "VenuesPanel": "venues_panel",
    "VenueTracker": "venues_model",
    "VenueValues": "venues_model",
    "DerivativesPanel": "derivatives_panel",
    "DerivativesValues": "derivatives_model",
    "FeedTap": "tap",
    "RateMeter": "tap",
    "style_block": "theme",
    "TILES": "tiles",
    "Tiles": "tiles",
    "TradesTable": "trades",
    "StatusInfo": "values",
    "TileValues": "values",
    "WatchValues": "values",
    "Watchlist": "watchlist",
}

_SUBMODULES = frozenset(
    {
        "alerts_model",
        "alerts_panel",
        "app",
        "base",
        "book",
        "charts",
        "controls",
        "data",
        "derivatives_model",
        "derivatives_panel",
        "feeds_model",
        "fmt",
        "model",
        "oscillators",
        "refresh",
        "signals_model",
        "signals_panel",
        "status",
        "tap",
        "theme",
        "ticks",
        "tiles",
        "trades",
        "values",
        "venues_model",
        "venues_panel",
        "watchlist",
    }
)

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__, *_SUBMODULES])
