"""The engine: requests in, decisions out, with verdicts memoised; and the process's engine.

The policy set is compiled into breakpoints: every instant at which any answer can change.
Between two breakpoints the verdict for a given set of caller facts is constant, so a verdict
is computed once per provider, facts and time segment (``checks.evaluate``), then served from
a bounded table; a decision is that verdict plus an id, a timestamp and the geo evidence.

Lambda functions, the local server and the CLI get their engine from ``get_engine``, so a
warm process never re-reads a policy file or reopens a database.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from regiongate.caches import register
from regiongate.checks import CallerFacts, caller_facts, evaluate
from regiongate.decision import Decision, Verdict
from regiongate.errors import UnknownProviderError
from regiongate.geo import Geolocator, GeoResult, open_geolocator
from regiongate.ids import SYSTEM_CLOCK, Clock, DecisionIds
from regiongate.policy import PolicySet, load_policy_set
from regiongate.request import Request
from regiongate.settings import settings
from regiongate.vocabulary import check_tier

MEMO_SIZE = 100_000


class Engine:
    """Decides requests against one policy set and one geolocator.

    ``decide`` is the one way a request is decided. Behind it, a request with no account tier
    and no model from a plain address takes the network shortcut: the verdict is memoised per
    provider, shared network answer (``Place``) and time segment, and the full geo result is
    only built if asked for. Every other request is located in full and its verdict memoised
    per facts. Both tables are bounded by ``memo_size`` (emptied when full)."""

    def __init__(
        self,
        policies: PolicySet,
        geolocator: Geolocator,
        *,
        clock: Clock = SYSTEM_CLOCK,
        memo_size: int = MEMO_SIZE,
        ids: DecisionIds | None = None,
    ) -> None:
        self.policies = policies
        self.geolocator = geolocator
        self.clock = clock
        self.memo_size = memo_size
        self.ids = ids or DecisionIds()
        self._next_sequence = self.ids.next_sequence
        self._place_of = geolocator.place_of
        self._version = policies.version
        points: set[int] = set()
        for policy in (*policies.providers.values(), *policies.baselines):
            points |= policy.breakpoints()
        self._breakpoints = sorted(points)
        self._memo: dict[tuple[Any, ...], Verdict] = {}
        # The shortcut's verdicts: one table per time segment, each keyed by provider and
        # network answer; ``_segment`` is the last segment used, with its bounds.
        self._by_place: dict[int, dict[tuple[str, object], Verdict]] = {}
        self._segment: tuple[int, int, dict[tuple[str, object], Verdict]] = (0, 0, {})
        self._plain: dict[str, tuple[str, ...]] = {pid: (pid,) for pid in policies.providers}

    def decide(self, request: Request, *, geo: GeoResult | None = None) -> Decision:
        """Decide ``request``. Raises InvalidAddressError, UnknownProviderError, or
        InvalidRequestError for a malformed account tier.

        ``geo`` decides from a geo result found already (or built by hand) instead of
        locating ``request.ip``: the reference path the shortcut is tested against."""
        tier = request.account_tier
        if tier is not None:
            check_tier(tier)
        now_ns = self.clock()
        at = request.at
        when = now_ns // 1_000_000_000 if at is None else at
        if geo is None:
            ip = request.ip
            place = self._place_of(ip)
            if (
                place is not None
                and tier is None
                and request.model is None
                and request.account_facts is None
            ):
                # The shortcut: the verdict memoised per provider, network answer, segment.
                provider = request.provider
                lo, hi, by_place = self._segment
                if not lo <= when < hi:
                    by_place = self._segment_of(when)
                verdict = by_place.get((provider, place.facts))
                if verdict is None:
                    verdict = self.verdict(provider, caller_facts(place.template, None), when)
                    self._remember(by_place, (provider, place.facts), verdict)
                # Positional on purpose: on CPython 3.11 a nine-keyword call costs twice as
                # much, and this runs once per request. The order is Decision.__init__'s.
                return Decision(
                    request,
                    verdict,
                    self.ids,
                    self._next_sequence(),
                    now_ns,
                    when,
                    self._version,
                    None,
                    place,
                )
            geo = place.geo_for(ip) if place is not None else self.geolocator.locate(ip)
        facts = caller_facts(geo, tier, request.account_facts)
        verdict = self.verdict(request.provider, facts, when, request.model)
        return Decision(
            request=request,
            verdict=verdict,
            ids=self.ids,
            sequence=self._next_sequence(),
            decided_at_ns=now_ns,
            evaluated_at=when,
            policy_version=self._version,
            geo=geo,
        )

    def _segment_of(self, when: int) -> dict[tuple[str, object], Verdict]:
        """The shortcut's verdict table for the time segment holding ``when``, which becomes
        the current segment (requests for 'now' stay in one segment for months)."""
        points = self._breakpoints
        index = bisect_right(points, when)
        lo = points[index - 1] if index else -(1 << 62)
        hi = points[index] if index < len(points) else 1 << 62
        table = self._by_place.get(index)
        if table is None:
            if len(self._by_place) >= self.memo_size:
                self._by_place.clear()
            table = self._by_place[index] = {}
        self._segment = (lo, hi, table)
        return table

    def verdict(
        self, provider: str, facts: CallerFacts, at: int, model: str | None = None
    ) -> Verdict:
        """The verdict for ``facts`` at instant ``at`` (memoised): what ``decide`` uses, and
        what replay and eligibility ask for directly, having facts but no address."""
        check_tier(facts.tier)
        applied: tuple[str, ...] | None = self._plain.get(provider) if model is None else None
        actions: tuple[int, ...] = ()
        scoped: tuple[int, ...] = ()
        if applied is None:
            policy = self.policies.providers.get(provider)
            if policy is None:
                raise UnknownProviderError(provider, self.policies.provider_ids())
            applied = (policy.id, *policy.model_policies(model))
            actions = policy.model_actions(model)
            scoped = policy.scoped_rules(model)
        key = (applied, actions, scoped, facts, bisect_right(self._breakpoints, at))
        verdict = self._memo.get(key)
        if verdict is None:
            verdict = evaluate(
                self.policies, applied, facts, at, model_actions=actions, scoped_rules=scoped
            )
            self._remember(self._memo, key, verdict)
        return verdict

    def _remember(self, table: dict[Any, Verdict], key: Any, verdict: Verdict) -> None:
        if len(table) >= self.memo_size:
            table.clear()
        table[key] = verdict


_ENGINES: dict[tuple[tuple[str, ...], str], Engine] = {}
register(_ENGINES.clear)  # built over the geolocators opened from settings


def get_engine(geo_paths: list[str] | None = None, policy_dir: str | None = None) -> Engine:
    """The shared engine for these databases and policy directory.

    Defaults come from ``REGIONGATE_GEO_DATABASES`` and ``REGIONGATE_POLICY_DIR``, then from
    the bundled geo database (DB-IP City Lite, reduced) and bundled policies.
    """
    policy_dir = policy_dir or settings().policy_dir
    geolocator = open_geolocator(geo_paths)
    key = (tuple(db.path for db in geolocator.databases), policy_dir)
    engine = _ENGINES.get(key)
    if engine is None:
        engine = Engine(load_policy_set(policy_dir or None), geolocator)
        _ENGINES[key] = engine
    return engine


def unavailable_engine(policy_dir: str | None = None) -> Engine:
    """An engine over the policies and no geo data (every address UNAVAILABLE): what the
    authorizer decides with when the databases cannot be read."""
    policy_dir = policy_dir or settings().policy_dir
    engine = _UNAVAILABLE.get(policy_dir)
    if engine is None:
        engine = Engine(load_policy_set(policy_dir or None), Geolocator.unavailable())
        _UNAVAILABLE[policy_dir] = engine
    return engine


_UNAVAILABLE: dict[str, Engine] = {}
register(_UNAVAILABLE.clear)
