"""The status line (source and connection state, honestly) and the log panel (warnings and errors).

``LogBuffer`` is a logging handler: the engine thread may log at any time, so records go into a bounded
deque (thread-safe appends) and the panel renders them on the next refresh, never from the logging call.
"""

from __future__ import annotations

import html as html_escape
import logging
import re
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from . import fmt
from .base import Panel, html, set_html
from .values import StatusInfo

STATE_TEXT = {
    "idle": "idle",
    "connecting": "connecting",
    "connected": "connected",
    "reconnecting": "reconnecting",
    "stale": "stale",
    "done": "done",
    "stopped": "stopped",
    "error": "error",
}


LIVE = ("connected", "stale", "reconnecting")  # states in which the running figures mean something
EXPLAINED = ("reconnecting", "stale", "error", "stopped", "done")  # states shown with their reason
SEP = "<span class='mdx-sep'>·</span>"


class StatusLine(Panel):
    """One line: state (with a coloured dot), source, reason, attempt and next try, rates, rejections.

    With several sources, each one shows its own name, dot, state and details, in an element with the
    stable class ``mdx-source-status`` (also ``mdx-state-<state>``, and ``data-source`` / ``data-state``
    attributes); ``source_states`` keeps what was last shown, by source name.

    A change of state or reason shows at once; the running figures (msg/s, refresh time) at most every
    ``interval_s`` (clock time from ``StatusInfo.now_ns``), which keeps the line calm and the kernel idle.
    """

    def __init__(self, *, interval_s: float = 1.0) -> None:
        self.widget = html("mdx-status")
        self.state = "idle"
        self.text = ""
        self.source_states: dict[str, str] = {}
        self.interval_ns = int(interval_s * 1e9)
        self._shown_ns = 0
        self._shown_key: tuple[Any, ...] = ()
        self.update(None, StatusInfo())

    def update(self, status: Any, info: StatusInfo, sources: Sequence[Any] = ()) -> bool:
        """``status``: a ``SessionStatus`` (state, source, reason, attempt, next_retry_ns) or None; with
        more than one ``sources`` (each source's own ``SessionStatus``), every source is shown by itself."""
        each = tuple(sources) if len(sources) > 1 else ()
        key = (_status_key(status), tuple(_status_key(s) for s in each), info.symbols, info.rejected)
        if key == self._shown_key and 0 <= info.now_ns - self._shown_ns < self.interval_ns:
            return False
        self._shown_key, self._shown_ns = key, info.now_ns
        state = _state(status)
        if each:
            head = SEP.join(_source_html(s, info.now_ns) for s in each)
            parts: list[str] = []
            live = any(_state(s) in LIVE for s in each)
        else:
            head = _state_html(state)
            source = getattr(status, "source", "")
            parts = ([_source_name(source)] if source else []) + _details(status, info.now_ns)
            live = state in LIVE
        if live:
            if info.symbols:
                parts.append(f"{info.symbols} symbol{'' if info.symbols == 1 else 's'}")
            if info.rate is not None:
                parts.append(f"{fmt.rate(info.rate)} msg/s total")
        if info.rejected:
            why = f" ({html_escape.escape(info.rejected_reason)})" if info.rejected_reason else ""
            parts.append(f"<span class='mdx-warn-text'>{info.rejected:,} rejected{why}</span>")
        if info.refresh_hz:
            timing = f" · {info.refresh_ms:.1f} ms" if info.refresh_ms is not None else ""
            parts.append(f"<span class='mdx-muted'>refresh {info.refresh_hz:g} Hz{timing}</span>")
        value = SEP.join([head, *parts]) if each else head + SEP + SEP.join(parts)
        sources_full = " + ".join(getattr(s, "source", "") for s in (each or (status,)) if s is not None)
        title = html_escape.escape(f"{sources_full}: {_plain(value)}" if sources_full else _plain(value))
        value = f"<div class='mdx-status-line' title='{title}'>{value}</div>"
        self.state = state
        self.text = _label(state)
        self.source_states = {getattr(s, "source", ""): _state(s) for s in each}
        return set_html(self.widget, value)


def _state(status: Any) -> str:
    return getattr(status, "state", "idle") or "idle"


def _label(state: str) -> str:
    return STATE_TEXT.get(state, html_escape.escape(state))


def _status_key(status: Any) -> tuple[Any, ...]:
    """What, when it changes, shows at once."""
    return (
        getattr(status, "state", "idle"),
        getattr(status, "source", ""),
        getattr(status, "reason", ""),
        getattr(status, "attempt", 0),
    )


def _state_html(state: str) -> str:
    return (
        f"<span class='mdx-state-{state}'><span class='mdx-dot'></span>"
        f"<span class='mdx-state'>{_label(state)}</span></span>"
    )


def _details(status: Any, now_ns: int) -> list[str]:
    """Attempt and next try while reconnecting; the reason when the state needs one."""
    state = _state(status)
    parts = []
    if state == "reconnecting":
        parts.append(f"attempt {getattr(status, 'attempt', 0)}")
        next_ns = getattr(status, "next_retry_ns", 0)
        if next_ns and now_ns:
            parts.append(f"next try in {fmt.seconds(max(next_ns - now_ns, 0) / 1e9)}")
    reason = getattr(status, "reason", "")
    if reason and state in EXPLAINED:
        parts.append(f"<span class='mdx-reason'>{html_escape.escape(reason)}</span>")
    return parts


def _source_name(source: str) -> str:
    """A source's short name (file names, not paths); the whole line's tooltip has the full one."""
    return f"<span class='mdx-source-label'>{html_escape.escape(fmt.short_source(source))}</span>"


def _plain(value: str) -> str:
    """The text of a line of HTML (for its tooltip)."""
    return html_escape.unescape(re.sub(r"<[^>]+>", "", value.replace(SEP, " · ")))


def _source_html(status: Any, now_ns: int) -> str:
    """One source of several: ``name ● state (details)``."""
    state = html_escape.escape(_state(status))
    name = html_escape.escape(getattr(status, "source", ""))
    short = html_escape.escape(fmt.short_source(getattr(status, "source", ""), 28))
    details = _details(status, now_ns)
    detail = f" <span class='mdx-source-detail'>({', '.join(details)})</span>" if details else ""
    return (
        f"<span class='mdx-source-status mdx-state-{state}' data-source='{name}' data-state='{state}'>"
        f"<span class='mdx-source-name'>{short}</span> <span class='mdx-dot'></span>"
        f"<span class='mdx-state'>{_label(_state(status))}</span>{detail}</span>"
    )


class FeedLines(Panel):
    """Compact lines under the status line about the live feeds (``mdx.ui.feeds_model.feed_lines``):
    streams polled over REST, latency per venue, the REST cache's metrics. Element ``mdx-feeds``, one
    ``mdx-feed-line`` each; hidden when there are none."""

    def __init__(self) -> None:
        self.widget = html("mdx-feeds")
        self.widget.layout.display = "none"
        self.lines: tuple[str, ...] = ()

    def update(self, lines: Sequence[str]) -> bool:
        lines = tuple(lines)
        if lines == self.lines:
            return False
        self.lines = lines
        display = "block" if lines else "none"
        if self.widget.layout.display != display:
            self.widget.layout.display = display
        body = "".join(f"<div class='mdx-feed-line'>{html_escape.escape(line)}</div>" for line in lines)
        return set_html(self.widget, body)


class LogBuffer(logging.Handler):
    """Keeps the newest ``maxlen`` records at ``level`` or above, for the log panel."""

    def __init__(self, maxlen: int = 50, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.records: deque[tuple[float, str, str, str]] = deque(maxlen=maxlen)
        self.version = 0
        self.counts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string in someone's log call
            self.handleError(record)
            return
        self.records.append((record.created, record.levelname, record.name, message))
        self.counts[record.levelname] = self.counts.get(record.levelname, 0) + 1
        self.version += 1

    def attach(self, logger: str = "mdx") -> LogBuffer:
        target = logging.getLogger(logger)
        if self not in target.handlers:
            target.addHandler(self)
        return self

    def detach(self, logger: str = "mdx") -> None:
        logging.getLogger(logger).removeHandler(self)


class LogPanel(Panel):
    """Warnings and errors from the ``mdx`` logger, newest first."""

    def __init__(self, buffer: LogBuffer | None = None, *, rows: int = 50) -> None:
        self.buffer = buffer or LogBuffer(maxlen=rows)
        self.title = html("mdx-card-title", "LOG")
        self.body = html("mdx-log")
        self.widget = widgets.VBox([self.title, self.body])
        self.widget.add_class("mdx-card")
        self.widget.add_class("mdx-log-panel")
        self._version = -1
        self.update()

    def update(self, force: bool = False) -> bool:
        if self.buffer.version == self._version and not force:
            return False
        self._version = self.buffer.version
        records = list(self.buffer.records)
        counts = self.buffer.counts
        summary = ", ".join(f"{n} {level.lower()}" for level, n in sorted(counts.items()))
        set_html(
            self.title,
            f"LOG <span class='mdx-muted'>{summary or 'warnings and errors from mdx'} · time UTC</span>",
        )
        if not records:
            return set_html(self.body, "<div class='mdx-log-empty'>no warnings</div>")
        rows = []
        for created, level, name, message in reversed(records):
            stamp = time.strftime("%H:%M:%S", time.gmtime(created))  # UTC, like every other time shown
            rows.append(
                f"<div class='mdx-log-row mdx-log-{level}'>{stamp} "
                f"<span class='mdx-log-level'>{level:<7}</span> "
                f"<span class='mdx-muted'>{html_escape.escape(name)}</span> "
                f"{html_escape.escape(message)}</div>"
            )
        return set_html(self.body, "".join(rows))


__all__ = ["FeedLines", "LogBuffer", "LogPanel", "StatusInfo", "StatusLine"]
