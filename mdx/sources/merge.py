"""Several sources as one stream of events.

Offline sources, each in receive-time order, merge into one iterator in receive-time order
(``merge_by_recv``): that is how a session runs several of them synchronously. Live (or paced) sources
run side by side as tasks on one loop, each with its own status and reconnect state; ``Session.run``
does that, so nothing here holds a queue or a thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from heapq import heapify, heappop, heapreplace
from typing import Any

from ..events import Event


def merge_by_recv(iterators: Iterable[Iterator[Event]]) -> Iterator[Event]:
    """Merge event iterators, each in receive-time order, into one (ties go to the earlier iterator).
    Runs of one iterator pass with a single comparison per event."""
    heads: list[list[Any]] = []
    for index, it in enumerate(iterators):
        for event in it:
            heads.append([event.ts_recv, index, event, it])
            break
    heapify(heads)
    while len(heads) > 1:
        entry = heads[0]
        _, index, event, it = entry
        yield event
        nxt = heads[1] if len(heads) == 2 or heads[1] < heads[2] else heads[2]
        limit, limit_index = nxt[0], nxt[1]
        for event in it:
            ts = event.ts_recv
            if ts < limit or (ts == limit and index < limit_index):
                yield event
            else:
                entry[0], entry[2] = ts, event
                heapreplace(heads, entry)
                break
        else:
            heappop(heads)
    if heads:
        yield heads[0][2]
        yield from heads[0][3]


__all__ = ["merge_by_recv"]
