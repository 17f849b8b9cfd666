"""Know your geo data: what is in use and how old it is (``geo info``), and which past
decisions a new database would change (``geo drift``) — so a database update is approved
like a policy change.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from regiongate.engine import Engine
from regiongate.geo import GeoDatabase, Geolocator
from regiongate.policy import PolicySet, parse_instant
from regiongate.replay import Flip4, RecordError, ReplayReport, account_facts_of, tally
from regiongate.request import Request


def database_facts(db: GeoDatabase, today: dt.date, max_age_days: int) -> dict[str, Any]:
    """One database as ``geo info`` shows it: file name (never the full path), type, build
    date and age, and every warning about it."""
    warnings: list[str] = []
    age: int | None = None
    if db.info.build_date == "invalid":
        warnings.append("build date is invalid")
    else:
        age = (today - dt.date.fromisoformat(db.info.build_date)).days
        if age > max_age_days:
            warnings.append(f"built {age} days ago, more than {max_age_days}")
    if db.suspect:
        warnings.append(db.suspect)
    return {
        "file": os.path.basename(db.path),
        "type": db.info.database_type,
        "build_date": db.info.build_date,
        "age_days": age,
        "ip_version": db.info.ip_version,
        "answers_country": db.answers_country,
        "subdivisions": db.has_subdivisions,
        "warnings": warnings,
    }


def geo_info(geolocator: Geolocator, today: dt.date, max_age_days: int) -> dict[str, Any]:
    """Every database in use, in lookup order (the first with a country owns the place)."""
    databases = [database_facts(db, today, max_age_days) for db in geolocator.databases]
    return {
        "as_of": today.isoformat(),
        "max_age_days": max_age_days,
        "databases": databases,
        "warnings": sum(len(d["warnings"]) for d in databases),
    }


def info_text(info: dict[str, Any]) -> str:
    lines = [f"geo databases in use (first country answer owns the place), as of {info['as_of']}:"]
    for db in info["databases"]:
        age = "?" if db["age_days"] is None else f"{db['age_days']} days"
        kind = "country" if db["answers_country"] else "adds flags/ASN only"
        lines.append(
            f"  {db['file']}  {db['type']}  built {db['build_date']} ({age})  "
            f"IPv{db['ip_version']}  {kind}"
        )
        lines += [f"    warning: {w}" for w in db["warnings"]]
    return "\n".join(lines)


def lookup_address(record: dict[str, Any]) -> str:
    """The address a record was decided for: the full address if it was kept, else the first
    address of its recorded network (records keep the caller's /24 or /48 only)."""
    ip = record.get("ip")
    if isinstance(ip, str) and ip:
        return ip
    network = record.get("client_network") or record.get("network")
    if not isinstance(network, str):
        raise RecordError("record has neither an address nor a network")
    return str(ipaddress.ip_network(network, strict=False).network_address)


@dataclass
class DriftReport(ReplayReport):
    """A replay report whose two sides are two sets of geo data under the same policies."""

    current: str = ""
    candidate: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"current": self.current, "candidate": self.candidate, **super().to_dict()}

    def to_text(self) -> str:
        head, *rest = super().to_text().split("\n")
        counts = head.split(": ", 1)[1]
        title = f"geo drift {self.current} -> {self.candidate} under policy {self.policy_version}"
        return "\n".join([f"{title}: {counts}", *rest])


def _label(geolocator: Geolocator) -> str:
    return "+".join(f"{os.path.basename(i.path)}@{i.build_date}" for i in geolocator.infos)


def geo_drift(
    policies: PolicySet,
    current: Geolocator,
    candidate: Geolocator,
    records: Iterable[tuple[int, dict[str, Any] | str]],
    examples: int = 3,
) -> DriftReport:
    """Re-decide every record with the current and with the candidate geo data, under the
    same policies and as of the record's own time, and count what would flip (provider x
    country x old -> new outcome, with example decision ids). Both sides are re-decided, so a
    policy change since the record is not mistaken for drift."""
    old_engine, new_engine = Engine(policies, current), Engine(policies, candidate)

    def judge(record: dict[str, Any]) -> Flip4:
        account = record.get("account") or {}
        request = Request(
            ip=lookup_address(record),
            provider=str(record["provider"]),
            account_tier=account.get("tier") if isinstance(account, dict) else None,
            model=record.get("model"),
            at=parse_instant(str(record["evaluated_at"])),
            account_facts=account_facts_of(record),
        )
        before, after = old_engine.decide(request), new_engine.decide(request)
        old_country, new_country = before.geo.country or "-", after.geo.country or "-"
        country = new_country if old_country == new_country else f"{old_country}>{new_country}"
        return request.provider, country, before.outcome, after.outcome

    report = DriftReport(policies.version, current=_label(current), candidate=_label(candidate))
    return tally(report, records, judge, examples)
