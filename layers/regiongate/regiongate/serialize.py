"""Decisions as compact JSON lines, fast enough for million-row batch runs.

A decision's verdict (outcome, reasons, rule, alternatives) is shared by every decision with
the same facts, so its JSON is rendered once and reused; only the per-request fields (id,
times, account, geo) are encoded each time. The output equals ``json.dumps(d.to_dict())``
up to key order and spacing, which the tests check.
"""

from __future__ import annotations

import json
from typing import Any

from regiongate.decision import Decision, Verdict, format_id, iso_time

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_VERDICT_FRAGMENTS: dict[int, tuple[Verdict, str]] = {}
_SECOND_STAMPS: dict[int, str] = {}


def _verdict_fragment(verdict: Verdict) -> str:
    cached = _VERDICT_FRAGMENTS.get(id(verdict))
    if cached is not None and cached[0] is verdict:
        return cached[1]
    if len(_VERDICT_FRAGMENTS) > 50_000:
        _VERDICT_FRAGMENTS.clear()
    fragment = _dumps(verdict.to_dict())[1:-1]
    _VERDICT_FRAGMENTS[id(verdict)] = (verdict, fragment)
    return fragment


def _second_stamp(seconds: int) -> str:
    stamp = _SECOND_STAMPS.get(seconds)
    if stamp is None:
        if len(_SECOND_STAMPS) > 10_000:
            _SECOND_STAMPS.clear()
        stamp = iso_time(seconds * 1_000_000_000)
        _SECOND_STAMPS[seconds] = stamp
    return stamp


def decision_json(decision: Decision) -> str:
    """One decision as a single JSON line (no trailing newline)."""
    head: dict[str, Any] = {
        "decision_id": format_id(decision.id_value),
        "decided_at": iso_time(decision.decided_at_ns),
        "evaluated_at": _second_stamp(decision.evaluated_at),
        "provider": decision.provider,
        "model": decision.model,
        "account": {"id": decision.account_id, "tier": decision.account_tier},
        "policy_version": decision.policy_version,
    }
    return (_dumps(head)[:-1] + "," + _verdict_fragment(decision.verdict) + ',"geo":'
            + _dumps(decision.geo.to_dict()) + "}")
