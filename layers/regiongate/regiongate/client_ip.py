"""Which address is the caller's: API Gateway's source IP unless configuration says otherwise.

``X-Forwarded-For`` is written by whoever sent the request, so only the entries appended by
proxies we trust mean anything. With ``trusted_hops = N`` the caller is the N-th entry from the
right; with trusted proxy networks, entries are read right to left and the first address not
in a trusted network is the caller. The left-most entry is never believed on its own. Every
resolution says how the address was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address

from regiongate.addresses import parse_address
from regiongate.errors import InvalidAddressError, RegiongateError

Network = IPv4Network | IPv6Network


class ForbiddenOverrideError(RegiongateError):
    """A caller that is not a trusted gateway tried to say whose address to judge."""

    code = "ip_override_forbidden"
    http_status = 403

    def __init__(self) -> None:
        super().__init__(
            "the 'ip' field is accepted only from callers configured as trusted gateways "
            "(REGIONGATE_TRUSTED_GATEWAY_CIDRS)"
        )


@dataclass(frozen=True, slots=True)
class ProxyTrust:
    """How much of X-Forwarded-For to believe, and who may name another address."""

    trusted_hops: int = 0
    trusted_proxies: tuple[Network, ...] = ()
    trusted_gateways: tuple[Network, ...] = ()

    def trusts_gateway(self, source_ip: str) -> bool:
        """May this direct caller name another address (or an account) to judge?"""
        return _in(source_ip, self.trusted_gateways)


def _in(address: str, networks: tuple[Network, ...]) -> bool:
    if not networks:
        return False
    try:
        parsed = ip_address(parse_address(address).lookup)
    except (InvalidAddressError, ValueError):
        return False
    return any(parsed in n for n in networks)


@dataclass(frozen=True, slots=True)
class ClientAddress:
    ip: str
    method: str
    source_ip: str

    def to_dict(self) -> dict[str, str]:
        return {"ip": self.ip, "method": self.method, "source_ip": self.source_ip}


def resolve(
    source_ip: str, forwarded_for: str | None, trust: ProxyTrust, override: str | None = None
) -> ClientAddress:
    """The caller's address for a request that reached API Gateway from ``source_ip``."""
    source = (
        source_ip.split("/", maxsplit=1)[0] if source_ip.endswith(("/32", "/128")) else source_ip
    )
    if override is not None:
        if not trust.trusts_gateway(source):
            raise ForbiddenOverrideError
        return ClientAddress(override, "body-ip-from-trusted-gateway", source)
    entries = [e.strip() for e in (forwarded_for or "").split(",") if e.strip()]
    if entries and entries[-1] == source:
        entries.pop()  # API Gateway appends the address it saw; that is the source already
    if trust.trusted_hops:
        if len(entries) >= trust.trusted_hops:
            return ClientAddress(
                entries[-trust.trusted_hops], f"x-forwarded-for[-{trust.trusted_hops}]", source
            )
        return ClientAddress(
            source, "source-ip (x-forwarded-for shorter than trusted hops)", source
        )
    if trust.trusted_proxies and _in(source, trust.trusted_proxies):
        for position in range(len(entries) - 1, -1, -1):
            if not _in(entries[position], trust.trusted_proxies):
                return ClientAddress(
                    entries[position], "x-forwarded-for (first untrusted from the right)", source
                )
        return ClientAddress(
            source, "source-ip (every forwarded address is a trusted proxy)", source
        )
    return ClientAddress(source, "source-ip", source)
