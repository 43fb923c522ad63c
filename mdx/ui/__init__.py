"""Live-monitor widgets for notebooks (the only part of mdx that imports ipywidgets and bqplot).

Every panel is a class whose root widget is created once and redrawn in place by ``update(...)``; each
can be displayed alone in any notebook. ``MonitorApp`` puts them together around a ``Session``::

    from mdx.ui import MonitorApp
    app = MonitorApp(Settings.from_env()).start()
    app

Panels: ``CandleChart`` (OHLC + volume + EMA / Bollinger / VWAP), ``MidChart`` (mid, microprice,
spread band), ``ImbalanceChart``, ``DepthChart``, ``Ladder``, ``TradesTable``, ``Tiles``,
``Watchlist``, ``StatusLine``, ``LogPanel``, ``Controls``; ``Refresher`` runs a fixed-rate refresh
on the kernel's loop. Stable DOM classes (``mdx-tile-last``, ``mdx-symbol``, ``mdx-timeframe``,
``mdx-status``, ...) let browser tests find things.
"""

from __future__ import annotations

from .app import MonitorApp
from .book import DepthChart, Ladder
from .charts import CandleChart, ImbalanceChart, MidChart
from .controls import Controls
from .data import BarArrays, BarSeries, bar_arrays, book_columns
from .refresh import DEFAULT_HZ, MAX_HZ, Refresher
from .status import LogBuffer, LogPanel, StatusInfo, StatusLine
from .tap import FeedTap, RateMeter
from .theme import style_block
from .tiles import TILES, Tiles, TileValues
from .trades import TradesTable
from .watchlist import Watchlist, WatchValues

__all__ = [
    "DEFAULT_HZ",
    "MAX_HZ",
    "TILES",
    "BarArrays",
    "BarSeries",
    "CandleChart",
    "Controls",
    "DepthChart",
    "FeedTap",
    "ImbalanceChart",
    "Ladder",
    "LogBuffer",
    "LogPanel",
    "MidChart",
    "MonitorApp",
    "RateMeter",
    "Refresher",
    "StatusInfo",
    "StatusLine",
    "TileValues",
    "Tiles",
    "TradesTable",
    "WatchValues",
    "Watchlist",
    "bar_arrays",
    "book_columns",
    "style_block",
]
