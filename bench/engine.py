"""Decision throughput: regiongate against the raw lookup floor and two policy engines.

All contenders run in this process on the same random public IPv4 addresses and the same
geo lookup. The policy engines get the same rule (the provider's country list, the sanctions
baseline, unknown country refused) compiled once: Cedar through cedarpy with a pre-parsed
policy set and entity store, Rego through regopy with a compiled bundle.

Run: ``.venv/bin/python bench/engine.py [--ips 100000] [--rows 1000000]``
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from regiongate.addresses import parse_address
from regiongate.batch import Progress, classify_stream
from regiongate.decision import Engine
from regiongate.engine import get_engine

PROVIDERS = ("openai", "anthropic", "azure_openai", "google_gemini", "deepseek")
OUT = Path(__file__).parent / "out"


def public_ips(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    ips: list[str] = []
    while len(ips) < count:
        text = ".".join(str(b) for b in rng.getrandbits(32).to_bytes(4, "big"))
        if parse_address(text).not_routable is None:
            ips.append(text)
    return ips


def rate(label: str, count: int, run: Callable[[], Any], repeat: int = 3) -> float:
    """Best of ``repeat`` runs, in operations per second. Contenders discard their results as
    a live service does (keeping 100k objects alive would bill the garbage collector)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    per_second = count / best
    print(f"  {label:<46}{per_second:>12,.0f} /s  {best / count * 1e6:8.2f} µs/op")
    return per_second


def _country_rules(engine: Engine) -> tuple[dict[str, Any], list[str]]:
    """Each provider's country rule today, and the sanctioned countries, as plain data."""
    now = int(time.time())
    providers = {}
    for pid, policy in engine.policies.providers.items():
        rule = policy.countries
        listed = sorted(e.code for e in rule.entries if e.active(now))
        mode = rule.mode
        if rule.completeness == "unpublished":
            mode = "denylist" if rule.unlisted == "allow" else "allowlist"
        providers[pid] = {"mode": mode, "countries": listed}
    sanctioned = sorted(
        e.code for b in engine.policies.baselines for e in b.countries.entries if e.active(now)
    )
    return providers, sanctioned


def cedar_contender(engine: Engine, ips: list[str], providers: list[str]) -> Callable[[], Any]:
    import cedarpy

    rules, sanctioned = _country_rules(engine)
    policy_text = f"""
permit(principal, action == Action::"call", resource)
when {{ resource.mode == "allowlist" && resource.countries.contains(context.country) }};
permit(principal, action == Action::"call", resource)
when {{ resource.mode == "denylist" && !resource.countries.contains(context.country) }};
forbid(principal, action, resource) when {{ {json.dumps(sanctioned)}.contains(context.country) }};
forbid(principal, action, resource) when {{ context.country == "" }};
"""
    policies = cedarpy.PolicySet.from_str(policy_text)
    entities = cedarpy.Entities.from_json_str(
        json.dumps(
            [
                {"uid": {"type": "Provider", "id": pid}, "attrs": rule, "parents": []}
                for pid, rule in rules.items()
            ]
        )
    )
    locate = engine.geolocator.locate  # type: ignore[union-attr]

    def run() -> list[bool]:
        requests = [
            {
                "principal": 'Caller::"c"',
                "action": 'Action::"call"',
                "resource": f'Provider::"{provider}"',
                "context": {"country": locate(ip).country or ""},
            }
            for ip, provider in zip(ips, providers, strict=True)
        ]
        out: list[bool] = []
        for start in range(0, len(requests), 1000):
            out += [
                r.allowed
                for r in cedarpy.is_authorized_batch(
                    requests[start : start + 1000], policies, entities
                )
            ]
        return out

    return run


def rego_contender(engine: Engine, ips: list[str], providers: list[str]) -> Callable[[], Any]:
    from regopy import Interpreter

    rules, sanctioned = _country_rules(engine)
    data = {
        "providers": {
            pid: {"mode": r["mode"], "countries": dict.fromkeys(r["countries"], True)}
            for pid, r in rules.items()
        },
        "sanctioned": dict.fromkeys(sanctioned, True),
    }
    module = """
package regiongate
import rego.v1
default allow := false
sanctioned if data.sanctioned[input.country]
allow if {
    p := data.providers[input.provider]
    p.mode == "allowlist"
    p.countries[input.country]
    not sanctioned
}
allow if {
    p := data.providers[input.provider]
    p.mode == "denylist"
    input.country != ""
    not p.countries[input.country]
    not sanctioned
}
"""
    builder = Interpreter()
    builder.add_data(data)
    builder.add_module("regiongate.rego", module)
    bundle = builder.build("x = data.regiongate.allow", ["regiongate/allow"])
    interpreter = Interpreter()
    locate = engine.geolocator.locate  # type: ignore[union-attr]

    def run() -> list[str]:
        out = []
        for ip, provider in zip(ips, providers, strict=True):
            interpreter.set_input({"provider": provider, "country": locate(ip).country or ""})
            out.append(str(interpreter.query_bundle(bundle)))
        return out

    return run


def agreement(engine: Engine, ips: list[str], providers: list[str]) -> float:
    """Share of requests where Cedar's allow equals regiongate's allow (sanity, not speed)."""
    cedar = cedar_contender(engine, ips, providers)()
    ours = [engine.classify(ip, p).outcome == "allow" for ip, p in zip(ips, providers, strict=True)]
    return sum(a == b for a, b in zip(cedar, ours, strict=True)) / len(ips)


def decisions(args: argparse.Namespace) -> dict[str, float]:
    engine = get_engine()
    ips = public_ips(args.ips)
    rng = random.Random(11)
    providers = [rng.choice(PROVIDERS) for _ in ips]
    geolocator = engine.geolocator
    assert geolocator is not None
    get = geolocator.databases[0].get_with_prefix_len
    classify = engine.classify
    print(
        f"\n== decisions: {len(ips):,} random public IPv4 addresses, "
        f"{len(PROVIDERS)} providers, bundled DB-IP database =="
    )
    for ip, p in zip(ips, providers, strict=True):  # warm the verdict memo, as a live process is
        classify(ip, p)
    pairs = list(zip(ips, providers, strict=True))

    def raw_loop() -> None:
        for ip in ips:
            get(ip)

    def locate_loop() -> None:
        for ip in ips:
            geolocator.locate(ip)

    def decide_loop(work: list[tuple[str, str]]) -> None:
        for ip, provider in work:
            classify(ip, provider)

    raw = rate("raw maxminddb get_with_prefix_len (floor)", len(ips), raw_loop)
    locate = rate("regiongate geo lookup (parse + locate)", len(ips), locate_loop)
    ours = rate("regiongate full decision (IP string in)", len(ips), lambda: decide_loop(pairs))
    cedar_count = min(len(ips), args.engine_ips)
    cedar = rate(
        "cedarpy, same rule, batched, same geo lookup",
        cedar_count,
        cedar_contender(engine, ips[:cedar_count], providers[:cedar_count]),
        repeat=1,
    )
    rego = rate(
        "regopy compiled bundle, same geo lookup",
        cedar_count,
        rego_contender(engine, ips[:cedar_count], providers[:cedar_count]),
        repeat=1,
    )
    repeated = [pairs[i % 1000] for i in range(len(pairs))]
    hot = rate(
        "regiongate full decision, 1,000 distinct IPs", len(ips), lambda: decide_loop(repeated)
    )
    ratios = {"vs_raw": ours / raw, "vs_cedar": ours / cedar, "vs_rego": ours / rego}
    print(f"  ratio full decision / raw lookup   {ratios['vs_raw']:6.2f}x   (target >= 0.6)")
    print(f"  ratio full decision / cedarpy      {ratios['vs_cedar']:6.1f}x   (target >= 10)")
    print(f"  ratio full decision / regopy       {ratios['vs_rego']:6.1f}x   (target >= 10)")
    print(f"  geo lookup / raw lookup            {locate / raw:6.2f}x")
    print(f"  repeated-IP workload / random      {hot / ours:6.2f}x")
    print(
        f"  cedar agrees with regiongate's allow on "
        f"{agreement(engine, ips[:5000], providers[:5000]):.1%} of 5,000 requests "
        "(differences: review outcomes, subdivisions, account conditions)"
    )
    return ratios


def batch(args: argparse.Namespace) -> float:
    engine = get_engine()
    OUT.mkdir(exist_ok=True)
    source = OUT / f"requests-{args.rows}.jsonl"
    if not source.exists():
        ips = public_ips(args.rows, seed=3)
        rng = random.Random(5)
        with source.open("w") as handle:
            for ip in ips:
                handle.write(f'{{"ip": "{ip}", "provider": "{rng.choice(PROVIDERS)}"}}\n')
    print(f"\n== classify --input: {args.rows:,} JSONL rows, one core ==")
    with source.open(encoding="utf-8") as stream, (OUT / "decisions.jsonl").open("w") as out:
        stats = classify_stream(
            engine, stream, out, "jsonl", None, Progress(None, enabled=False), errors=io.StringIO()
        )
    print(
        f"  {stats.rows:,} rows in {stats.seconds:.2f} s = {stats.rate:,.0f} rows/s, compact "
        "records (target >= 100,000)"
    )
    return stats.rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ips", type=int, default=100_000)
    parser.add_argument(
        "--engine-ips", type=int, default=100_000, help="requests given to cedarpy and regopy"
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    decisions(args)
    batch(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
