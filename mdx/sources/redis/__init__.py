"""Scale-out on Redis: one collector publishes, many dashboard kernels read.

    mdx collect --source binance --redis redis://HOST:6379/0      # one process: the exchange connection
    mdx monitor --source redis://HOST:6379/0                       # every viewer's kernel reads Redis

``Collector`` runs a session once with a ``RedisPublisher`` wired in; ``RedisSource`` is the source the
kernels use (``--source redis://...``). ``keys`` names the streams and keys; ``connection`` connects and
redacts. Only this package (and ``mdx.store``) imports ``redis``.
"""

from __future__ import annotations

from .collector import Collector
from .keys import StreamIds, bars_key, book_key, latest_key, stream_key
from .publisher import RedisPublisher
from .source import RedisSource

__all__ = [
    "Collector",
    "RedisPublisher",
    "RedisSource",
    "StreamIds",
    "bars_key",
    "book_key",
    "latest_key",
    "stream_key",
]
