"""Counters the pipeline keeps about itself: rejected input by reason, messages by kind."""

from __future__ import annotations

import logging
import threading
from collections import Counter

from .errors import DataError

log = logging.getLogger("mdx")


class Rejections:
    """Counts bad input by reason instead of stopping the pipeline. The first few of each reason
    are logged as warnings (with the specific message); later ones are only counted. Thread-safe: the
    store's writer thread and the session's loop count into the same one."""

    def __init__(self, log_first: int = 3) -> None:
        self.by_reason: Counter[str] = Counter()
        self.last_message: dict[str, str] = {}
        self._log_first = log_first
        self._lock = threading.Lock()

    def add(
        self,
        error: DataError | str,
        detail: str = "",
        *,
        level: int = logging.WARNING,
        exc_info: BaseException | None = None,
    ) -> None:
        """Count ``error`` (a ``DataError``: its class name is the reason) or a reason string with its
        ``detail``. The first few of a reason are logged at ``level`` (with ``exc_info``'s traceback)."""
        reason = type(error).__name__ if isinstance(error, DataError) else str(error)
        message = str(error) if isinstance(error, DataError) else detail
        with self._lock:
            self.by_reason[reason] += 1
            self.last_message[reason] = message
            count = self.by_reason[reason]
        if count <= self._log_first:
            more = " (further ones are counted, not logged)" if count == self._log_first else ""
            log.log(level, "rejected (%s): %s%s", reason, message, more, exc_info=exc_info)

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def __repr__(self) -> str:
        return f"Rejections({dict(self.by_reason)})"


__all__ = ["Rejections"]
