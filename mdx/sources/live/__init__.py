"""Live exchanges through ccxt.pro (the only package that imports ccxt), with backoff between retries.

``network_advice(exchange, error)`` words an exchange that cannot be used from here (no network, DNS,
refused, HTTP 451) in one line with what to run instead; the status line and the CLI show the same line.
"""

from ...backoff import Backoff
from .ccxt_source import LiveSource
from .failures import network_advice

__all__ = ["Backoff", "LiveSource", "network_advice"]
