"""``regiongate serve``'s HTTP layer over a real socket: methods, encodings, a busy port."""

from __future__ import annotations

import urllib.request

from serving import Server


def test_percent_encoded_path_parameters_are_decoded_as_api_gateway_does(gate: Server) -> None:
    status, body = gate.request("GET", "/v1/geo/%5B2001:da8::1%5D:443")
    assert (status, body.get("country")) == (200, "CN"), body


def test_head_is_get_without_a_body_on_function_routes(gate: Server) -> None:
    request = urllib.request.Request(f"{gate.url}/v1/providers", method="HEAD")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and response.read() == b""
        assert int(response.headers["Content-Length"]) > 0


def test_options_lists_the_methods_and_trace_is_a_json_405(gate: Server) -> None:
    request = urllib.request.Request(f"{gate.url}/v1/classify", method="OPTIONS")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204 and response.headers["Allow"] == "POST, OPTIONS"
    status, body = gate.request("TRACE", "/v1/classify")
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")


def test_an_unknown_route_is_route_not_found_with_the_envelope(gate: Server) -> None:
    status, body = gate.request("GET", "/v2/nothing")
    assert (status, body["error"]["code"]) == (404, "route_not_found")
