"""Interval tables from a MaxMind-format database: every address range with one answer.

A MaxMind DB is a binary trie; a look-up walks it bit by bit until it reaches a record (a data
pointer, or "no data") and reports the depth it stopped at. Every leaf of the trie is
therefore an address range with one answer *and* one reported network — misses included,
since a miss also reports the depth of the empty branch it fell into. The reader's own
iteration yields only the networks that hold data (and skips aliased subtrees), which cannot
say what a miss reports; so the tables are read from the search tree itself, level by level
with numpy, and hold every leaf an address of the public Internet can reach:

- ``v4``: the IPv4 subtree (at ``::/96`` in IPv6 databases, as libmaxminddb finds it);
- ``v6``: ``2000::/3``, the only IPv6 space ever looked up (the rest is not routable, and
  IPv6 forms that carry an IPv4 address are looked up as that address).

A leaf is its start address, its depth (the prefix length reported) and its record value
(equal record values mean the same record). Tables are sorted by start, so an address's leaf
is one ``searchsorted`` away. Tables are cached on disk keyed by the file's SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import maxminddb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from regiongate.errors import GeoDatabaseError
from regiongate.settings import settings

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
CACHE_FORMAT = 2
_MAX_LEAVES = 60_000_000


@dataclass(frozen=True, slots=True)
class IntervalTable:
    """Sorted leaves of one part of the trie: ``start_hi``/``start_lo`` (the start address,
    128-bit as two words; IPv4 tables keep it in ``start_lo``), ``depth`` and ``record``."""

    start_hi: U64
    start_lo: U64
    depth: npt.NDArray[np.int16]
    record: I64

    def __len__(self) -> int:
        return len(self.record)


@dataclass(frozen=True, slots=True)
class DatabaseIntervals:
    """The IPv4 and IPv6 interval tables of one database."""

    path: str
    ip_version: int
    node_count: int
    v4: IntervalTable
    v6: IntervalTable | None  # None for an IPv4-only database: IPv6 look-ups find nothing
    # Network text of every IPv4 leaf, then every IPv6 leaf, then "::/0" (what an IPv4-only
    # database reports for IPv6), as the per-request engine writes them.
    networks: pa.Array

    def find_v4(self, values: U64) -> I64:
        """Leaf index of each IPv4 address (as an integer)."""
        return np.searchsorted(self.v4.start_lo, values, side="right").astype(np.int64) - 1

    def find_v6(self, hi: U64, lo: U64) -> I64:
        """Leaf index of each IPv6 address in 2000::/3 (two 64-bit words)."""
        table = self.v6
        assert table is not None
        index = np.searchsorted(table.start_hi, hi, side="right").astype(np.int64) - 1
        # Leaves narrower than /64 share a high word: settle those rows on the low word.
        tied = np.flatnonzero(table.start_lo[index] > lo)
        for row in tied.tolist():
            first = int(np.searchsorted(table.start_hi, hi[row], side="left"))
            segment = table.start_lo[first : index[row] + 1]
            index[row] = first + int(np.searchsorted(segment, lo[row], side="right")) - 1
        return index


def _masked_v4(start: U64, prefix: I64) -> U64:
    keep = np.clip(prefix, 0, 32).astype(np.uint64)
    mask = (np.uint64(0xFFFFFFFF) << (np.uint64(32) - keep)) & np.uint64(0xFFFFFFFF)
    return start & mask


def _v4_networks(table: IntervalTable) -> pa.Array:
    depth = table.depth.astype(np.int64)
    depth = np.where(depth > 32, depth - 96, depth)
    start = _masked_v4(table.start_lo, depth)
    octets = [
        pa.array(((start >> np.uint64(shift)) & np.uint64(255)).astype(np.uint8)).cast(pa.string())
        for shift in (24, 16, 8, 0)
    ]
    address = pc.binary_join_element_wise(*octets, ".")
    return pc.binary_join_element_wise(address, pa.array(depth).cast(pa.string()), "/")


def _v6_networks(table: IntervalTable) -> pa.Array:
    ntop, family = socket.inet_ntop, socket.AF_INET6
    texts = []
    for hi, lo, depth in zip(
        table.start_hi.tolist(), table.start_lo.tolist(), table.depth.tolist(), strict=True
    ):
        value = (hi << 64 | lo) & (((1 << 128) - 1) ^ ((1 << (128 - depth)) - 1))
        texts.append(f"{ntop(family, value.to_bytes(16))}/{depth}")
    return pa.array(texts, pa.string())


def _networks(v4: IntervalTable, v6: IntervalTable | None) -> pa.Array:
    parts = [_v4_networks(v4)]
    if v6 is not None:
        parts.append(_v6_networks(v6))
    parts.append(pa.array(["::/0"], pa.string()))
    return pa.concat_arrays(parts)


def _children(path: str) -> tuple[I64, int, int]:
    """Left and right record of every node, and the node count and IP version."""
    try:
        reader = maxminddb.open_database(path, maxminddb.MODE_MMAP)
        meta = reader.metadata()
        reader.close()
    except Exception as exc:  # corrupt files raise many types; report them as one
        raise GeoDatabaseError(path, f"not a valid MaxMind DB: {exc}") from exc
    node_count, size = int(meta.node_count), int(meta.record_size)
    if size not in (24, 28, 32):
        raise GeoDatabaseError(path, f"unsupported record size {size}")
    width = size // 4
    raw = np.fromfile(path, dtype=np.uint8, count=node_count * width)
    if raw.size != node_count * width:
        raise GeoDatabaseError(path, "search tree is truncated")
    n = raw.reshape(node_count, width).astype(np.int64)
    if size == 24:
        left = n[:, 0] << 16 | n[:, 1] << 8 | n[:, 2]
        right = n[:, 3] << 16 | n[:, 4] << 8 | n[:, 5]
    elif size == 28:
        left = (n[:, 3] & 0xF0) << 20 | n[:, 0] << 16 | n[:, 1] << 8 | n[:, 2]
        right = (n[:, 3] & 0x0F) << 24 | n[:, 4] << 16 | n[:, 5] << 8 | n[:, 6]
    else:
        left = n[:, 0] << 24 | n[:, 1] << 16 | n[:, 2] << 8 | n[:, 3]
        right = n[:, 4] << 24 | n[:, 5] << 16 | n[:, 6] << 8 | n[:, 7]
    return np.stack([left, right], axis=1), node_count, int(meta.ip_version)


def _walk(children: I64, node_count: int, path_bits: str) -> tuple[int, int]:
    """Follow fixed bits from the root: (node or record value reached, depth)."""
    value = 0
    for depth, bit in enumerate(path_bits):
        value = int(children[value, int(bit)])
        if value >= node_count:
            return value, depth + 1
    return value, len(path_bits)


def _leaves(
    children: I64, node_count: int, start: int, depth: int, prefix: int, bits: int
) -> IntervalTable:
    """Every leaf below node ``start`` (at ``depth``, address prefix ``prefix`` as a
    ``bits``-wide integer), sorted by start address."""
    his: list[U64] = []
    los: list[U64] = []
    depths: list[npt.NDArray[np.int16]] = []
    records: list[I64] = []
    if start >= node_count:  # the walk to this subtree already ended in a record
        his.append(np.array([prefix >> 64], dtype=np.uint64))
        los.append(np.array([prefix & (2**64 - 1)], dtype=np.uint64))
        depths.append(np.array([depth], dtype=np.int16))
        records.append(np.array([start], dtype=np.int64))
    nodes = np.array([start] if start < node_count else [], dtype=np.int64)
    hi = np.array([prefix >> 64], dtype=np.uint64)
    lo = np.array([prefix & (2**64 - 1)], dtype=np.uint64)
    total = 0
    level = depth
    while nodes.size:
        if level >= bits:
            raise GeoDatabaseError("(tree)", "search tree is deeper than the address")
        bit = bits - 1 - level
        level += 1
        kids = children[nodes]  # (n, 2)
        right_hi, right_lo = hi.copy(), lo.copy()
        if bit >= 64:
            right_hi |= np.uint64(1 << (bit - 64))
        else:
            right_lo |= np.uint64(1 << bit)
        value = np.concatenate([kids[:, 0], kids[:, 1]])
        all_hi = np.concatenate([hi, right_hi])
        all_lo = np.concatenate([lo, right_lo])
        leaf = value >= node_count
        his.append(all_hi[leaf])
        los.append(all_lo[leaf])
        depths.append(np.full(int(leaf.sum()), level, dtype=np.int16))
        records.append(value[leaf])
        total += int(leaf.sum())
        if total > _MAX_LEAVES:
            raise GeoDatabaseError("(tree)", "too many networks for an interval table")
        inner = ~leaf
        nodes, hi, lo = value[inner], all_hi[inner], all_lo[inner]
    start_hi, start_lo = np.concatenate(his), np.concatenate(los)
    order = np.lexsort((start_lo, start_hi))
    return IntervalTable(
        start_hi[order],
        start_lo[order],
        np.concatenate(depths)[order],
        np.concatenate(records)[order],
    )


def extract(path: str) -> DatabaseIntervals:
    """Read the interval tables of one database from its search tree."""
    children, node_count, ip_version = _children(path)
    if ip_version == 4:
        v4 = _leaves(children, node_count, 0, 0, 0, 32)
        v6 = None
    else:
        node, depth = _walk(children, node_count, "0" * 96)
        if depth < 96 or node >= node_count:
            # No IPv4 subtree at ::/96: every IPv4 look-up ends in one record.
            v4 = IntervalTable(
                np.zeros(1, np.uint64),
                np.zeros(1, np.uint64),
                np.array([depth], np.int16),
                np.array([node], np.int64),
            )
        else:
            v4 = _leaves(children, node_count, node, 96, 0, 128)
            v4 = IntervalTable(
                v4.start_hi, v4.start_lo & np.uint64(0xFFFFFFFF), v4.depth, v4.record
            )
        node, depth = _walk(children, node_count, "001")
        prefix = (0x2000 << 112) >> (128 - depth) << (128 - depth) if depth else 0
        v6 = _leaves(children, node_count, node, depth, prefix, 128)
    return DatabaseIntervals(path, ip_version, node_count, v4, v6, _networks(v4, v6))


def _digest(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def default_cache_dir() -> Path:
    base = settings().xdg_cache_home or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "regiongate" / "intervals"


def load(path: str, cache_dir: Path | None = None) -> DatabaseIntervals:
    """The interval tables of ``path``, from the on-disk cache when its checksum matches.

    ``cache_dir`` None uses ``$XDG_CACHE_HOME/regiongate/intervals``; a cache that cannot be
    read or written is ignored (the tables are then extracted again)."""
    directory = cache_dir or default_cache_dir()
    digest = _digest(path)
    cached = directory / f"{digest}.v{CACHE_FORMAT}.npz"
    try:
        with np.load(cached) as saved:
            v6 = (
                IntervalTable(saved["v6_hi"], saved["v6_lo"], saved["v6_depth"], saved["v6_rec"])
                if "v6_hi" in saved
                else None
            )
            return DatabaseIntervals(
                path,
                int(saved["meta"][0]),
                int(saved["meta"][1]),
                IntervalTable(saved["v4_hi"], saved["v4_lo"], saved["v4_depth"], saved["v4_rec"]),
                v6,
                pa.Array.from_buffers(
                    pa.string(),
                    len(saved["net_offsets"]) - 1,
                    [None, pa.py_buffer(saved["net_offsets"]), pa.py_buffer(saved["net_data"])],
                ),
            )
    except (OSError, KeyError, ValueError):
        pass
    tables = extract(path)
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "meta": np.array([tables.ip_version, tables.node_count], dtype=np.int64),
        "v4_hi": tables.v4.start_hi,
        "v4_lo": tables.v4.start_lo,
        "v4_depth": tables.v4.depth,
        "v4_rec": tables.v4.record,
        "net_offsets": np.frombuffer(tables.networks.buffers()[1], dtype=np.int32),
        "net_data": np.frombuffer(tables.networks.buffers()[2], dtype=np.uint8),
    }
    if tables.v6 is not None:
        arrays.update(
            v6_hi=tables.v6.start_hi,
            v6_lo=tables.v6.start_lo,
            v6_depth=tables.v6.depth,
            v6_rec=tables.v6.record,
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        partial = directory / f".{digest}.{os.getpid()}.npz"
        np.savez(partial, **arrays)  # type: ignore[arg-type]
        os.replace(partial, cached)
    except OSError:
        pass
    return tables
