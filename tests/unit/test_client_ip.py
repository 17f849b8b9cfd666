"""The caller's address: which X-Forwarded-For entry is believed, and who may name another.

Table-driven: each row is a request as API Gateway hands it over (source address, the header,
a body ``ip``) under one trust configuration, and the address and method that must be chosen.
"""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from regiongate.client_ip import ClientAddress, ForbiddenOverrideError, ProxyTrust, resolve

NONE = ProxyTrust()
TWO_HOPS = ProxyTrust(trusted_hops=2)
ONE_HOP = ProxyTrust(trusted_hops=1)
CDN = ProxyTrust(trusted_proxies=(ip_network("10.0.0.0/8"), ip_network("2001:db8::/32")))
GATEWAY = ProxyTrust(trusted_gateways=(ip_network("192.0.2.0/24"),))

SOURCE = "198.51.100.7"

CASES = [
    # (name, trust, source, x-forwarded-for, chosen ip, method)
    ("no header: the source", NONE, SOURCE, None, SOURCE, "source-ip"),
    ("no trust: the header is ignored", NONE, SOURCE, "1.2.3.4", SOURCE, "source-ip"),
    ("a /32 source is the address", NONE, SOURCE + "/32", None, SOURCE, "source-ip"),
    ("a /128 source is the address", NONE, "2001:db8::1/128", None, "2001:db8::1", "source-ip"),
    (
        "a /24 source is left as given",
        NONE,
        "198.51.100.0/24",
        None,
        "198.51.100.0/24",
        "source-ip",
    ),
    (
        "one hop: the right-most entry",
        ONE_HOP,
        SOURCE,
        "6.6.6.6, 1.2.3.4",
        "1.2.3.4",
        "x-forwarded-for[-1]",
    ),
    (
        "two hops: the second from the right",
        TWO_HOPS,
        SOURCE,
        "6.6.6.6, 1.2.3.4, 5.6.7.8",
        "1.2.3.4",
        "x-forwarded-for[-2]",
    ),
    (
        "the source appended by API Gateway is not a hop",
        ONE_HOP,
        SOURCE,
        f"1.2.3.4, {SOURCE}",
        "1.2.3.4",
        "x-forwarded-for[-1]",
    ),
    (
        "blank entries are skipped",
        ONE_HOP,
        SOURCE,
        " , 1.2.3.4 ,, ",
        "1.2.3.4",
        "x-forwarded-for[-1]",
    ),
    (
        "a header shorter than the hops: the source",
        TWO_HOPS,
        SOURCE,
        "1.2.3.4",
        SOURCE,
        "source-ip (x-forwarded-for shorter than trusted hops)",
    ),
    (
        "hops with no header: the source",
        ONE_HOP,
        SOURCE,
        None,
        SOURCE,
        "source-ip (x-forwarded-for shorter than trusted hops)",
    ),
    (
        "the left-most entry alone is never believed",
        TWO_HOPS,
        SOURCE,
        "6.6.6.6",
        SOURCE,
        "source-ip (x-forwarded-for shorter than trusted hops)",
    ),
    (
        "from a trusted proxy: first untrusted from the right",
        CDN,
        "10.1.1.1",
        "6.6.6.6, 1.2.3.4, 10.2.2.2",
        "1.2.3.4",
        "x-forwarded-for (first untrusted from the right)",
    ),
    (
        "trusted IPv6 proxies too",
        CDN,
        "2001:db8::5",
        "2400:cb00::1, 2001:db8::9",
        "2400:cb00::1",
        "x-forwarded-for (first untrusted from the right)",
    ),
    (
        "every forwarded address a trusted proxy: the source",
        CDN,
        "10.1.1.1",
        "10.3.3.3, 10.2.2.2",
        "10.1.1.1",
        "source-ip (every forwarded address is a trusted proxy)",
    ),
    (
        "an unreadable entry is not a trusted proxy",
        CDN,
        "10.1.1.1",
        "1.2.3.4, garbage",
        "garbage",
        "x-forwarded-for (first untrusted from the right)",
    ),
    (
        "a source outside the trusted proxies: the header is ignored",
        CDN,
        SOURCE,
        "1.2.3.4",
        SOURCE,
        "source-ip",
    ),
    (
        "an unreadable source is not a trusted proxy",
        CDN,
        "not-an-ip",
        "1.2.3.4",
        "not-an-ip",
        "source-ip",
    ),
]


@pytest.mark.parametrize(
    ("trust", "source", "forwarded", "ip", "method"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_caller_is_chosen_as_configured(
    trust: ProxyTrust, source: str, forwarded: str | None, ip: str, method: str
) -> None:
    chosen = resolve(source, forwarded, trust)
    assert (chosen.ip, chosen.method) == (ip, method)
    host = source.split("/", maxsplit=1)[0]
    assert chosen.source_ip == (host if source.endswith(("/32", "/128")) else source)


OVERRIDES = [
    # (name, trust, source, allowed)
    ("a trusted gateway may name the address", GATEWAY, "192.0.2.10", True),
    ("a trusted gateway given as /32", GATEWAY, "192.0.2.10/32", True),
    ("anyone else may not", GATEWAY, SOURCE, False),
    ("no gateways configured: nobody may", NONE, "192.0.2.10", False),
    ("an unreadable source may not", GATEWAY, "garbage", False),
    ("a trusted proxy is not a gateway", CDN, "10.1.1.1", False),
]


@pytest.mark.parametrize(
    ("trust", "source", "allowed"),
    [case[1:] for case in OVERRIDES],
    ids=[case[0] for case in OVERRIDES],
)
def test_only_trusted_gateways_may_name_the_address(
    trust: ProxyTrust, source: str, allowed: bool
) -> None:
    if allowed:
        chosen = resolve(source, "6.6.6.6", trust, override="1.2.4.8")
        assert chosen == ClientAddress("1.2.4.8", "body-ip-from-trusted-gateway", "192.0.2.10")
        assert trust.trusts_gateway(source.split("/", maxsplit=1)[0])
    else:
        with pytest.raises(ForbiddenOverrideError) as refused:
            resolve(source, None, trust, override="1.2.4.8")
        assert refused.value.http_status == 403
        assert refused.value.code == "ip_override_forbidden"


def test_the_chosen_address_reports_how_it_was_chosen() -> None:
    chosen = resolve(SOURCE, "1.2.3.4", ONE_HOP)
    assert chosen.to_dict() == {
        "ip": "1.2.3.4",
        "method": "x-forwarded-for[-1]",
        "source_ip": SOURCE,
    }
