"""The streaming-indicator contract every indicator in ``mdx.analytics`` follows.

An indicator reads named inputs (``inputs``: bar fields such as ``("close",)``, ``("high", "low",
"close")`` or ``("vwap", "volume")``) and gives one or several named outputs (``outputs``)::

    ema = EMA(20)
    ema.update(close)            # one step from plain floats, in ``inputs`` order -> float
    ema.update_bar(bar)          # one step from a Bar (or anything with the input fields)
    ema.value, ema.ready         # the last output; enough inputs seen for outputs to be defined
    ema.reset()
    ema.batch(bars_frame)        # the batch twin over a DataFrame with the input columns: a Series
                                 # (one output) or a DataFrame (several), equal to streaming bit for bit
    EMA(20).run(closes)          # stream a whole column: a float64 array, (n,) or (n, len(outputs))

A single-output indicator's ``update`` returns a float; a multi-output one returns a small named tuple
whose fields are ``outputs`` (e.g. ``BollingerBands(upper, middle, lower)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


class Indicator:
    """Base of the streaming indicators. Subclasses set ``inputs``/``outputs`` and implement ``update``,
    ``reset``, ``ready``, ``_batch(*columns)``, and ``_label`` when ``name`` shows more than ``n``."""

    __slots__ = ()
    inputs: tuple[str, ...] = ("close",)
    outputs: tuple[str, ...] = ("value",)

    def update(self, *values: float) -> Any:
        raise NotImplementedError

    def update_bar(self, bar: Any) -> Any:
        """One step from the fields of ``bar`` named by ``inputs``."""
        return self.update(*[getattr(bar, name) for name in self.inputs])

    def run(self, *columns: Any) -> np.ndarray:
        """Feed whole columns (one per input, equal lengths) from the current state; returns every output
        as float64: shape ``(n,)`` for one output, ``(n, len(outputs))`` for several."""
        rows = [np.asarray(c, dtype=np.float64).tolist() for c in columns]
        update = self.update
        out = [update(*step) for step in zip(*rows, strict=True)]
        width = len(self.outputs)
        return np.array(out, dtype=np.float64).reshape(-1, width) if width > 1 else np.array(out, np.float64)

    def batch(self, frame: pd.DataFrame) -> pd.Series | pd.DataFrame:
        """The batch twin over ``frame``'s input columns (e.g. bars from ``resample_trades``), named."""
        missing = [name for name in self.inputs if _column(frame, name) is None]
        if missing:
            from ..errors import DataError

            raise DataError(f"{self.name} needs column(s) {missing} (inputs {list(self.inputs)})")
        result = self._batch(*[_column(frame, name) for name in self.inputs])
        if isinstance(result, pd.DataFrame):
            return result.add_prefix(f"{self.name}_")
        return result.rename(self.name)

    def _batch(self, *columns: pd.Series) -> pd.Series | pd.DataFrame:
        raise NotImplementedError

    @property
    def name(self) -> str:
        """E.g. ``ema_20``: the lower-case class name and the parameters."""
        label = self._label()
        return type(self).__name__.lower() + (f"_{label}" if label else "")

    def _label(self) -> str:
        """The parameters shown in ``name``: the period ``n`` by default."""
        n = getattr(self, "n", None)
        return "" if n is None else str(n)


def _column(frame: pd.DataFrame, name: str) -> pd.Series | None:
    """``frame[name]``; ``ts_event`` (a bar's open time, int ns) may also be the frame's DatetimeIndex."""
    if name in frame.columns:
        return frame[name]
    if name == "ts_event" and isinstance(frame.index, pd.DatetimeIndex):
        return pd.Series(frame.index.as_unit("ns").asi8, index=frame.index, name=name)
    return None


__all__ = ["Indicator"]
