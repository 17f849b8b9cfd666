"""``regiongate serve`` end to end: real HTTP, real handlers, moto, restart, nothing lost."""

from __future__ import annotations

import time

from serving import Server


def test_serve_decides_records_rejects_bad_input_and_keeps_decisions_across_a_restart(
    server: Server,
) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    banner = "".join(server.banner)
    assert "policy sha256:" in banner and "dbip-city-lite-regiongate.mmdb" in banner

    acknowledged = {}
    for ip, country, outcome in [
        ("1.2.4.8", "CN", "reroute"),
        ("223.255.128.1", "HK", "reroute"),
        ("8.8.8.8", "US", "review"),  # Anthropic's ownership rule: no account facts given
    ]:
        status, body = server.classify(ip, "anthropic", account={"id": "acct-1"})
        assert status == 200, body
        assert (body["geo"]["country"], body["outcome"]) == (country, outcome)
        assert body["client"]["method"] == "x-forwarded-for[-1]"
        acknowledged[body["decision_id"]] = outcome

    status, body = server.request(
        "POST", "/v1/classify", b'{"provider": "openai",', {"content-type": "application/json"}
    )
    assert (status, body["error"]["code"]) == (400, "malformed_json")
    status, body = server.request(
        "POST", "/v1/classify", b'{"provider": "openai", "model": "' + b"x" * 20_000 + b'"}'
    )
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    status, body = server.request("GET", "/v1/nowhere")
    assert (status, body["error"]["code"]) == (404, "route_not_found")
    status, body = server.classify("8.8.8.8", "skynet")
    assert (status, body["error"]["code"]) == (404, "unknown_provider")
    status, body = server.request("GET", "/v1/geo/1.2.4.8")
    assert (status, body["country"]) == (200, "CN")
    status, body = server.request("GET", "/v1/providers/openai/eligibility?country=HK")
    assert (status, body["allowed"]) == (200, False)
    status, page = server.request("GET", "/")
    assert status == 200 and "<title>regiongate" in page

    # Stop at once: whatever is still queued is drained before the process exits.
    stopped = server.stop()
    assert "stopped; 3 decisions on record" in stopped

    server.start()
    assert "(3 decisions on record)" in "".join(server.banner)
    for decision_id, outcome in acknowledged.items():
        status, body = server.request("GET", f"/v1/decisions/{decision_id}")
        assert status == 200, body
        assert body["outcome"] == outcome
        assert "ip" not in body and body["client_network"]
    status, body = server.request("GET", "/v1/decisions?account=acct-1")
    assert status == 200
    assert {d["decision_id"] for d in body["decisions"]} == set(acknowledged)
    # Chain links continue across the restart.
    status, body = server.classify("8.8.4.4", "anthropic", account={"id": "acct-1"})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, stored = server.request("GET", f"/v1/decisions/{body['decision_id']}")
        if status == 200:
            break
        time.sleep(0.2)
    assert stored["sequence"] == 4
    server.stop()
