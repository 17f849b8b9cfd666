"""Cold start: a fresh process imports each function and answers its first event.

Each figure is the best of several fresh processes, from interpreter start to the first
answer, reported as a ratio to a process that only does ``import boto3;
boto3.client("events")`` (target <= 1.5x). Beside it: the process's CPU time (the steadier
figure on a shared machine) and its own peak memory, ``VmHWM`` read from /proc/self/status at
the end of the first invocation (target: fits the 128 MB a Lambda can be given; the kernel
resets it at exec, unlike ``ru_maxrss``, which would report the bench's own size). AWS is a moto
server on loopback, built from template.yaml.

Run: ``.venv/bin/python bench/coldstart.py [--runs 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import time
started = time.perf_counter()
import json, sys
mode, path, event_file = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "baseline":
    import boto3
    boto3.client("events")
else:
    import importlib.util
    spec = importlib.util.spec_from_file_location("app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    class Context:
        function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = 128
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
        aws_request_id = "bench"
        def get_remaining_time_in_millis(self): return 10000
    answer = module.lambda_handler(json.load(open(event_file)), Context())
    assert answer, "no answer"
elapsed = time.perf_counter() - started
cpu = time.process_time()
with open("/proc/self/status") as status:
    hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"seconds": elapsed, "cpu": cpu, "peak_mb": hwm_kb / 1024}))
"""

FUNCTIONS = {
    "GeolocateFunction": "geolocate-ip-cn",
    "RulesFunction": "rules-eligibility-cn-openai",
    "ClassifyFunction": "classify-cn-openai",
    "AuthorizeFunction": "authorize-hk-anthropic",
    "AuditFunction": "audit-sqs-batch",
}


def run_child(env: dict[str, str], mode: str, path: str, event: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, path, event],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if out.returncode:
        raise RuntimeError(f"{mode} {path} failed:\n{out.stderr[-2000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    base_env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(
        {
            k: base_env[k]
            for k in (
                "AWS_ENDPOINT_URL",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION",
            )
        }
    )
    from regiongate.local.provision import provision
    from regiongate.local.runtime import local_overrides
    from regiongate.local.template import Template

    template = Template.load(ROOT / "template.yaml")
    provision(template)
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as data:
        # A deployed layer ships bytecode (see layers/regiongate/Makefile) and so does the
        # runtime's boto3; here a warm-up round writes it for everything the children import
        # (into a cache of this run's own, even where PYTHONDONTWRITEBYTECODE is set).
        base_env.pop("PYTHONDONTWRITEBYTECODE", None)
        base_env["PYTHONPYCACHEPREFIX"] = str(Path(data) / "pycache")
        children: dict[str, tuple[dict[str, str], str, str, str]] = {
            "baseline": (base_env, "baseline", "-", "-")
        }
        for logical_id, event in FUNCTIONS.items():
            env = {**base_env, **template.environment(logical_id), **local_overrides(Path(data))}
            env["POWERTOOLS_METRICS_NAMESPACE"] = "bench"
            path = str(template.handler_file(logical_id))
            children[logical_id] = (env, "function", path, str(ROOT / "events" / f"{event}.json"))
        # Rounds interleave every contender, so a slow spell of a shared machine lands on all
        # of them rather than on whichever happened to run then.
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in children}
        for child in children.values():
            run_child(*child)
        for _ in range(args.runs):
            for name, child in children.items():
                runs[name].append(run_child(*child))
        base_runs = runs.pop("baseline")
        baseline = min(r["seconds"] for r in base_runs)
        base_cpu = min(r["cpu"] for r in base_runs)
        base_peak = max(r["peak_mb"] for r in base_runs)
        print(f"\n== cold start: fresh process to first answer, best of {args.runs} rounds ==")
        print(f"  {'':<36}{'wall':>8}  {'ratio':>6} {'cpu':>8}  {'ratio':>6}  {'VmHWM':>8}")
        label = 'import boto3; boto3.client("events")'
        print(
            f"  {label:<36}{baseline * 1000:6.0f} ms  {1:5.2f}x "
            f"{base_cpu * 1000:6.0f} ms  {1:5.2f}x  {base_peak:5.1f} MB"
        )
        for logical_id, results in runs.items():
            best = min(r["seconds"] for r in results)
            cpu = min(r["cpu"] for r in results)
            peak = max(r["peak_mb"] for r in results)
            ratios[logical_id] = best / baseline
            verdict = "ok" if best / baseline <= 1.5 else "over target"
            print(
                f"  {logical_id:<36}{best * 1000:6.0f} ms  {best / baseline:5.2f}x "
                f"{cpu * 1000:6.0f} ms  {cpu / base_cpu:5.2f}x  {peak:5.1f} MB  "
                f"{'fits' if peak < 128 else 'exceeds'} 128 MB, {verdict}"
            )
    server.stop()
    return ratios


if __name__ == "__main__":
    main()
