"""classify --log-format: API Gateway, ALB and CloudFront logs in their own formats.

The samples are written here in each service's documented layout (not copied from real logs).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from regiongate.cli import main

PATTERN = "^/proxy/(?P<provider>[^/]+)/"


def _apigateway_line(ip: str, epoch_ms: int, path: str, **extra: str) -> str:
    fields = {
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "sourceIp": ip,
        "requestTime": "23/Nov/2026:16:00:00 +0000",
        "requestTimeEpoch": epoch_ms,
        "httpMethod": "POST",
        "routeKey": "ANY /proxy/{provider}/{proxy+}",
        "path": path,
        "status": "200",
        "protocol": "HTTP/1.1",
        "responseLength": "512",
        **extra,
    }
    return json.dumps(fields)


def _alb_line(client: str, time: str, url: str) -> str:
    return (
        f"https {time} app/regiongate-lb/50dc6c495c0c9188 {client} 10.0.1.7:8080 0.000 0.052 "
        f'0.000 200 200 412 1024 "POST {url} HTTP/1.1" "python-httpx/0.28" '
        "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 "
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/gate/73e2d6bc24d8a067 "
        '"Root=1-67891233-abcdef012345678912345678" "api.example.com" '
        '"arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012" '
        f'0 {time} "forward" "-" "-" "10.0.1.7:8080" "200" "-" "-" TID_1234abcd'
    )


CLOUDFRONT_FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id "
    "x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher "
    "x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port "
    "time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end"
)


def _cloudfront_line(date: str, time: str, ip: str, path: str) -> str:
    values = [date, time, "HKG62-C1", "2291", ip, "POST", "d111111abcdef8.cloudfront.net", path,
              "200", "-", "python-httpx/0.28", "-", "-", "Miss",
              "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==", "api.example.com",
              "https", "412", "0.052", "-", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "Miss",
              "HTTP/2.0", "-", "-", "51234", "0.050", "Miss", "application/json", "1024", "-",
              "-"]  # fmt: skip
    return "\t".join(values)


def _classify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict], str]:  # type: ignore[type-arg]
    output = Path(argv[argv.index("--input") + 1]).with_suffix(".out.jsonl")
    code = main(["classify", "--quiet", *argv, "--output", str(output)])
    _, err = capsys.readouterr()
    records = [json.loads(line) for line in output.read_text().splitlines()]
    return code, records, err


def test_api_gateway_json_access_log_with_the_provider_from_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "access.log"
    source.write_text(
        "\n".join(
            [
                _apigateway_line("1.2.4.8", 1_795_449_600_000, "/proxy/openai/v1/chat/completions"),
                _apigateway_line("8.8.8.8", 1_720_000_000_000, "/proxy/anthropic/v1/messages"),
                "{not json",
                _apigateway_line("8.8.8.8", 1_795_449_600_000, "/v1/geo"),
                json.dumps({"requestTimeEpoch": 1}),
            ]
        )
        + "\n"
    )
    code, records, err = _classify(
        capsys, "--input", str(source), "--log-format", "apigateway", "--provider-pattern", PATTERN
    )
    assert code == 1
    assert [(r["ip"], r["provider"], r["outcome"]) for r in records] == [
        ("1.2.4.8", "openai", "reroute"),
        ("8.8.8.8", "anthropic", "allow"),
    ]
    assert records[0]["evaluated_at"] == "2026-11-23T16:00:00.000Z"
    assert records[1]["evaluated_at"] == "2024-07-03T09:46:40.000Z"
    assert "line 3: invalid JSON" in err
    assert "line 4: missing field 'provider'" in err
    assert "line 5: no client address (sourceIp)" in err


def test_api_gateway_log_with_the_provider_in_a_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "access.jsonl"
    source.write_text(
        _apigateway_line("1.2.4.8", 1_795_449_600_000, "/x", upstream="openai") + "\n"
    )
    code, records, _ = _classify(
        capsys, "--input", str(source), "--log-format", "apigateway", "--provider-field", "upstream"
    )
    assert code == 0
    assert records[0]["provider"] == "openai"


def test_alb_access_log_gzipped_with_ipv6_clients_and_a_malformed_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "alb.log.gz"
    lines = [
        _alb_line("1.2.4.8:52311", "2026-11-23T16:00:01.123456Z",
                  "https://api.example.com:443/proxy/openai/v1/chat/completions"),
        _alb_line("[2001:da8::1]:40000", "2024-07-01T00:00:00.000000Z",
                  "https://api.example.com:443/proxy/openai/v1/responses"),
        "https 2026-11-23T16:00:02Z app/lb only-four-fields",
        _alb_line("223.255.128.1:1", "2026-11-23T16:00:03.000000Z",
                  "https://api.example.com:443/proxy/anthropic/v1/messages"),
    ]  # fmt: skip
    source.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    code, records, err = _classify(
        capsys, "--input", str(source), "--log-format", "alb", "--provider-pattern", PATTERN
    )
    assert code == 1
    assert [(r["ip"], r["provider"], r["geo"]["country"], r["outcome"]) for r in records] == [
        ("1.2.4.8", "openai", "CN", "reroute"),
        ("2001:da8::1", "openai", "CN", "review"),  # before OpenAI's enforcement date
        ("223.255.128.1", "anthropic", "HK", "reroute"),
    ]
    assert records[0]["evaluated_at"] == "2026-11-23T16:00:01.000Z"
    assert "line 3: not an ALB log line" in err


def test_cloudfront_standard_log_with_its_header_and_a_short_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "E2EXAMPLE.2026-11-23-16.a1b2c3d4"
    source.write_text(
        "#Version: 1.0\n"
        f"#Fields: {CLOUDFRONT_FIELDS}\n"
        + _cloudfront_line(
            "2026-11-23", "16:00:00", "223.255.128.1", "/proxy/anthropic/v1/messages"
        )
        + "\n2026-11-23\t16:00:01\tHKG62-C1\n"
        + _cloudfront_line("2026-11-23", "16:00:02", "8.8.8.8", "/proxy/openai/v1/responses")
        + "\n"
    )
    code, records, err = _classify(
        capsys, "--input", str(source), "--log-format", "cloudfront",
        "--provider-pattern", PATTERN,
    )  # fmt: skip
    assert code == 1
    assert [(r["ip"], r["outcome"]) for r in records] == [
        ("223.255.128.1", "reroute"),
        ("8.8.8.8", "allow"),
    ]
    assert "line 4: 3 fields, the #Fields: header names 33" in err


def test_a_provider_pattern_without_a_provider_group_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "access.log"
    source.write_text(_apigateway_line("1.2.4.8", 1, "/proxy/openai/") + "\n")
    code = main(["classify", "--input", str(source), "--log-format", "apigateway",
                 "--provider-pattern", "/proxy/([^/]+)/"])  # fmt: skip
    assert code == 2
    assert "(?P<provider>" in capsys.readouterr().err
