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


def memo(maxsize: int, key: Callable[..., Any] = cachetools.keys.hashkey) -> Callable[[F], F]:
    """Decorate a function with a bounded LRU cache (``fn.cache_clear()`` empties it)."""
    def decorate(fn: F) -> F:
        return cachetools.cached(cachetools.LRUCache(maxsize), key=key,
                                 condition=threading.Condition())(fn)  # type: ignore[return-value]
    return decorate
