"""Decision ids and timestamps, and the clock they are read from.

Ids are time-ordered (UUIDv7 layout) and never repeat within a ``DecisionIds``: each engine
owns one, so there is no module-level state. The clock is a plain ``() -> ns`` callable that
the engine takes as an argument, so tests can fix time.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import time
from collections.abc import Callable

Clock = Callable[[], int]
"""Nanoseconds since the Unix epoch, like ``time.time_ns``."""

SYSTEM_CLOCK: Clock = time.time_ns

_MASK74 = (1 << 74) - 1
_MASK48 = (1 << 48) - 1


def _id_prefix(ms: int, high: int) -> str:
    h = (ms << 32 | 0x7000 << 16 | 0x8000 | high >> 14 << 16 | high & 0x3FFF).to_bytes(10).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-"


def format_decision_id(sequence: int, now_ns: int) -> str:
    """A time-ordered decision id in UUIDv7 layout: 48-bit Unix ms, version 7, then the low
    74 bits of the sequence (12 bits, the variant, 62 bits), so ids sort by creation time and
    never repeat for distinct sequence numbers. The reference ``DecisionIds.format`` equals."""
    c = sequence & _MASK74
    return _id_prefix(now_ns // 1_000_000, c >> 48) + (c & _MASK48).to_bytes(6).hex()


class DecisionIds:
    """One engine's decision ids: a sequence seeded at random, and the id text formatted with
    a one-entry cache of everything but the last 48 bits (which changes at most once a
    millisecond; one tuple, replaced whole, so threads cannot tear it).

    ``next_sequence`` is ``next`` on an ``itertools.count``, atomic under the GIL."""

    __slots__ = ("_prefix", "next_sequence")

    def __init__(self, seed: int | None = None) -> None:
        start = int.from_bytes(os.urandom(9), "big") >> 2 if seed is None else seed
        self.next_sequence = itertools.count(start).__next__
        self._prefix: tuple[int, int, str] = (-1, -1, "")

    def format(self, sequence: int, now_ns: int) -> str:
        """``format_decision_id(sequence, now_ns)``, cached."""
        ms = now_ns // 1_000_000
        c = sequence & _MASK74
        high = c >> 48
        cached = self._prefix
        if cached[0] != ms or cached[1] != high:
            cached = self._prefix = (ms, high, _id_prefix(ms, high))
        return cached[2] + (c & _MASK48).to_bytes(6).hex()


def iso_time(ns: int) -> str:
    """UTC timestamp with milliseconds, computed in integers so every encoder agrees."""
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{rest // 1_000_000:03d}Z"
