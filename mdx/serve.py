"""Serve the monitor notebook as a standalone dashboard with Voilà (what ``mdx monitor`` runs).

Voilà executes ``notebooks/monitor.ipynb`` in a fresh kernel per viewer and shows only its outputs: no
code cells (``strip_sources``), no tracebacks, no file tree (Voilà is given the one notebook, and its
file allowlist matches nothing, so no file next to it is served). Settings reach the kernels through
the environment: Voilà's kernels inherit the server's environment, so ``settings.to_env()`` is merged
into it (``Settings.from_env()`` in the notebook reads it back). ``preheat`` keeps a pool of kernels that have
already run the notebook, so a viewer does not wait for a kernel to start and run it.

Before Voilà starts, ``prepare_settings`` makes replay paths absolute (Voilà runs each kernel in the
notebook's folder, where a path relative to the caller's folder means nothing) and builds the sources once,
so an unknown exchange or a missing or unreadable replay file is an error here, not an empty dashboard.

Kernels stay under control (``mdx.serve_kernels``, which runs Voilà with its own kernel manager): a kernel
whose viewer is gone - tab closed, page reloaded, or a GET without a browser - is shut down ``cull_after``
seconds later, and at most ``max_kernels`` kernels serve viewers (a visitor beyond gets an HTTP 503 page).
Each kernel's source status changes reach this process's stderr (``mdx.serve_status``): one line each.
Credential variables reach the kernels only when a live source needs them.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

from .config import CREDENTIALS_FILE_VAR, Settings
from .errors import ConfigError
from .serve_status import STATUS_LOG_VAR, StatusTail, is_secret_var

MONITOR_NOTEBOOK = Path(__file__).resolve().parent / "ui" / "monitor.ipynb"  # package data
DEFAULT_PORT = 8866
DEFAULT_CULL_AFTER = 60.0  # seconds a kernel may run without a viewer (mdx.serve_kernels)
DEFAULT_MAX_KERNELS = 8


def check_kernel_limits(cull_after: float, max_kernels: int) -> None:
    """``ConfigError`` unless ``cull_after`` is a finite number of seconds > 0 and ``max_kernels`` >= 1."""
    if not (isinstance(cull_after, int | float) and math.isfinite(cull_after) and cull_after > 0):
        raise ConfigError(f"cull_after must be a finite number of seconds > 0, got {cull_after!r}")
    if isinstance(max_kernels, bool) or not isinstance(max_kernels, int) or max_kernels < 1:
        raise ConfigError(f"max_kernels must be a whole number >= 1, got {max_kernels!r}")


def voila_command(
    notebook: Path,
    *,
    port: int = DEFAULT_PORT,
    host: str = "localhost",
    open_browser: bool = True,
    preheat: bool = False,
    pool_size: int = 1,
    cull_after: float = DEFAULT_CULL_AFTER,
    max_kernels: int = DEFAULT_MAX_KERNELS,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The command line for the monitor: Voilà, with mdx's kernel manager (``python -m mdx.serve_kernels``,
    which takes every Voilà option)."""
    if not 0 < port < 65536:
        raise ConfigError(f"port must be in 1..65535, got {port!r}")
    if pool_size < 1:
        raise ConfigError(f"pool_size must be >= 1, got {pool_size!r}")
    check_kernel_limits(cull_after, max_kernels)
    cmd = [
        sys.executable,
        "-m",
        "mdx.serve_kernels",
        str(notebook),
        f"--port={port}",
        f"--Voila.ip={host}",
        "--strip_sources=True",
        "--show_tracebacks=False",
        "--template=lab",
        "--theme=dark",
        "--VoilaConfiguration.file_allowlist",  # only the empty path: no file is served
        "^$",
        f"--ViewerKernelManager.cull_after={cull_after!r}",
        f"--ViewerKernelManager.max_kernels={max_kernels}",
    ]
    if not open_browser:
        cmd.append("--no-browser")
    if preheat:
        cmd += ["--preheat_kernel=True", f"--pool_size={pool_size}"]
    cmd += list(extra_args)
    return cmd


def absolute_replay_paths(settings: Settings, cwd: str | PathLike[str] | None = None) -> Settings:
    """``settings`` with every replay path made absolute against ``cwd`` (default: the current directory),
    ``~`` expanded; other sources (``sim``, exchanges, the other parts of ``sim+replay:A,B``) unchanged."""
    base = Path(cwd) if cwd is not None else Path.cwd()
    specs = []
    for spec in settings.source_specs:
        if spec.startswith("replay:"):
            paths = (p.strip() for p in spec.removeprefix("replay:").split(","))
            spec = "replay:" + ",".join(os.path.abspath(base / Path(p).expanduser()) for p in paths if p)
        specs.append(spec)
    source = "+".join(specs)
    return settings if source == settings.source else replace(settings, source=source)


def check_sources(settings: Settings) -> None:
    """Build the sources of ``settings`` once and check each replay file yields events: ``ConfigError``
    for an unknown exchange or source, ``CaptureError`` for a missing, empty or unreadable replay file."""
    from .io.capture import check_capture
    from .sources import make_sources

    make_sources(settings)
    for spec in settings.source_specs:
        for path in replace(settings, source=spec).replay_paths:
            check_capture(path)


def prepare_settings(settings: Settings, cwd: str | PathLike[str] | None = None) -> Settings:
    """The settings to hand to Voilà's kernels: replay paths absolute, every source checked."""
    settings = absolute_replay_paths(settings, cwd)
    check_sources(settings)
    return settings


def monitor_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for Voilà and its kernels: ``base`` (default: ours) with the settings' MDX_* on top.
    Credential variables (``MDX_<EXCHANGE>_API_KEY`` ..., ``MDX_CREDENTIALS_FILE``) are passed on only
    when the settings stream from a live exchange; otherwise no kernel sees them."""
    env = dict(os.environ if base is None else base)
    if not settings.live_exchanges:
        env = {name: value for name, value in env.items() if not is_credential_var(name)}
    return {**env, **settings.to_env()}


def is_credential_var(name: str) -> bool:
    """An exchange credential variable, or the file of them (not the Redis URL: settings carry it)."""
    return name == CREDENTIALS_FILE_VAR or (name != "MDX_REDIS_URL" and is_secret_var(name))


def serve_monitor(
    settings: Settings,
    *,
    port: int = DEFAULT_PORT,
    open_browser: bool = True,
    preheat: bool = False,
    host: str = "localhost",
    pool_size: int = 1,
    cull_after: float = DEFAULT_CULL_AFTER,
    max_kernels: int = DEFAULT_MAX_KERNELS,
    notebook: str | Path | None = None,
    extra_args: Sequence[str] = (),
) -> int:
    """Run Voilà on the monitor notebook until it exits (Ctrl-C stops it); returns its exit code. The
    settings are checked first (``prepare_settings``): a bad source raises before any server starts.
    While it runs, the kernels' source status changes are copied to our stderr."""
    path = Path(notebook) if notebook is not None else MONITOR_NOTEBOOK
    if not path.is_file():
        raise ConfigError(f"monitor notebook not found at {path}")
    settings = prepare_settings(settings)
    cmd = voila_command(
        path,
        port=port,
        host=host,
        open_browser=open_browser,
        preheat=preheat,
        pool_size=pool_size,
        cull_after=cull_after,
        max_kernels=max_kernels,
        extra_args=extra_args,
    )
    folder = Path(tempfile.mkdtemp(prefix="mdx-monitor-"))  # private (0700): the kernels' status lines
    status_log = folder / "status.log"
    tail = StatusTail(status_log, sys.stderr).start()
    try:
        return _run_voila(cmd, {**monitor_env(settings), STATUS_LOG_VAR: str(status_log)}, path.parent)
    finally:
        tail.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _run_voila(cmd: list[str], env: dict[str, str], cwd: Path) -> int:
    # Voilà runs in its own session: a Ctrl-C here must not reach it directly (it would ask "Shut down?
    # (y/[n])"). We stop it with SIGTERM - on Ctrl-C and when we are terminated ourselves - which it
    # handles as a clean shutdown of the server and its kernels.
    process = subprocess.Popen(cmd, env=env, cwd=cwd, start_new_session=True)
    previous = _forward_sigterm(process)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return _stop(process, 130)
    finally:
        if process.poll() is None:
            _stop(process, 0)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop(process: subprocess.Popen[bytes], code: int) -> int:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return code


def _forward_sigterm(process: subprocess.Popen[bytes]) -> Any:
    """Make our SIGTERM stop Voilà too (only possible from the main thread); returns the old handler."""

    def handler(signum: int, _frame: object) -> None:
        process.terminate()

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: the caller owns signal handling
        return None


__all__ = [
    "DEFAULT_CULL_AFTER",
    "DEFAULT_MAX_KERNELS",
    "DEFAULT_PORT",
    "MONITOR_NOTEBOOK",
    "absolute_replay_paths",
    "check_kernel_limits",
    "check_sources",
    "is_credential_var",
    "monitor_env",
    "prepare_settings",
    "serve_monitor",
    "voila_command",
]
