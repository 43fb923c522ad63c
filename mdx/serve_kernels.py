"""Voilà with kernels under control: the server ``mdx monitor`` runs (``python -m mdx.serve_kernels NB``).

Voilà starts one kernel per page load (about 300 MB and a few % of a core each for the monitor) and,
as installed here (voilà 0.5), never stops it on its own: its page asks for a shutdown on ``beforeunload``
(a ``sendBeacon`` to ``/voila/api/shutdown/<id>``), which did not reach the server in our checks with
Chromium, and a plain HTTP GET (curl, a link preview) starts a kernel that no page ever connects to.

jupyter_server's own culler does not help either: it culls kernels *idle by activity*
(``MappingKernelManager.cull_idle_timeout``), and a monitor kernel is never idle — its engine thread and
refresh task send widget ``comm_msg`` messages on IOPub several times a second, each of which counts as
activity. So mdx keeps jupyter_server's periodic culler but changes what it culls:

- ``ViewerKernelManager`` shuts a kernel down once it has had no viewer (no kernel websocket open) and
  has not been executing for ``cull_after`` seconds: a closed tab, a reload's old kernel, a GET without
  a browser. The clock starts when the last websocket closes, or at the first sweep that sees the kernel
  without one; a kernel still running the notebook (busy) is never culled. Kernels waiting in Voilà's
  preheat pool are left alone (Voilà's pool manager, built on top of this class, skips them).
- At most ``max_kernels`` kernels serve viewers (the preheat pool comes on top): a visitor beyond that
  gets ``503 Service Unavailable`` and a one-line page saying so (``CappedVoilaHandler``), never a kernel.

``MonitorVoila`` is Voilà's application with these two swapped in; every other Voilà option works as is.
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

from jupyter_core.utils import ensure_async
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Float, Integer, validate
from voila.app import Voila
from voila.tornado.handler import TornadoVoilaHandler

from .serve import DEFAULT_CULL_AFTER, DEFAULT_MAX_KERNELS

PREHEAT_ENV = "VOILA_PREHEAT"  # Voilà sets it to "True" in the environment of its pool's kernels
BUSY_STATES = frozenset({"busy", "starting"})


def full_page_text(max_kernels: int) -> str:
    """What a visitor beyond the cap reads."""
    return f"mdx monitor is at its limit of {max_kernels} viewers; close another tab or try later"


def sweep_interval(cull_after: float) -> int:
    """Seconds between culling sweeps (jupyter_server takes whole seconds): about a quarter of the
    window, at least 1 s, at most 15 s — a kernel goes at most that long after its window ends."""
    return max(1, min(15, math.floor(cull_after / 4)))


class MonitorFull(web.HTTPError):
    """Every viewer slot is taken: the visitor gets a 503 page instead of a kernel."""

    def __init__(self, max_kernels: int) -> None:
        super().__init__(503, "%s", full_page_text(max_kernels), reason="mdx monitor is full")
        self.max_kernels = max_kernels


class ViewerKernelManager(AsyncMappingKernelManager):
    """A kernel manager that culls kernels without a viewer and caps the kernels serving viewers."""

    cull_after = Float(
        DEFAULT_CULL_AFTER,
        config=True,
        help="Seconds a kernel may run without any viewer connected before it is shut down.",
    )
    max_kernels = Integer(
        DEFAULT_MAX_KERNELS,
        config=True,
        help="Kernels serving viewers at most (the preheat pool comes on top); beyond: HTTP 503.",
    )

    @validate("cull_after")
    def _check_cull_after(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"cull_after must be a finite number of seconds > 0, got {value!r}")
        return value

    @validate("max_kernels")
    def _check_max_kernels(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if value < 1:
            raise ValueError(f"max_kernels must be >= 1, got {value!r}")
        return value

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._unwatched_since: dict[str, float] = {}  # kernel id -> when it was last seen without viewer
        self._starting_for_viewers: set[str] = set()  # ids reserved against the cap while they start
        self._starting_for_pool: set[str] = set()
        # jupyter_server's periodic culler (started with the first kernel) calls cull_kernel_if_idle
        self.cull_idle_timeout = max(1, math.ceil(self.cull_after))
        self.cull_interval = sweep_interval(self.cull_after)
        self.log.info(  # (jupyter_server's own line about "idle durations" follows: it means this)
            "mdx: a kernel without a viewer is shut down after %g s; at most %d viewers at once",
            self.cull_after,
            self.max_kernels,
        )

    # -- the cap -----------------------------------------------------------------------------------------

    def idle_pool_ids(self) -> set[str]:
        """Kernels in Voilà's preheat pool that no viewer has taken yet (none without ``--preheat``)."""
        ids = set(self._starting_for_pool)
        for pool in getattr(self, "_pools", {}).values():  # Voilà's pool manager subclasses this class
            for task in pool:
                if task.done() and not task.cancelled() and task.exception() is None:
                    ids.add(task.result()["kernel_id"])
        return ids

    def viewer_kernel_ids(self) -> set[str]:
        """Kernels serving a viewer (or a GET), running or starting: what ``max_kernels`` caps."""
        return (set(self._kernels) - self.idle_pool_ids()) | self._starting_for_viewers

    def check_capacity(self) -> None:
        """Raise ``MonitorFull`` when another viewer would exceed ``max_kernels``."""
        if len(self.viewer_kernel_ids()) >= self.max_kernels:
            raise MonitorFull(self.max_kernels)

    async def start_kernel(self, *, kernel_id: str | None = None, **kwargs: Any) -> str:  # type: ignore[override]
        """Start a kernel; one for a viewer is refused with ``MonitorFull`` at the cap. Its id is reserved
        before the first ``await``, so two visitors arriving together cannot both take the last slot."""
        for_pool = (kwargs.get("env") or {}).get(PREHEAT_ENV) == "True"
        if not for_pool:
            self.check_capacity()
        kernel_id = kernel_id or self.new_kernel_id()
        starting = self._starting_for_pool if for_pool else self._starting_for_viewers
        starting.add(kernel_id)
        try:
            return str(await super().start_kernel(kernel_id=kernel_id, **kwargs))
        finally:
            starting.discard(kernel_id)

    # -- culling by viewer -------------------------------------------------------------------------------

    def notify_connect(self, kernel_id: str) -> None:
        super().notify_connect(kernel_id)
        self._unwatched_since.pop(kernel_id, None)

    def notify_disconnect(self, kernel_id: str) -> None:
        super().notify_disconnect(kernel_id)
        if not self._kernel_connections.get(kernel_id, 0):
            self._unwatched_since[kernel_id] = time.monotonic()

    async def cull_kernels(self) -> None:
        for kernel_id in set(self._unwatched_since) - set(self._kernels):  # shut down some other way
            del self._unwatched_since[kernel_id]
        await super().cull_kernels()

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        """Shut ``kernel_id`` down if it is dead, or has had no viewer and no work for ``cull_after`` s.
        (Replaces jupyter_server's rule, idle by activity, which a monitor kernel never is.)"""
        kernel = self._kernels.get(kernel_id)
        if kernel is None:
            return
        state = getattr(kernel, "execution_state", "starting")
        if state == "dead":
            self.log.warning("mdx: shutting down dead kernel %s", kernel_id)
            await ensure_async(self.shutdown_kernel(kernel_id))
            return
        if self._kernel_connections.get(kernel_id, 0) or state in BUSY_STATES:
            self._unwatched_since.pop(kernel_id, None)
            return
        now = time.monotonic()
        unwatched = now - self._unwatched_since.setdefault(kernel_id, now)
        if unwatched >= self.cull_after:
            self.log.info("mdx: no viewer for %.0f s: shutting down kernel %s", unwatched, kernel_id)
            self._unwatched_since.pop(kernel_id, None)
            await ensure_async(self.shutdown_kernel(kernel_id))


class CappedVoilaHandler(TornadoVoilaHandler):
    """Voilà's page handler, refusing a visitor beyond ``max_kernels`` with a plain 503 page."""

    async def get(self, path: str | None = None) -> None:
        check = getattr(self.kernel_manager, "check_capacity", None)
        if check is not None:
            check()  # before a preheated kernel is taken from the pool (the check and take are not split
            # by an await); a kernel started afresh is checked again in ViewerKernelManager.start_kernel
        await super().get(path)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if not isinstance(error, MonitorFull):
            super().write_error(status_code, **kwargs)
            return
        text = full_page_text(error.max_kernels)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Retry-After", "30")
        self.finish(
            "<!doctype html><html><head><meta charset='utf-8'><title>mdx monitor is full</title></head>"
            f"<body class='mdx-full' style='font-family:sans-serif;margin:3em'><p>{text}</p></body></html>"
        )


class MonitorVoila(Voila):
    """Voilà with ``ViewerKernelManager`` and ``CappedVoilaHandler`` (configure them with
    ``--ViewerKernelManager.cull_after=SECONDS`` and ``--ViewerKernelManager.max_kernels=N``)."""

    classes: ClassVar[list[Any]] = [*Voila.classes, ViewerKernelManager]

    def init_settings(self) -> dict[str, Any]:
        self.voila_configuration.multi_kernel_manager_class = ViewerKernelManager
        return dict(super().init_settings())

    def init_handlers(self) -> list[Any]:
        return [_capped(handler) for handler in super().init_handlers()]


def _capped(handler: Any) -> Any:
    """A handler spec with Voilà's page handler replaced by ``CappedVoilaHandler``."""
    if isinstance(handler, tuple) and len(handler) >= 2 and handler[1] is TornadoVoilaHandler:
        return (handler[0], CappedVoilaHandler, *handler[2:])
    return handler


main = MonitorVoila.launch_instance

if __name__ == "__main__":
    main()
