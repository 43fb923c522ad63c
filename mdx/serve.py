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
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import ConfigError

MONITOR_NOTEBOOK = Path(__file__).resolve().parent / "ui" / "monitor.ipynb"  # package data
DEFAULT_PORT = 8866


def voila_command(
    notebook: Path,
    *,
    port: int = DEFAULT_PORT,
    host: str = "localhost",
    open_browser: bool = True,
    preheat: bool = False,
    pool_size: int = 1,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The ``python -m voila ...`` command line for the monitor."""
    if not 0 < port < 65536:
        raise ConfigError(f"port must be in 1..65535, got {port!r}")
    if pool_size < 1:
        raise ConfigError(f"pool_size must be >= 1, got {pool_size!r}")
    cmd = [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        f"--port={port}",
        f"--Voila.ip={host}",
        "--strip_sources=True",
        "--show_tracebacks=False",
        "--template=lab",
        "--theme=dark",
        "--VoilaConfiguration.file_allowlist",  # only the empty path: no file is served
        "^$",
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
    """The environment for Voilà and its kernels: ``base`` (default: ours) with the settings' MDX_* on top."""
    return {**(os.environ if base is None else base), **settings.to_env()}


def serve_monitor(
    settings: Settings,
    *,
    port: int = DEFAULT_PORT,
    open_browser: bool = True,
    preheat: bool = False,
    host: str = "localhost",
    pool_size: int = 1,
    notebook: str | Path | None = None,
    extra_args: Sequence[str] = (),
) -> int:
    """Run Voilà on the monitor notebook until it exits (Ctrl-C stops it); returns its exit code. The
    settings are checked first (``prepare_settings``): a bad source raises before any server starts."""
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
        extra_args=extra_args,
    )
    env = monitor_env(settings)
    # Voilà runs in its own session: a Ctrl-C here must not reach it directly (it would ask "Shut down?
    # (y/[n])"). We stop it with SIGTERM - on Ctrl-C and when we are terminated ourselves - which it
    # handles as a clean shutdown of the server and its kernels.
    process = subprocess.Popen(cmd, env=env, cwd=path.parent, start_new_session=True)
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
    "DEFAULT_PORT",
    "MONITOR_NOTEBOOK",
    "absolute_replay_paths",
    "check_sources",
    "monitor_env",
    "prepare_settings",
    "serve_monitor",
    "voila_command",
]
