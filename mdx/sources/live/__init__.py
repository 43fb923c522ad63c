"""Live exchanges through ccxt.pro (the only package that imports ccxt), with backoff between retries."""

from .backoff import Backoff
from .ccxt_source import LiveSource

__all__ = ["Backoff", "LiveSource"]
