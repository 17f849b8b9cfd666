"""The registry of process caches: everything built once per process from the environment.

A module that keeps such a cache registers how to forget it (``process_cache`` for a cached
function, ``register`` for anything else) at import time; ``reset_process_caches`` forgets
them all, so a changed environment (the local server applying a function's variables, a
test) is never served by objects built from the previous one. Caches of pure data (policy
files, ISO codes, record templates) do not depend on the environment and are not listed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_RESETS: list[Callable[[], None]] = []


def register(reset: Callable[[], None]) -> None:
    """Have ``reset_process_caches`` call ``reset``."""
    _RESETS.append(reset)


def process_cache(function: Callable[..., T]) -> functools._lru_cache_wrapper[T]:
    """``functools.cache``, registered for reset."""
    cached = functools.cache(function)
    register(cached.cache_clear)
    return cached


def reset_process_caches() -> None:
    """Forget settings, clients and shared objects built from a previous environment."""
    for reset in _RESETS:
        reset()
