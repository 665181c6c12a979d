"""The one cache helper: a bounded, thread-safe memo.

Thirty students opening the same view at once must cost one computation, not thirty, so a call whose
key is being computed waits for that result (cachetools' ``condition``) instead of computing it again.
Other keys are computed concurrently.  Cached values are shared between callers: treat them as
read-only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import cachetools
import cachetools.keys

F = TypeVar("F", bound=Callable[..., Any])


def memo(maxsize: int, key: Callable[..., Any] = cachetools.keys.hashkey, ttl: float | None = None
         ) -> Callable[[F], F]:
    """Decorate a function with a bounded LRU cache (``fn.cache_clear()`` empties it).  With ``ttl``
    (seconds) an entry is also forgotten that long after it was computed: for results that read the outside
    world (which dataset files are there), so that a change there shows within ``ttl``."""
    def decorate(fn: F) -> F:
        store = cachetools.TTLCache(maxsize, ttl) if ttl else cachetools.LRUCache(maxsize)
        return cachetools.cached(store, key=key, condition=threading.Condition())(fn)  # type: ignore[return-value]
    return decorate
