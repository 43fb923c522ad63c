"""Where fired alerts go besides the hub and the cache: the ``mdx`` logger and webhooks.

``WebhookSink(url)`` POSTs each alert as JSON from a thread of its own, so a slow or failing endpoint never
stalls the engine: ``send`` only queues (a full queue drops the alert, counted in ``dropped``); the thread
retries a failed post (connection error, timeout, HTTP 429 or 5xx) with ``Backoff`` up to ``attempts``
times, then gives up on that alert (counted in ``failed``, logged); other HTTP errors (4xx) are not retried.
The URL may carry a token (chat webhooks do): logs and errors show only its scheme and host.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import random
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from ..backoff import Backoff
from ..errors import ConfigError
from .alert import Alert

log = logging.getLogger("mdx.alerts")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The JSON body a webhook receives."""
    return {
        "rule": alert.rule,
        "kind": alert.kind,
        "exchange": alert.exchange,
        "symbol": alert.symbol,
        "value": alert.value,
        "threshold": alert.threshold,
        "ts_event": alert.ts_event,
        "text": alert.text,
    }


class LogSink:
    """Each alert as one line on the ``mdx.alerts`` logger (the monitor's log panel shows it)."""

    def __init__(self, level: int = logging.WARNING) -> None:
        self.level = level

    def send(self, alert: Alert) -> None:
        log.log(self.level, "alert %s: %s", alert.rule, alert.text)


class WebhookSink:
    """POST alerts as JSON to ``url``; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        attempts: int = 5,
        backoff: Backoff = Backoff(initial=0.5, cap=30.0),  # noqa: B008 - frozen, immutable default
        queue_size: int = 1000,
        rng: random.Random | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"webhook URL must be http(s)://host/..., got one with scheme {parts.scheme!r}")
        if not timeout > 0 or isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigError(f"webhook timeout must be > 0 and attempts >= 1, got {timeout!r}, {attempts!r}")
        self._url = url
        self.where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self.retries = 0
        self._rng = rng or random.Random()
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=queue_size)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._deliver_all, name="mdx-webhook", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"WebhookSink({self.where}/...)"

    def send(self, alert: Alert) -> None:
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("webhook %s: queue full, %d alert(s) dropped", self.where, self.dropped)

    def close(self, timeout: float = 5.0) -> bool:
        """Deliver what is queued (for at most ``timeout`` seconds), then stop; True when the thread ended."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self._closing.set()  # stop waiting between retries
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _deliver_all(self) -> None:
        while True:
            alert = self._queue.get()
            if alert is None:
                return
            self._deliver(alert)

    def _deliver(self, alert: Alert) -> None:
        body = json.dumps(alert_payload(alert)).encode()
        for attempt in range(1, self.attempts + 1):
            problem = self._post(body)
            if problem is None:
                self.delivered += 1
                return
            retry, why = problem
            if not retry or attempt == self.attempts or self._closing.is_set():
                self.failed += 1
                log.error("webhook %s: alert %s not delivered after %d attempt(s): %s", self.where,
                          alert.rule, attempt, why)  # fmt: skip
                return
            self.retries += 1
            delay = self.backoff.delay(attempt, self._rng)
            log.warning("webhook %s: %s; retry %d in %.1f s", self.where, why, attempt, delay)
            if self._closing.wait(delay):
                self.failed += 1
                return

    def _post(self, body: bytes) -> tuple[bool, str] | None:
        """None when delivered; else (worth retrying, why) — never quoting the URL."""
        request = urllib.request.Request(
            self._url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
            return None
        except urllib.error.HTTPError as error:
            return error.code in RETRY_STATUSES, f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            return True, f"{type(reason).__name__}: {getattr(reason, 'strerror', None) or reason}"


__all__ = ["LogSink", "WebhookSink", "alert_payload"]
