"""The simulator's fair-price process: correlated log returns with volatility clustering.

Per step (``STEP_NS``, 50 ms) and symbol ``i``::

    r_i = sigma_i * sqrt(h * w) * (b_i * f + sqrt(1 - b_i**2) * e_i) - sigma_i**2 * h * w / 2
    h <- (1 - alpha - beta) + alpha * h * z**2 + beta * h    once per frame, z = the frame's factor move / sd

``f`` is a common market factor and ``e_i`` idiosyncratic noise, both Student-t (``df`` = 6) scaled to
unit variance, so the return correlation of symbols ``i, j`` is ``b_i * b_j`` (BTC/ETH ~0.75). The
variance multiplier is ``h * w``: ``h`` follows a GARCH(1,1) recursion once per frame (1 s) on the
market-factor return of the frame, with unconditional mean 1 (``sigma_i`` is the symbol's average
volatility, ``h`` its regime, half-life ~1 min); ``w`` is an inverse-gamma draw per frame with mean 1
shared by all symbols, which makes 1 s returns Student-t-like (fat tails, joint bursts) instead of
nearly normal after summing 20 steps. Random numbers are drawn a frame at a time as numpy blocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .specs import SECONDS_PER_YEAR, SymbolSpec

FRAME_NS = 1_000_000_000
STEPS = 20  # steps per frame
STEP_NS = FRAME_NS // STEPS


class FactorModel:
    """Generates the fair mid of every symbol, one frame of ``STEPS`` steps at a time."""

    def __init__(
        self,
        specs: Sequence[SymbolSpec],
        rng: np.random.Generator,
        *,
        alpha: float = 0.05,
        beta: float = 0.94,
        df: float = 6.0,
    ) -> None:
        self._rng = rng
        self._alpha, self._beta, self._omega = alpha, beta, 1.0 - alpha - beta
        self._df = df
        self._t_scale = math.sqrt((df - 2.0) / df)
        loading = np.array([spec.loading for spec in specs])
        self._loading = loading
        self._idio = np.sqrt(1.0 - loading**2)
        self._sigma = np.array([spec.vol for spec in specs]) / math.sqrt(SECONDS_PER_YEAR * STEPS)
        self._log_price = np.log(np.array([spec.price for spec in specs]))
        self._inv_tick = 1.0 / np.array([spec.tick for spec in specs])
        self.h = 1.0  # variance multiplier of the current frame

    def next_frame(self) -> tuple[list[list[float]], float]:
        """The next frame: per symbol the fair mid in ticks at the end of each step, and the frame's
        volatility multiplier ``sqrt(h)``."""
        n = len(self._loading)
        z = self._rng.standard_t(self._df, size=(STEPS, n + 1)) * self._t_scale
        factor = z[:, :1]
        shocks = factor * self._loading + z[:, 1:] * self._idio
        h = self.h
        burst = (self._df - 2.0) / self._rng.chisquare(self._df)
        step_sigma = self._sigma * math.sqrt(h * burst)
        log_path = self._log_price + np.cumsum(shocks * step_sigma - 0.5 * step_sigma**2, axis=0)
        self._log_price = log_path[-1]
        fair_ticks = np.exp(log_path) * self._inv_tick
        frame_z = float(factor.sum()) * math.sqrt(burst / STEPS)
        self.h = min(25.0, max(0.05, self._omega + self._alpha * h * frame_z * frame_z + self._beta * h))
        return fair_ticks.T.tolist(), math.sqrt(h)


__all__ = ["FRAME_NS", "STEPS", "STEP_NS", "FactorModel"]
