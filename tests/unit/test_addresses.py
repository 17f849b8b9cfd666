"""Address parsing: every form a gateway sends, and a typed outcome for everything else."""

from __future__ import annotations

import contextlib
import ipaddress
import random
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st
from regiongate.addresses import _IPV6_SPECIAL as SPECIAL_V6  # data; the test checks the arithmetic
from regiongate.addresses import network_of, parse_address, truncate_network
from regiongate.errors import InvalidAddressError


@pytest.mark.parametrize(
    ("raw", "lookup", "version", "via"),
    [
        ("1.2.4.8", "1.2.4.8", 4, None),
        ("192.0.43.8/32", "192.0.43.8", 4, None),
        ("1.2.4.8:443", "1.2.4.8", 4, None),
        (" 1.2.4.8 ", "1.2.4.8", 4, None),
        ("::ffff:1.2.4.8", "1.2.4.8", 4, "ipv4-mapped"),
        ("::FFFF:102:408", "1.2.4.8", 4, "ipv4-mapped"),
        ("[::ffff:1.2.4.8]:8080", "1.2.4.8", 4, "ipv4-mapped"),
        ("2002:102:408::1", "1.2.4.8", 4, "6to4"),
        ("64:ff9b::102:408", "1.2.4.8", 4, "nat64"),
        ("2001:0:4136:e378:8000:63bf:fefd:fbf7", "1.2.4.8", 4, "teredo"),  # client 1.2.4.8
        ("2400:cb00::1", "2400:cb00::1", 6, None),
        ("2400:CB00:0000::0001/128", "2400:cb00::1", 6, None),
        ("[2400:cb00::1]:443", "2400:cb00::1", 6, None),
        ("[2400:cb00::1]", "2400:cb00::1", 6, None),
    ],
)
def test_accepted_forms_canonicalise_to_one_lookup_address(
    raw: str, lookup: str, version: int, via: str | None
) -> None:
    address = parse_address(raw)
    assert (address.lookup, address.version, address.embedded_via) == (lookup, version, via)
    assert address.original == raw
    assert address.not_routable is None


@pytest.mark.parametrize(
    ("raw", "category"),
    [
        ("10.0.0.1", "private-use"),
        ("192.168.0.1/32", "private-use"),
        ("172.31.255.255", "private-use"),
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared-address-space"),
        ("224.0.0.1", "multicast"),
        ("192.0.2.10", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.200", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("255.255.255.255", "reserved"),
        ("0.1.2.3", "this-network"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1%eth0", "link-local"),
        ("fd00::1", "unique-local"),
        ("2001:db8::1", "documentation"),
        ("ff02::1", "multicast"),
        ("::ffff:10.1.2.3", "private-use"),
        ("4000::1", "reserved"),
    ],
)
def test_special_ranges_are_not_routable_with_their_category(raw: str, category: str) -> None:
    assert parse_address(raw).not_routable == category


def test_neighbours_of_special_ranges_are_routable() -> None:
    for raw in ("172.32.0.1", "172.15.255.255", "100.128.0.1", "192.169.0.1", "11.0.0.1"):
        assert parse_address(raw).not_routable is None, raw


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("garbage", "not an IPv4 or IPv6"),
        ("1.2.3", "not an IPv4 or IPv6"),
        ("01.2.3.4", "not an IPv4 or IPv6"),
        ("256.1.1.1", "not an IPv4 or IPv6"),
        ("1.2.3.0/24", "is not a single address"),
        ("2400:cb00::/32", "is not a single address"),
        ("1.2.3.4:http", "port"),
        ("[2400:cb00::1", "unbalanced"),
        ("[2400:cb00::1]x", "after ']'"),
        ("1" * 200, "too long"),
    ],
)
def test_garbage_raises_a_typed_error_naming_the_value(raw: str, reason: str) -> None:
    with pytest.raises(InvalidAddressError) as info:
        parse_address(raw)
    assert reason in str(info.value)
    assert info.value.code == "invalid_ip"


def test_non_string_input_is_a_typed_error() -> None:
    with pytest.raises(InvalidAddressError):
        parse_address(12345)  # type: ignore[arg-type]


def test_truncated_networks_keep_slash24_and_slash48() -> None:
    assert truncate_network(parse_address("1.2.4.8")) == "1.2.4.0/24"
    assert truncate_network(parse_address("2400:cb00:1:2::1")) == "2400:cb00:1::/48"


def test_network_of_handles_ipv4_depths_in_an_ipv6_tree() -> None:
    assert network_of("1.2.4.8", 22) == "1.2.4.0/22"
    assert network_of("1.2.4.8", 96 + 22) == "1.2.4.0/22"
    assert network_of("2400:cb00::1", 32) == "2400:cb00::/32"


_ALSO_SPECIAL = (IPv4Network("192.88.99.0/24"), IPv4Network("192.0.0.0/24"))


@given(st.ip_addresses(v=4))
def test_every_ipv4_address_parses_and_its_mapped_form_agrees(ip: IPv4Address) -> None:
    plain = parse_address(str(ip))
    mapped = parse_address(f"::ffff:{ip}")
    assert plain.lookup == mapped.lookup == str(ip)
    assert plain.not_routable == mapped.not_routable
    # Oracle: the standard library's view, with multicast and two small blocks also excluded.
    routable = ip.is_global and not ip.is_multicast and not any(ip in n for n in _ALSO_SPECIAL)
    assert (plain.not_routable is None) == routable


@given(st.text(max_size=60))
def test_arbitrary_text_never_raises_anything_but_invalid_address(text: str) -> None:
    with contextlib.suppress(InvalidAddressError):
        parse_address(text)


def _reference(text: str) -> tuple[str, int, str | None, str | None]:
    """What the standard library's ipaddress says about an IPv6 text: the oracle."""
    address = ipaddress.IPv6Address(text)
    embedded: tuple[ipaddress.IPv4Address, str] | None = None
    if address.ipv4_mapped is not None:
        embedded = address.ipv4_mapped, "ipv4-mapped"
    elif address.sixtofour is not None:
        embedded = address.sixtofour, "6to4"
    elif address in ipaddress.IPv6Network("64:ff9b::/96"):
        embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "nat64"
    elif address.teredo is not None:
        embedded = address.teredo[1], "teredo"
    if embedded is not None:
        v4 = parse_address(str(embedded[0]))
        return v4.lookup, 4, v4.not_routable, embedded[1]
    category = next(
        (c for net, c in SPECIAL_V6 if address in ipaddress.IPv6Network(net)),
        None if address in ipaddress.IPv6Network("2000::/3") else "reserved",
    )
    return str(address), 6, category, None


def test_ipv6_parsing_agrees_with_the_standard_library_on_random_addresses() -> None:
    rng = random.Random(6)
    prefixes = [0x2400CB00, 0x20010DA8, 0x2A031234, 0x20020102, 0x00000000, 0x20010000]
    prefixes += [0xFE800000, 0xFF020000, 0x3FFF0000, 0x0064FF9B, 0x20010DB8, 0xFC000000]
    for _ in range(5000):
        value = rng.getrandbits(128)
        if rng.random() < 0.6:
            value = rng.choice(prefixes) << 96 | (value & ((1 << 96) - 1))
        if rng.random() < 0.3:
            value &= ~(((1 << 64) - 1) << 32)  # a long run of zero groups
        if rng.random() < 0.2:
            value = 0xFFFF << 32 | (value & 0xFFFFFFFF)  # IPv4-mapped
        text = str(ipaddress.IPv6Address(value))
        for form in (text, text.upper(), ipaddress.IPv6Address(value).exploded):
            got = parse_address(form)
            assert (got.lookup, got.version, got.not_routable, got.embedded_via) == _reference(
                text
            ), form
