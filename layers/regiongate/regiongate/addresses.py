"""Turn the address strings that callers, gateways and proxies send into one canonical form.

Parsing is on the hot path of every decision, so the common case (a bare dotted IPv4 string)
takes one ``inet_pton`` call and one table look-up; everything else falls back to a slower,
more forgiving path that understands ports, brackets, CIDR suffixes and IPv6 forms that embed
an IPv4 address.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Address, IPv6Network

from regiongate.errors import InvalidAddressError

_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_inet_pton = socket.inet_pton
_inet_ntop = socket.inet_ntop

# Ranges that never identify a caller on the public Internet (RFC 6890 and successors).
# Each is (network, category); the category is what a decision reports.
_IPV4_SPECIAL: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this-network"),
    ("10.0.0.0/8", "private-use"),
    ("100.64.0.0/10", "shared-address-space"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private-use"),
    ("192.0.0.0/24", "protocol-assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "deprecated-6to4-relay"),
    ("192.168.0.0/16", "private-use"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)

_IPV6_SPECIAL: tuple[tuple[str, str], ...] = (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local-nat64"),
    ("100::/64", "discard-only"),
    ("2001:2::/48", "benchmarking"),
    ("2001:10::/28", "orchid"),
    ("2001:20::/28", "orchid"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)


def _first_octet_table() -> tuple[object, ...]:
    """Per first IPv4 octet: None (routable), a category (the whole /8), or ranges to check."""
    table: list[object] = [None] * 256
    for cidr, category in _IPV4_SPECIAL:
        net = IPv4Network(cidr)
        first, last = int(net.network_address) >> 24, int(net.broadcast_address) >> 24
        for octet in range(first, last + 1):
            if net.prefixlen <= 8:
                table[octet] = (category, cidr)
            else:
                existing = table[octet]
                ranges = list(existing) if isinstance(existing, list) else []
                first_ip, last_ip = int(net.network_address), int(net.broadcast_address)
                ranges.append((first_ip, last_ip, category, cidr))
                table[octet] = ranges
    return tuple(table)


_V4_TABLE = _first_octet_table()
# The same ranges as (first, last) integers, for tables that need to steer around them.
SPECIAL_V4_RANGES: tuple[tuple[int, int], ...] = tuple(
    (int(net.network_address), int(net.broadcast_address))
    for net in (IPv4Network(cidr) for cidr, _ in _IPV4_SPECIAL)
)
# First 16 bits of the special ranges that lie inside 2000::/3 (2001:..., 3fff::/20).
_V6_SPECIAL_TOPS: frozenset[int] = frozenset(
    int(IPv6Network(c).network_address) >> 112
    for c, _ in _IPV6_SPECIAL
    if int(IPv6Network(c).network_address) >> 125 == 1
)
_V6_RANGES = tuple(
    (int(IPv6Network(c).network_address), int(IPv6Network(c).broadcast_address), cat, c)
    for c, cat in _IPV6_SPECIAL
)
# IPv6 ranges whose text must go through ``parse_address`` rather than a shortcut for plain
# global-unicast addresses: the special-purpose ones, and those that carry an IPv4 address.
V6_GENERAL_RANGES: tuple[tuple[int, int], ...] = tuple(
    (int(net.network_address), int(net.broadcast_address))
    for net in (
        IPv6Network(cidr)
        for cidr in (
            *(c for c, _ in _IPV6_SPECIAL),
            "::ffff:0:0/96",
            "2002::/16",
            "64:ff9b::/96",
            "2001::/32",
        )
    )
)


@dataclass(slots=True)
class Address:
    """A caller's address, canonicalised for look-up. Treat as immutable (not frozen: frozen
    dataclasses cost a microsecond more to build, and this is built on every request).

    ``lookup`` is the string handed to the geo databases: the embedded IPv4 address for
    IPv4-mapped, 6to4 and NAT64 forms, so every form of one address gets one answer.
    """

    original: str
    lookup: str
    version: int
    not_routable: str | None = None
    special_network: str | None = None
    embedded_via: str | None = None


def _classify_v4(text: str, packed: bytes, original: str, via: str | None) -> Address:
    entry = _V4_TABLE[packed[0]]
    if entry is None:
        return Address(original, text, 4, None, None, via)
    if isinstance(entry, tuple):
        return Address(original, text, 4, entry[0], entry[1], via)
    value = int.from_bytes(packed, "big")
    for start, end, category, cidr in entry:  # type: ignore[attr-defined]
        if start <= value <= end:
            return Address(original, text, 4, category, cidr, via)
    return Address(original, text, 4, None, None, via)


def parse_address(raw: str) -> Address:
    """Parse what a client, header or event says the caller's address is.

    Accepts IPv4, IPv6, IPv4-mapped IPv6, a trailing ``/32`` or ``/128``, ``[v6]:port``
    and ``v4:port``. Raises InvalidAddressError naming the offending value otherwise.
    """
    try:
        if ":" in raw:  # IPv6, or v4:port: raising here first would only cost time
            return _parse_slow(raw)
        packed = _inet_pton(_AF_INET, raw)
    except (OSError, TypeError, ValueError):
        return _parse_slow(raw)
    return _classify_v4(raw, packed, raw, None)


def _strip_decorations(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise InvalidAddressError(raw, "empty address")
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise InvalidAddressError(raw, "unbalanced '[' in address")
        rest = text[close + 1 :]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            raise InvalidAddressError(raw, "unexpected text after ']'")
        return text[1:close]
    if "/" in text:
        text, _, suffix = text.partition("/")
        expected = "128" if ":" in text else "32"
        if suffix != expected:
            raise InvalidAddressError(raw, f"a network (/{suffix}) is not a single address")
        return text
    if text.count(":") == 1 and "." in text:
        host, _, port = text.partition(":")
        if not port.isdigit():
            raise InvalidAddressError(raw, "port after ':' is not a number")
        return host
    return text


def _parse_slow(raw: object) -> Address:
    if not isinstance(raw, str):
        raise InvalidAddressError(repr(raw), "address must be a string")
    if len(raw) > 100:
        raise InvalidAddressError(raw[:100] + "...", "address is too long")
    if "\x00" in raw:
        raise InvalidAddressError(raw, "contains a NUL character")
    text = _strip_decorations(raw)
    if ":" not in text:
        try:
            packed = _inet_pton(_AF_INET, text)
        except OSError:
            raise InvalidAddressError(raw, "not an IPv4 or IPv6 address") from None
        return _classify_v4(text, packed, raw, None)
    host, _, zone = text.partition("%")
    if zone and not host:
        raise InvalidAddressError(raw, "not an IP address")
    try:
        packed6 = _inet_pton(_AF_INET6, host)
    except OSError:
        raise InvalidAddressError(raw, "not an IPv4 or IPv6 address") from None
    value = int.from_bytes(packed6)
    embedded = _embedded_ipv4(value)
    if embedded is not None:
        v4, via = embedded
        packed4 = v4.to_bytes(4)
        return _classify_v4(_inet_ntop(_AF_INET, packed4), packed4, raw, via)
    if value >> 125 == 1:  # 2000::/3, global unicast: the common case
        # glibc writes these as RFC 5952 text, as ipaddress does (it differs only for the
        # IPv4-compatible forms below 2000::/3, which go through ipaddress).
        canonical = _inet_ntop(_AF_INET6, packed6)
        if value >> 112 in _V6_SPECIAL_TOPS:  # the few special ranges inside 2000::/3
            for start, end, category, cidr in _V6_RANGES:
                if start <= value <= end:
                    return Address(raw, canonical, 6, category, cidr)
        return Address(raw, canonical, 6)
    canonical = str(IPv6Address(packed6))
    for start, end, category, cidr in _V6_RANGES:
        if start <= value <= end:
            return Address(raw, canonical, 6, category, cidr)
    return Address(raw, canonical, 6, "reserved", "outside 2000::/3")


_MASK32 = 0xFFFFFFFF


def _embedded_ipv4(value: int) -> tuple[int, str] | None:
    """The IPv4 address of the caller carried inside an IPv6 one (mapped, 6to4, NAT64,
    Teredo), so every form of one caller gets one answer. Integers, not ipaddress objects:
    every IPv6 request comes through here."""
    if value >> 32 == 0xFFFF:  # ::ffff:0:0/96
        return value & _MASK32, "ipv4-mapped"
    if value >> 112 == 0x2002:  # 2002::/16 carries the address in bits 16-47
        return (value >> 80) & _MASK32, "6to4"
    if value >> 32 == 0x64FF9B << 64:  # 64:ff9b::/96
        return value & _MASK32, "nat64"
    if value >> 96 == 0x20010000:  # Teredo, 2001::/32
        # The client's public (NAT) address rides, inverted, in the last 32 bits; the IPv4
        # address after 2001:0:/32 is the Teredo server's, which says nothing of the caller.
        return (value & _MASK32) ^ _MASK32, "teredo"
    return None


def truncate_network(address: Address) -> str:
    """The /24 (IPv4) or /48 (IPv6) holding the address: what audit records keep by default."""
    if address.version == 4:
        return str(IPv4Network(f"{address.lookup}/24", strict=False))
    return str(IPv6Network(f"{address.lookup}/48", strict=False))


def network_of(lookup: str, prefix_len: int) -> str:
    """The network a database matched, written as a CIDR prefix (no ipaddress objects: hot)."""
    if ":" in lookup:
        family, bits = _AF_INET6, 128
    else:
        family, bits = _AF_INET, 32
        # IPv6-capable databases can report IPv4 matches as depths in the IPv6 tree (96 + n).
        if prefix_len > 32:
            prefix_len -= 96
    value = int.from_bytes(_inet_pton(family, lookup), "big")
    mask = ((1 << bits) - 1) ^ ((1 << (bits - prefix_len)) - 1)
    network = socket.inet_ntop(family, (value & mask).to_bytes(bits // 8, "big"))
    return f"{network}/{prefix_len}"
