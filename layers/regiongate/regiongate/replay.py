"""Replay recorded decisions under a candidate policy set: what would flip?

Each record is re-decided from the facts it recorded (provider, model, account tier, geo facts)
as of its own evaluation time, so the report isolates the policy change from any change in
geo data. This is how a policy change is approved before it ships.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

from regiongate.account import AccountFacts, account_facts
from regiongate.checks import CallerFacts
from regiongate.engine import Engine
from regiongate.errors import RegiongateError
from regiongate.policy import parse_instant
from regiongate.vocabulary import specific_anonymizers


class RecordError(ValueError):
    """A line of the input is not a decision record."""


def facts_of(record: dict[str, Any]) -> CallerFacts:
    geo = record.get("geo")
    if not isinstance(geo, dict):
        raise RecordError("record has no geo facts")
    account = record.get("account") or {}
    if not isinstance(account, dict):
        raise RecordError("account must be an object")
    return CallerFacts(
        status=str(geo.get("status")),
        country=geo.get("country"),
        subdivisions=tuple(geo.get("subdivisions") or ()),
        subdivision_data=bool(geo.get("subdivision_data", geo.get("subdivisions"))),
        anonymizers=specific_anonymizers(geo.get("anonymizers") or ()),
        registered_country=geo.get("registered_country"),
        tier=account.get("tier"),
        account=_recorded_facts(account.get("facts")),
    )


def account_facts_of(record: dict[str, Any]) -> AccountFacts | None:
    """The account facts a record carries, for re-deciding it as it was decided."""
    account = record.get("account")
    return _recorded_facts(account.get("facts")) if isinstance(account, dict) else None


def _recorded_facts(facts: Any) -> AccountFacts | None:
    """The account facts a record carries (with the source that stated them)."""
    if facts is None:
        return None
    if not isinstance(facts, dict):
        raise RecordError("account.facts must be an object")
    try:
        return account_facts(
            facts, facts.get("end_user_country"), str(facts.get("source") or "record")
        )
    except RegiongateError as exc:
        raise RecordError(exc.message) from None


@dataclass
class ReplayReport:
    policy_version: str
    records: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)
    flips: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str, str, str], list[str]] = field(default_factory=dict)
    # Per flip, the deciding reason codes of the new verdicts (policy replay fills it).
    reasons: dict[tuple[str, str, str, str], Counter[str]] = field(default_factory=dict)

    def reasons_of(self, flip: tuple[str, str, str, str]) -> list[str]:
        return [code for code, _ in self.reasons.get(flip, Counter()).most_common()]

    @property
    def changed(self) -> int:
        return sum(self.flips.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy_version": self.policy_version,
            "records": self.records,
            "unchanged": self.unchanged,
            "changed": self.changed,
            "skipped": len(self.skipped),
            "skipped_examples": self.skipped[:10],
            "flips": [
                {
                    "provider": p,
                    "country": c,
                    "old": o,
                    "new": n,
                    "count": k,
                    **({"reasons": self.reasons_of((p, c, o, n))} if self.reasons else {}),
                    "examples": self.examples[(p, c, o, n)],
                }
                for (p, c, o, n), k in sorted(self.flips.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
        }

    def to_text(self) -> str:
        lines = [
            f"replayed {self.records:,} decisions under policy {self.policy_version}: "
            f"{self.changed:,} would change, {self.unchanged:,} unchanged, "
            f"{len(self.skipped):,} skipped"
        ]
        if self.flips:
            lines.append(
                f"{'provider':<22}{'country':<9}{'old':<9}{'new':<9}{'count':>8}  example decision"
                + ("  reason" if self.reasons else "")
            )
            for flip in self.to_dict()["flips"]:
                lines.append(
                    f"{flip['provider']:<22}{flip['country']:<9}{flip['old']:<9}"
                    f"{flip['new']:<9}{flip['count']:>8}  {flip['examples'][0]}"
                    + (f"  {','.join(flip['reasons'])}" if flip.get("reasons") else "")
                )
        for problem in self.skipped[:10]:
            lines.append(f"skipped: {problem}")
        return "\n".join(lines)


def read_records(stream: TextIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            yield number, f"line {number}: invalid JSON ({exc})"
            continue
        yield number, value if isinstance(value, dict) else f"line {number}: not an object"


Flip4 = tuple[str, str, str, str]  # provider, country, old outcome, new outcome
_R = TypeVar("_R", bound=ReplayReport)


def tally(
    report: _R,
    records: Iterable[tuple[int, dict[str, Any] | str]],
    judge: Callable[[dict[str, Any]], Flip4],
    examples: int = 3,
) -> _R:
    """Count, per (provider, country, old, new), the records ``judge`` says would change;
    a record it cannot judge (RecordError, ValueError, KeyError, a domain error) is skipped
    with its line number. Shared by policy replay and geo drift."""
    for number, record in records:
        if isinstance(record, str):
            report.skipped.append(record)
            continue
        try:
            key = judge(record)
        except (KeyError, RecordError, ValueError, RegiongateError) as exc:
            message = exc.message if isinstance(exc, RegiongateError) else str(exc)
            report.skipped.append(f"line {number}: {message}")
            continue
        report.records += 1
        if key[2] == key[3]:
            report.unchanged += 1
            continue
        report.flips[key] += 1
        sample = report.examples.setdefault(key, [])
        if len(sample) < examples:
            sample.append(str(record.get("decision_id")))
    return report


def replay(
    engine: Engine, records: Iterable[tuple[int, dict[str, Any] | str]], examples: int = 3
) -> ReplayReport:
    report = ReplayReport(engine.policies.version)

    def judge(record: dict[str, Any]) -> Flip4:
        facts = facts_of(record)
        at = parse_instant(str(record["evaluated_at"]))
        verdict = engine.verdict(str(record["provider"]), facts, at, record.get("model"))
        old = str(record["outcome"])
        key = (str(record["provider"]), str(facts.country or "-"), old, verdict.outcome)
        if old != verdict.outcome and verdict.reasons:
            report.reasons.setdefault(key, Counter())[verdict.reason_codes[0]] += 1
        return key

    return tally(report, records, judge, examples)
