"""The one exception tree of mdx.

Every error mdx raises on purpose is an ``MdxError``. The tree::

    MdxError
    ├── ConfigError                 bad settings, unknown source or option
    │   └── InvalidTimeframe        "7q" is not a ccxt timeframe (also a ValueError)
    ├── DataError                   bad market data (also a ValueError)
    │   ├── MalformedFrame          a frame that cannot be parsed or lacks fields
    │   ├── InvalidValue            NaN / negative / non-numeric price or amount
    │   ├── CaptureError            an unreadable or truncated capture file
    │   ├── DuplicateTrade          a trade id seen again (a replayed or duplicated frame)
    │   ├── TimeJump                an event time too far from the stream's (a year ahead, 1970)
    │   ├── RejectedFile            a CSV file refused whole on import (bad rows by line, nothing stored)
    │   └── BookError               order-book integrity problems
    │       ├── BookOutOfSync       a delta arrived with a sequence gap or before any snapshot
    │       ├── CrossedBook         best bid >= best ask after an update
    │       └── StaleSnapshot       a snapshot older than the book (ignored, the book keeps its state)
    ├── SourceError                 a market-data source failed
    │   ├── SourceUnavailable       network trouble; retryable with backoff
    │   │   ├── ExchangeUnreachable never reached: no network, DNS, refused, timed out (slow retry)
    │   │   └── RateLimited         HTTP 429 / 418: wait (``retry_after`` s when the exchange says) and retry
    │   ├── ExchangeBlocked         the exchange refuses this region (HTTP 451): final
    │   └── UnknownSymbol           the exchange does not list the symbol
    ├── StoreError                  the store cannot be opened or written: not SQLite, corrupt, not an
    │                               mdx store, a newer schema (the file is left as it is)
    └── CacheError                  the TTL cache (``mdx.store.cache``) cannot answer
        └── CacheUnavailable        its Redis cannot be reached (refused, timed out) and no stale value

Pipelines never stop on a ``DataError``: they count it as a rejection (see ``mdx.stats.Rejections``)
and keep going. Callers who want the strict behaviour use the functions that raise.
"""

from __future__ import annotations


class MdxError(Exception):
    """Base of every error mdx raises on purpose."""


class ConfigError(MdxError):
    """Settings or arguments that mdx cannot act on."""


class InvalidTimeframe(ConfigError, ValueError):
    """A timeframe string that is not a ccxt timeframe such as ``1s``, ``1m``, ``4h``, ``1d``."""


class DataError(MdxError, ValueError):
    """Market data that is malformed or impossible."""


class MalformedFrame(DataError):
    """A raw frame that cannot be parsed or lacks required fields."""


class InvalidValue(DataError):
    """A numeric field that is NaN, infinite, negative or not a number."""


class CaptureError(DataError):
    """A capture or recording file that cannot be read (missing, truncated, wrong format)."""


class DuplicateTrade(DataError):
    """A trade whose id was already seen for the same exchange and symbol."""


class TimeJump(DataError):
    """An event time more than the allowed gap away from the stream it joins (one bad timestamp)."""


class RejectedFile(DataError):
    """A file refused whole on import: ``problems`` holds the first reasons (``line N: ...``), ``count``
    the number of bad rows; nothing of the file was stored."""

    def __init__(self, message: str, problems: tuple[str, ...] = (), count: int = 0) -> None:
        super().__init__(message)
        self.problems, self.count = problems, count


class BookError(DataError):
    """An order-book integrity problem."""


class BookOutOfSync(BookError):
    """A delta that does not chain onto the book (gap, or no snapshot yet)."""


class CrossedBook(BookError):
    """Best bid at or above best ask."""


class StaleSnapshot(BookError):
    """A snapshot whose update id is below the book's: ignored, the book keeps its newer state."""


class SourceError(MdxError):
    """A market-data source failed."""


class SourceUnavailable(SourceError):
    """A network failure; the source retries with exponential, jittered backoff."""


class ExchangeUnreachable(SourceUnavailable):
    """The exchange was never reached (no network, DNS failure, connection refused or timed out)."""


class RateLimited(SourceUnavailable):
    """The exchange answered HTTP 429 / 418 (too many requests); ``retry_after``: the seconds it asked
    to wait (its ``Retry-After`` header), or None when it did not say."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ExchangeBlocked(SourceError):
    """The exchange refuses connections from this region (HTTP 451); retrying cannot help."""


class UnknownSymbol(SourceError):
    """The exchange does not list this symbol."""


class StoreError(MdxError):
    """The SQLite store cannot be opened or written; the file at its path is never overwritten."""


class CacheError(MdxError):
    """The TTL cache cannot answer (a value it cannot serialize or read back, a broken backend)."""


class CacheUnavailable(CacheError):
    """The cache's Redis cannot be reached (refused, timed out, gone) and there is no stale value to give."""


__all__ = [
    "BookError",
    "BookOutOfSync",
    "CacheError",
    "CacheUnavailable",
    "CaptureError",
    "ConfigError",
    "CrossedBook",
    "DataError",
    "DuplicateTrade",
    "ExchangeBlocked",
    "ExchangeUnreachable",
    "InvalidTimeframe",
    "InvalidValue",
    "MalformedFrame",
    "MdxError",
    "RateLimited",
    "RejectedFile",
    "SourceError",
    "SourceUnavailable",
    "StaleSnapshot",
    "StoreError",
    "TimeJump",
    "UnknownSymbol",
]
