"""The ``regiongate`` command line: classify, geolocate, inspect and validate policies.

Exit codes: 0 success, 1 the run finished but some input rows were bad, 2 bad arguments or
unreadable input, 3 a configured database or policy could not be loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from regiongate import batch
from regiongate.account import account_facts
from regiongate.errors import GeoDatabaseError, PolicyError, RegiongateError
from regiongate.policy import load_policy_set, parse_instant
from regiongate.request import Request
from regiongate.rules import describe_policy

if TYPE_CHECKING:
    from regiongate.engine import Engine

EXIT_OK, EXIT_BAD_ROWS, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 3


class UsageError(Exception):
    """Bad arguments or unreadable input: exit 2 with a one-line message."""


def _engine(args: argparse.Namespace) -> Engine:
    from regiongate.engine import get_engine

    return get_engine(args.geo_db or None, args.policy_dir)


def _instant(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise UsageError(f"--at: {exc}") from None


def _print_json(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, ensure_ascii=False)
    out.write("\n")


def _emit(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    """Print ``data`` as JSON under ``--json``, otherwise the text a person reads."""
    if getattr(args, "json", False):
        _print_json(data, sys.stdout)
    else:
        print(text())


def describe_place(r: dict[str, Any]) -> str:
    """One ``geo`` answer (or its error) as a person reads it."""
    if "error" in r:
        return f"{r['ip']}  error: {r['error']['message']}"
    if r["status"] == "not_routable":
        nr = r["not_routable"]
        return f"{r['ip']}  not routable ({nr['category']}, {nr['network']})"
    if r["status"] == "unknown":
        return f"{r['ip']}  unknown (no database placed it)"
    extra = [f"network {r['network']}"]
    if r["subdivisions"]:
        extra.append("subdivisions " + ",".join(r["subdivisions"]))
    if r["registered_country"]:
        extra.append(f"registered {r['registered_country']}")
    if r["anonymizers"]:
        extra.append("flags " + ",".join(r["anonymizers"]))
    if r["asn"]:
        extra.append(f"AS{r['asn']} {r['as_organization'] or ''}".strip())
    return f"{r['ip']}  {r['country']}  " + "  ".join(extra)


def describe_decision(d: dict[str, Any]) -> str:
    """A decision as a person reads it."""
    geo = d["geo"]
    where = geo.get("country") or geo["status"].replace("_", " ")
    if geo.get("subdivisions"):
        where += f" ({', '.join(geo['subdivisions'])})"
    lines = [
        f"{d['outcome'].upper()}  {d['provider']}  for {geo['ip']} ({where})",
        f"  decision  {d['decision_id']}  at {d['decided_at']}  policy {d['policy_version']}",
    ]
    for reason in d["reasons"]:
        lines.append(f"  reason    {reason['code']}: {reason['message']}")
    rule = d["rule"]
    lines.append(f"  rule      {rule['id']}")
    if rule.get("source"):
        src = rule["source"]
        lines.append(f"  source    {src['source_url']} (as of {src['as_of']})")
    for alt in d.get("alternatives", []):
        lines.append(f"  reroute → {alt['provider']}: {alt['reasons'][0]['message']}")
    for alt in d.get("excluded_alternatives", []):
        lines.append(f"  excluded  {alt['provider']}: {alt['reasons'][-1]['message']}")
    if d.get("serve_from_regions"):
        lines.append(f"  serve from {', '.join(d['serve_from_regions'])}")
    if geo.get("network"):
        db = geo["evidence"][0]["database"]
        lines.append(
            f"  geo       {geo['network']} via {db['path']} ({db['type']}, "
            f"built {db['build_date']})"
        )
    return "\n".join(lines)


def cmd_classify(args: argparse.Namespace) -> int:
    if args.input:
        if args.ip:
            raise UsageError("give either --ip or --input, not both")
        return batch.run_file(
            _engine(args),
            args.input,
            args.output,
            input_format=args.format,
            default_provider=args.provider,
            progress=not args.quiet,
            summary_out=sys.stderr if args.output in (None, "-") else sys.stdout,
            full=args.full,
            output_format=args.output_format,
            row_by_row=args.row_by_row,
            log_format=args.log_format,
            provider_field=args.provider_field,
            provider_pattern=args.provider_pattern,
        )
    if not args.ip or not args.provider:
        raise UsageError("classify needs --ip and --provider (or --input FILE)")
    stated = {
        "country": args.account_country,
        "parent_country": args.parent_country,
        "parent_ownership": args.parent_ownership,
        "verification": args.verification,
        "contract": args.contract,
    }
    request = Request(
        ip=args.ip,
        provider=args.provider,
        account_id=args.account_id,
        account_tier=args.account_tier,
        model=args.model,
        at=_instant(args.at),
        # The operator running the CLI is a trusted source of account facts.
        account_facts=account_facts(stated, args.end_user_country, "cli"),
    )
    decision = _engine(args).decide(request)
    data = decision.to_dict()
    _emit(args, data, lambda: describe_decision(data))
    return EXIT_OK


def cmd_geo(args: argparse.Namespace) -> int:
    from regiongate.geo import open_geolocator

    if args.ips[0] in ("info", "drift") and len(args.ips) == 1:
        return cmd_geo_info(args) if args.ips[0] == "info" else cmd_geo_drift(args)
    geolocator = open_geolocator(args.geo_db or None)
    results, status = [], EXIT_OK
    for ip in args.ips:
        try:
            results.append(geolocator.locate(ip).to_dict())
        except RegiongateError as exc:
            results.append({"ip": ip, "error": {"code": exc.code, "message": exc.message}})
            status = EXIT_BAD_ROWS
    _emit(
        args,
        results if len(results) > 1 else results[0],
        lambda: "\n".join(describe_place(r) for r in results),
    )
    return status


def cmd_geo_info(args: argparse.Namespace) -> int:
    import datetime as dt

    from regiongate.geo import open_geolocator
    from regiongate.geodata import geo_info, info_text
    from regiongate.settings import settings

    today = dt.datetime.now(dt.UTC).date()
    max_age = args.max_age_days or settings().geo_max_age_days
    info = geo_info(open_geolocator(args.geo_db or None), today, max_age)
    _emit(args, info, lambda: info_text(info))
    return EXIT_OK


def cmd_geo_drift(args: argparse.Namespace) -> int:
    from regiongate.geo import GeoDatabase, Geolocator, open_geolocator
    from regiongate.geodata import geo_drift
    from regiongate.replay import read_records

    if not args.new or not args.input:
        raise UsageError("geo drift needs --new PATH (repeatable) and --input FILE")
    current = open_geolocator(args.geo_db or None)
    candidate = Geolocator([GeoDatabase(p) for p in args.new])
    try:
        stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot read {args.input}: {exc.strerror}") from exc
    with stream:
        report = geo_drift(
            load_policy_set(args.policy_dir), current, candidate, read_records(stream)
        )
    candidate.close()
    _emit(args, report.to_dict(), report.to_text)
    return EXIT_BAD_ROWS if report.skipped else EXIT_OK


def cmd_providers(args: argparse.Namespace) -> int:
    policies = load_policy_set(args.policy_dir)
    if args.action == "show":
        if not args.provider:
            raise UsageError("providers show needs a provider id")
        policy = policies.providers.get(args.provider) or next(
            (b for b in policies.baselines if b.id == args.provider), None
        )
        if policy is None:
            raise UsageError(
                f"unknown provider {args.provider!r}; known: " + ", ".join(policies.provider_ids())
            )
        _emit(args, policy.document, lambda: "\n".join(describe_policy(policy)))
        return EXIT_OK
    rows = [*policies.providers.values(), *policies.baselines]
    if args.json:
        _print_json(
            [
                {
                    "provider": p.id,
                    "display_name": p.display_name,
                    "kind": p.kind,
                    "mode": p.countries.mode,
                    "completeness": p.countries.completeness,
                    "entries": len(p.countries.entries),
                    "as_of": p.countries.provenance.as_of,
                }
                for p in rows
            ],
            sys.stdout,
        )
        return EXIT_OK
    print(f"policy version {policies.version}  ({policies.directory})")
    print(f"{'provider':<24}{'kind':<10}{'list':<11}{'completeness':<13}{'entries':>8}  as of")
    for p in sorted(rows, key=lambda p: (p.kind != "provider", p.id)):
        c = p.countries
        print(
            f"{p.id:<24}{p.kind:<10}{c.mode:<11}{c.completeness:<13}{len(c.entries):>8}  "
            f"{c.provenance.as_of}"
        )
    return EXIT_OK


def cmd_policy_validate(args: argparse.Namespace) -> int:
    policies = load_policy_set(args.directory or args.policy_dir)
    count = len(policies.providers) + len(policies.baselines)
    print(f"ok: {count} policies in {policies.directory} (version {policies.version})")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from regiongate.local.server import run

    template = Path(args.template)
    if not template.is_file():
        raise UsageError(
            f"no SAM template at {template} (run from the project folder, or pass --template)"
        )
    parameters = {}
    for item in args.parameter or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--parameter wants KEY=VALUE, got {item!r}")
        parameters[key] = value
    extra_env = {}
    if args.trusted_proxy_hops is not None:
        extra_env["REGIONGATE_TRUSTED_PROXY_HOPS"] = str(args.trusted_proxy_hops)
    if args.geo_db:
        extra_env["REGIONGATE_GEO_DATABASES"] = ",".join(args.geo_db)
    if args.policy_dir:
        extra_env["REGIONGATE_POLICY_DIR"] = args.policy_dir
    return run(
        template,
        Path(args.data_dir),
        args.host,
        args.port,
        parameters,
        extra_env,
        announce=lambda line: print(line, flush=True),
        upstream_timeout=args.upstream_timeout,
    )


def _trail(args: argparse.Namespace) -> Any:
    from regiongate.aws.trail import open_trail

    data_dir = args.data_dir
    if data_dir is None and not (args.table or args.journal):
        data_dir = ".regiongate"  # regiongate serve's default
    return open_trail(
        data_dir=data_dir,
        journal=args.journal,
        table=args.table,
        endpoint=args.endpoint,
        region=args.region,
    )


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from regiongate.audit import verify_chain
    from regiongate.aws.trail import disagreements

    sources = _trail(args).sources()
    failed = False
    for name, found in sources:
        chains = {args.partition: found.get(args.partition, [])} if args.partition else found
        links, broken = 0, []
        for partition, records in sorted(chains.items()):
            links += len(records)
            problem = verify_chain(partition, records)
            if problem is not None:
                broken.append(problem)
        for problem in broken:
            print(f"BROKEN {problem}")
        failed = failed or bool(broken)
        print(
            f"{'FAIL' if broken else 'ok'}: {len(chains)} chains, {links} links checked, "
            f"{len(broken)} broken" + (f"  ({name})" if len(sources) > 1 else "")
        )
    if len(sources) == 2:
        problems = disagreements(sources[0][1], sources[1][1])
        for difference in problems[:20]:
            print(f"DIFFERENT {difference}")
        failed = failed or bool(problems)
        print(
            f"{'FAIL' if problems else 'ok'}: journal and table "
            + (f"differ in {len(problems)} links" if problems else "agree link for link")
        )
    return EXIT_BAD_ROWS if failed else EXIT_OK


def cmd_audit_export(args: argparse.Namespace) -> int:
    sources = _trail(args).sources()
    chains = sources[-1][1]  # the table when there is one
    out = sys.stdout if args.output in (None, "-") else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    count = 0
    try:
        for records in chains.values():
            for record in records:
                if "duplicate_of" not in record:
                    out.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
                    out.write("\n")
                    count += 1
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"exported {count} decisions", file=sys.stderr)
    return EXIT_OK


def cmd_audit_query(args: argparse.Namespace) -> int:
    """Decisions by account and time, or by provider and day, from the table, as JSONL."""
    trail = _trail(args)
    if trail.store is None:
        raise UsageError(
            "audit query reads the table: name it with --table, or --data-dir of a running "
            "regiongate serve"
        )
    if bool(args.account) == bool(args.provider):
        raise UsageError("give --account (with --from/--to) or --provider with --day")
    if args.provider and not args.day:
        raise UsageError("--provider needs --day")
    token, count = None, 0
    while True:
        if args.account:
            records, token = trail.store.by_account(
                args.account, args.start, args.end, limit=100, token=token
            )
        else:
            records, token = trail.store.by_provider_day(
                args.provider, args.day, limit=100, token=token
            )
        for record in records:
            print(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
            count += 1
        if not token or (args.limit and count >= args.limit):
            break
    print(f"{count} decisions", file=sys.stderr)
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from regiongate.engine import Engine
    from regiongate.geo import open_geolocator
    from regiongate.replay import read_records, replay

    # Replay decides from recorded facts; the geolocator is never asked.
    engine = Engine(load_policy_set(args.policy), open_geolocator())
    fmt = batch.format_of(args.input, args.format, role="input")
    if fmt != "jsonl":
        try:
            from regiongate.columnar.files import read_records as read_columns
        except ImportError as exc:
            raise UsageError(f"{fmt} records need the 'batch' extra: {exc}") from exc
        report = replay(engine, read_columns(args.input, fmt))
    else:
        try:
            stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot read {args.input}: {exc.strerror}") from exc
        with stream:
            report = replay(engine, read_records(stream))
    _emit(args, report.to_dict(), report.to_text)
    return EXIT_BAD_ROWS if report.skipped else EXIT_OK


def _global_options(parser: argparse.ArgumentParser, default: Any) -> argparse.ArgumentParser:
    """--geo-db and --policy-dir, accepted before or after any command."""
    parser.add_argument(
        "--geo-db",
        action="append",
        metavar="PATH",
        default=default,
        help="MaxMind-format database to use (repeat to combine City, "
        "Anonymous IP and ASN); default: $REGIONGATE_GEO_DATABASES or the "
        "bundled database (DB-IP City Lite, reduced)",
    )
    parser.add_argument(
        "--policy-dir",
        metavar="DIR",
        default=default,
        help="policy directory; default: $REGIONGATE_POLICY_DIR or the bundled set",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regiongate",
        description="Decide whether a request to an AI model API may go through, given where "
        "it comes from and what each provider's terms allow.",
        epilog="Geo data: IP Geolocation by DB-IP (https://db-ip.com), CC-BY-4.0, unless "
        "--geo-db names other databases.",
    )
    _global_options(parser, default=None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "classify",
        help="decide one request, or a file of requests",
        description="Decide one request (--ip, --provider) or every request in a "
        "JSONL/CSV file (--input). Files have fields ip, provider and optionally "
        "account (or account_id/account_tier), model and time.",
    )
    p.add_argument("--ip", help="caller address (IPv4, IPv6, [v6]:port, v4:port, /32)")
    p.add_argument(
        "--provider",
        help="provider id (see 'regiongate providers'); with --input, "
        "the provider for rows that name none",
    )
    p.add_argument("--account-tier", help="account tier, e.g. enterprise")
    p.add_argument("--account-id", help="account id, recorded with the decision")
    p.add_argument("--model", help="model id, for providers with model rules (e.g. Bedrock)")
    facts = p.add_argument_group(
        "account facts",
        "who the customer is, for rules over ownership, contract, verification and end users "
        "(a rule that needs a fact not given answers review); batch rows carry them in "
        "'account' (or CSV columns account_country, parent_country, ...) and end_user_country",
    )
    facts.add_argument("--account-country", metavar="CC", help="country of incorporation/HQ")
    facts.add_argument("--parent-country", metavar="CC", help="ultimate parent's HQ country")
    facts.add_argument(
        "--parent-ownership", type=float, metavar="PERCENT", help="share the parent holds (0-100)"
    )
    facts.add_argument(
        "--verification", choices=("verified", "unverified", "pending"), help="organisation KYC"
    )
    facts.add_argument("--contract", help="contract or cloud, e.g. azure_china, azure_government")
    facts.add_argument("--end-user-country", metavar="CC", help="the end user's country")
    p.add_argument("--at", help="evaluate as of this date or ISO time (default: now)")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.add_argument(
        "--input", metavar="FILE", help="Parquet, CSV or JSONL file of requests ('-' = stdin)"
    )
    p.add_argument(
        "--output",
        metavar="FILE",
        default="-",
        help="where --input decisions go: .parquet, .csv, or .jsonl/.ndjson/.json or no "
        "extension for JSON lines (default: stdout, JSONL); any other name is refused",
    )
    p.add_argument(
        "--format",
        choices=("auto", "jsonl", "csv", "parquet"),
        default="auto",
        help="input format (default: by file extension; stdin is JSONL)",
    )
    p.add_argument(
        "--output-format",
        choices=("auto", "jsonl", "csv", "parquet"),
        default="auto",
        help="output format (default: by file extension; stdout is JSONL)",
    )
    p.add_argument(
        "--log-format",
        choices=("apigateway", "alb", "cloudfront"),
        help="--input is a log: API Gateway access log (JSON), ALB access log or CloudFront "
        "standard log (.gz read as is); client address and time come from the log",
    )
    p.add_argument(
        "--provider-field",
        metavar="NAME",
        help="with --log-format apigateway: the log field that names the provider",
    )
    p.add_argument(
        "--provider-pattern",
        metavar="REGEX",
        help="with --log-format: a regular expression with a (?P<provider>...) group, matched "
        "against the request path, e.g. '^/proxy/(?P<provider>[^/]+)/'",
    )
    p.add_argument(
        "--row-by-row",
        action="store_true",
        help="decide each row on its own with the per-request engine (JSONL/CSV in, JSONL "
        "out) instead of the columnar engine: same decisions, slower; for comparison",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--full",
        action="store_true",
        help="with --input, write full decisions (citations, alternatives' reasons) instead "
        "of compact records (implies --row-by-row)",
    )
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser(
        "geo",
        help="geolocate addresses; 'geo info': the databases in use; 'geo drift': what a new "
        "database would change",
        description="regiongate geo IP [IP ...] locates addresses with the evidence. "
        "regiongate geo info lists the databases in use, their types, build dates and age "
        "(warning past --max-age-days). regiongate geo drift --new NEW.mmdb --input "
        "decisions.jsonl re-decides a journal or export with the current and the new data and "
        "reports what would flip (provider x country x old -> new, with example ids).",
    )
    p.add_argument("ips", nargs="+", metavar="IP", help="addresses, or 'info', or 'drift'")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--max-age-days",
        type=int,
        default=None,
        metavar="N",
        help="info: warn about databases built more than N days ago "
        "(default: $REGIONGATE_GEO_MAX_AGE_DAYS or 45)",
    )
    p.add_argument(
        "--new", action="append", metavar="PATH", help="drift: the candidate database(s)"
    )
    p.add_argument("--input", metavar="FILE", help="drift: decision journal or export (JSONL)")
    p.set_defaults(func=cmd_geo)

    p = sub.add_parser(
        "providers",
        help="list providers, or show one provider's policy",
        description="regiongate providers [list] lists every provider and baseline; "
        "regiongate providers show PROVIDER prints one policy with its sources and dates.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_providers, action="list", provider=None)
    psub = p.add_subparsers(dest="action", metavar="ACTION")
    for name, text in (
        ("list", "every provider and baseline: list mode, completeness, entries, as of"),
        ("show", "one provider's policy with its sources, dates and conditions"),
    ):
        a = psub.add_parser(name, help=text, description=text)
        if name == "show":
            a.add_argument("provider", help="provider id, e.g. openai (see 'providers list')")
        a.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")

    p = sub.add_parser(
        "serve",
        help="run the whole service locally (HTTP API, functions, bus, queues, table)",
        description="Serve the API from template.yaml's routes on this machine, with AWS "
        "emulated by moto on loopback. Decisions persist in --data-dir across restarts.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=3000, help="port (default 3000; 0 picks one)")
    p.add_argument(
        "--data-dir",
        default=".regiongate",
        help="where decisions and the IP hash key are kept (default .regiongate)",
    )
    p.add_argument(
        "--template", default="template.yaml", help="SAM template (default ./template.yaml)"
    )
    p.add_argument(
        "--trusted-proxy-hops",
        type=int,
        metavar="N",
        help="believe the last N X-Forwarded-For entries (for local testing with "
        "curl -H 'x-forwarded-for: IP'); default: the template's setting",
    )
    p.add_argument(
        "--parameter",
        action="append",
        metavar="KEY=VALUE",
        help="override a template parameter (repeatable), e.g. "
        "OpenAiUpstreamUrl=https://api.openai.com to put the gate in front of OpenAI",
    )
    p.add_argument(
        "--upstream-timeout",
        type=float,
        default=29.0,
        metavar="SECONDS",
        help="how long the gate waits for a provider to answer (default 29, API Gateway's); "
        "longer is a 504",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "audit",
        help="verify, export or query the audit trail",
        description="Read the audit trail from a regiongate serve data directory (its journal, "
        "and its emulator's table while it runs; the default is .regiongate), a journal file, "
        "or a DynamoDB table.",
    )
    asub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    for name, func, text in (
        (
            "verify",
            cmd_audit_verify,
            "check every hash chain and name the first broken link; with a journal and a "
            "table, also check that they agree link for link",
        ),
        ("export", cmd_audit_export, "write every stored decision record as JSONL"),
        (
            "query",
            cmd_audit_query,
            "an account's decisions over a time range, or a provider's of one day, as JSONL",
        ),
    ):
        a = asub.add_parser(name, help=text, description=text)
        a.add_argument("--data-dir", help="regiongate serve's data directory (default .regiongate)")
        a.add_argument("--table", help="DynamoDB audit table (AuditTableName output)")
        a.add_argument("--endpoint", help="with --table: an emulator's URL")
        a.add_argument("--region", help="with --table: the AWS region")
        a.add_argument("--journal", help="a local journal, e.g. .regiongate/audit-journal.jsonl")
        if name == "verify":
            a.add_argument("--partition", help="check one chain, e.g. account#acct-1#2026-11-21")
        elif name == "query":
            a.add_argument("--account", help="an account id")
            a.add_argument("--from", dest="start", default="0000", help="date or ISO 8601 time")
            a.add_argument("--to", dest="end", default="9999", help="date or time (exclusive)")
            a.add_argument("--provider", help="a provider id (with --day)")
            a.add_argument("--day", help="a UTC day, YYYY-MM-DD")
            a.add_argument("--limit", type=int, default=0, help="at most this many (0: all)")
        else:
            a.add_argument("--output", default="-", help="file to write (default: stdout)")
        a.set_defaults(func=func)

    p = sub.add_parser(
        "replay",
        help="re-decide recorded decisions under a candidate policy; report what flips",
        description="Re-decide every record of --input (JSONL, e.g. from 'audit export') under "
        "the policies in --policy, each as of its own evaluation time, from its recorded facts. "
        "Reports counts by provider x country x old -> new outcome, with example decision ids.",
    )
    p.add_argument("--policy", required=True, metavar="DIR", help="candidate policy directory")
    p.add_argument(
        "--input",
        required=True,
        metavar="FILE",
        help="decision records: JSONL (e.g. from 'audit export'), or the Parquet or CSV "
        "that 'classify --input' writes",
    )
    p.add_argument(
        "--format",
        choices=("auto", "jsonl", "csv", "parquet"),
        default="auto",
        help="records format (default: by file extension; stdin is JSONL)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("policy", help="work with policy files")
    psub = p.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    v = psub.add_parser("validate", help="check a policy directory against the schema")
    v.add_argument("directory", nargs="?", help="default: the configured policy directory")
    v.set_defaults(func=cmd_policy_validate)

    # The global options after any command too; their defaults suppressed there, so that an
    # option given before the command is not reset by the command's parser.
    for command in _commands(parser):
        _global_options(command, default=argparse.SUPPRESS)
    return parser


def _commands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every command's parser below ``parser``, nested ones included."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):
                found += [command, *_commands(command)]
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (UsageError, batch.InputError) as exc:
        print(f"regiongate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (GeoDatabaseError, PolicyError) as exc:
        print(f"regiongate: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except RegiongateError as exc:
        print(f"regiongate: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        print("regiongate: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
