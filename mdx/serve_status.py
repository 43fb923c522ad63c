"""Source status changes from the monitor's kernels, shown in the terminal that runs ``mdx monitor``.

A kernel's stdout and stderr do not reach that terminal (ipykernel sends what cells print to the
browser), so ``mdx monitor`` names a file in ``MDX_STATUS_LOG``; each kernel's ``MonitorApp`` appends one
line there per status change of a source (``StatusLog``), and the server tails the file to its own stderr
(``StatusTail``)::

    mdx [4bd9fecc]: sim: connected
    mdx [4bd9fecc]: binance: reconnecting, attempt 2: connection refused
    mdx [4bd9fecc]: binance: error: binance does not list FOO/USDT
    mdx [4bd9fecc]: sim: stale

The bracket names the kernel (its Voilà kernel id, as in Voilà's own log lines): one per viewer. Each
line is written with one ``write`` on a file opened for appending, so lines of several kernels never
interleave. Secrets never appear: reasons come from mdx errors, which quote no credential, and the
values of the credential variables in the kernel's environment are masked on top of that.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol, TextIO

from .config import CREDENTIAL_KEYS

STATUS_LOG_VAR = "MDX_STATUS_LOG"
_SECRET_VAR = re.compile(r"MDX_(?:[A-Z0-9]+_)?(?:" + "|".join(CREDENTIAL_KEYS.values()) + ")")
_MIN_SECRET = 4  # shorter values would mask ordinary words

log = logging.getLogger(__name__)


class SourceStatus(Protocol):
    """What a status line needs of ``mdx.session.SessionStatus``."""

    @property
    def state(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def attempt(self) -> int: ...


def is_secret_var(name: str) -> bool:
    """Whether an environment variable holds a secret: a credential (``MDX_BINANCE_API_KEY``,
    ``MDX_SECRET``, ...) or the Redis URL (it may carry a password)."""
    return name == "MDX_REDIS_URL" or _SECRET_VAR.fullmatch(name) is not None


def secret_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The values of the secret variables of ``environ``, longest first (masked in that order)."""
    values = {v for name, v in environ.items() if is_secret_var(name) and len(v) >= _MIN_SECRET}
    return tuple(sorted(values, key=len, reverse=True))


def describe(status: SourceStatus) -> str:
    """``connected``, ``reconnecting, attempt 2: reason``, ``error: reason``, ``stale`` ..."""
    state, reason = status.state, status.reason
    if state == "reconnecting":
        return f"reconnecting, attempt {status.attempt}" + (f": {reason}" if reason else "")
    if state == "error":
        return f"error: {reason or 'the source failed'}"
    return state + (f": {reason}" if reason else "")


class StatusLog:
    """Appends a line to ``path`` each time a source's state, attempt or reason changes."""

    def __init__(self, path: str | os.PathLike[str], *, tag: str = "", secrets: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self.prefix = f"mdx [{tag}]: " if tag else "mdx: "
        self.secrets = tuple(secrets)
        self._last: dict[str, tuple[str, int, str]] = {}
        self._broken = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StatusLog | None:
        """The log ``mdx monitor`` asked for in ``MDX_STATUS_LOG`` (None when not served by it)."""
        env = os.environ if environ is None else environ
        path = env.get(STATUS_LOG_VAR, "")
        if not path:
            return None
        tag = env.get("VOILA_KERNEL_ID", "")[:8] or str(os.getpid())
        return cls(path, tag=tag, secrets=secret_values(env))

    def note(self, statuses: Iterable[SourceStatus]) -> list[str]:
        """Write a line for each status that changed since the last call; returns the lines written."""
        lines = []
        for status in statuses:
            signature = (status.state, status.attempt, status.reason)
            if self._last.get(status.source) != signature:
                self._last[status.source] = signature
                lines.append(self.mask(f"{self.prefix}{status.source}: {describe(status)}"))
        if lines:
            self._append(lines)
        return lines

    def mask(self, line: str) -> str:
        for secret in self.secrets:
            line = line.replace(secret, "***")
        return " ".join(line.split())  # one line, whatever the reason held

    def _append(self, lines: list[str]) -> None:
        if self._broken:
            return
        data = "".join(line + "\n" for line in lines).encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as error:
            self._broken = True  # the server went away: stop trying, the dashboard carries on
            log.warning("status log %s: %s; no more status lines go there", self.path, error.strerror)


class StatusTail:
    """Copies the lines appended to ``path`` to ``out`` (the server's stderr) from a daemon thread."""

    def __init__(self, path: str | os.PathLike[str], out: TextIO, *, interval_s: float = 0.2) -> None:
        self.path = Path(path)
        self.out = out
        self.interval_s = interval_s
        self.reads = 0  # polls of the file so far
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mdx-status-tail", daemon=True)

    def start(self) -> StatusTail:
        self.path.touch(mode=0o600, exist_ok=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Copy what is left, then stop."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        with self.path.open("r", encoding="utf-8", errors="replace") as file:
            pending = ""
            while True:
                stopping = self._stop.is_set()
                pending += file.read()
                self.reads += 1
                *lines, pending = pending.split("\n")
                if lines:
                    self._write(lines)
                if stopping:
                    return
                self._stop.wait(self.interval_s)

    def _write(self, lines: list[str]) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed terminal must not kill the server
            self.out.write("".join(line + "\n" for line in lines))
            self.out.flush()


__all__ = ["STATUS_LOG_VAR", "StatusLog", "StatusTail", "describe", "is_secret_var", "secret_values"]
