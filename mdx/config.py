"""Frozen settings, read from arguments or the environment, and the source they describe.

Environment (what ``mdx monitor`` passes to the Voilà kernels):
``MDX_SOURCE`` (``sim`` | ``replay:PATH[,PATH...]`` | a ccxt exchange id, several joined by ``+`` to run
side by side: ``sim+replay:PATH``), ``MDX_EXCHANGE``,
``MDX_SYMBOLS`` (comma-separated unified symbols), ``MDX_TIMEFRAMES``, ``MDX_SPEED``, ``MDX_SEED``,
``MDX_DB``, ``MDX_REDIS_URL``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ConfigError
from .market.timeframes import timeframe_ns

DEFAULT_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    source: str = "sim"
    exchange: str = ""
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    timeframes: tuple[str, ...] = ("1s", "1m", "5m")
    speed: float = 1.0
    seed: int = 7
    db: str = ""
    redis_url: str = field(default="", repr=False)  # may hold a password: never printed

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ConfigError("no symbols configured")
        for tf in self.timeframes:
            timeframe_ns(tf)
        if not self.speed > 0:
            raise ConfigError(f"speed must be > 0, got {self.speed!r}")

    @property
    def source_specs(self) -> tuple[str, ...]:
        """The sources to run side by side in one session: ``sim+replay:PATH`` gives two."""
        return tuple(part.strip() for part in self.source.split("+") if part.strip()) or ("sim",)

    @property
    def source_kind(self) -> str:
        """``sim``, ``replay`` or ``live``."""
        if self.source == "sim":
            return "sim"
        if self.source.startswith("replay:"):
            return "replay"
        return "live"

    @property
    def replay_paths(self) -> tuple[str, ...]:
        return _split(self.source.removeprefix("replay:")) if self.source_kind == "replay" else ()

    def to_env(self) -> dict[str, str]:
        """Environment variables that make ``from_env`` rebuild these settings in another process."""
        env = {
            "MDX_SOURCE": self.source,
            "MDX_EXCHANGE": self.exchange,
            "MDX_SYMBOLS": ",".join(self.symbols),
            "MDX_TIMEFRAMES": ",".join(self.timeframes),
            "MDX_SPEED": repr(self.speed),
            "MDX_SEED": str(self.seed),
            "MDX_DB": self.db,
        }
        if self.redis_url:
            env["MDX_REDIS_URL"] = self.redis_url
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        try:
            return cls(
                source=env.get("MDX_SOURCE", "sim") or "sim",
                exchange=env.get("MDX_EXCHANGE", ""),
                symbols=_split(env.get("MDX_SYMBOLS", "")) or DEFAULT_SYMBOLS,
                timeframes=_split(env.get("MDX_TIMEFRAMES", "")) or ("1s", "1m", "5m"),
                speed=float(env.get("MDX_SPEED", "1") or 1),
                seed=int(env.get("MDX_SEED", "7") or 7),
                db=env.get("MDX_DB", ""),
                redis_url=env.get("MDX_REDIS_URL", ""),
            )
        except ValueError as error:
            raise ConfigError(f"bad MDX_* environment value: {error}") from error


__all__ = ["DEFAULT_SYMBOLS", "Settings"]
