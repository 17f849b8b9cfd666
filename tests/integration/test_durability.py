"""``regiongate serve`` under load and abuse: nothing answered is lost, no emulator is left.

- kill -9 of the server (or of its emulator) mid-load, then a restart: every decision
  answered 200 is readable, once, and every chain verifies in the journal and the table;
- however serve ends — SIGINT (also when its parent ignores SIGINT), SIGTERM, SIGKILL, a
  busy port — no emulator process outlives it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from serving import Load, Server

pytestmark = pytest.mark.slow


def _wait_for(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _answered_then_killed(server: Server, victim: str) -> list[str]:
    load = Load(server.url, clients=12, accounts=3).start()
    _wait_for(lambda: len(load.answered) >= 60)
    [emulator] = server.emulators()
    assert server.process is not None
    os.kill(server.process.pid if victim == "server" else emulator, signal.SIGKILL)
    server.wait()
    load.stop()
    assert server.wait_for_emulators_to_end() == []
    return list(load.answered)


@pytest.mark.parametrize("victim", ["server", "emulator"])
def test_kill_9_mid_load_then_restart_every_answered_decision_is_on_record(
    server: Server, victim: str
) -> None:
    answered = _answered_then_killed(server, victim)
    assert len(answered) == len(set(answered)) >= 60

    server.start()
    for decision_id in answered:
        status, body = server.request("GET", f"/v1/decisions/{decision_id}")
        assert status == 200, (decision_id, body)
        assert body["decision_id"] == decision_id
    verified = server.audit("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "journal and table agree link for link" in verified.stdout
    exported = server.audit("export").stdout.splitlines()
    ids = [json.loads(line)["decision_id"] for line in exported]
    assert len(ids) == len(set(ids))  # stored once each
    assert set(answered) <= set(ids)
    server.stop()
    assert server.wait_for_emulators_to_end() == []


@pytest.mark.parametrize(
    ("how", "inherited"),
    [
        ("SIGINT", signal.SIG_DFL),
        ("SIGINT", signal.SIG_IGN),  # a shell's background job: serve must still stop
        ("SIGTERM", signal.SIG_DFL),
        ("SIGKILL", signal.SIG_DFL),
    ],
)
def test_no_emulator_outlives_serve_however_it_ends(
    tmp_path: Path, how: str, inherited: signal.Handlers
) -> None:
    server = Server(tmp_path / "data")
    server.start(sigint=inherited)
    try:
        assert len(server.emulators()) == 1
        status, _ = server.classify("8.8.8.8", "anthropic", account={"id": "acct-end"})
        assert status == 200
        assert server.process is not None
        server.process.send_signal(getattr(signal, how))
        out = server.wait()
        if how != "SIGKILL":
            assert server.process.returncode == 0, out
            assert "stopped; 1 decision on record" in out
        assert server.wait_for_emulators_to_end() == []
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.kill()


def test_a_busy_port_fails_in_one_line_and_starts_no_emulator(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Server(tmp_path / "data")
        server.start(port=port, ready=False)
        assert server.process is not None
        out = server.wait()
    assert server.process.returncode == 2
    assert out.strip() == f"regiongate serve: 127.0.0.1:{port} is in use; choose another --port"
    assert "Traceback" not in out
    assert server.emulators() == []


@pytest.mark.parametrize("accounts", [1, 20])
def test_concurrent_clients_every_answer_stored_once_and_chains_verify(
    server: Server, accounts: int
) -> None:
    """The bench's load run (bench/load.py, 200 clients), bounded: 20 clients x 4."""
    load = Load(server.url, clients=20, accounts=accounts, requests=4).start()
    load.join()
    assert load.statuses == {200: 80}
    _wait_for(lambda: server.request("GET", "/_local/stats")[1]["stored"] >= 80, 300)
    verified = server.audit("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "journal and table agree link for link" in verified.stdout
    exported = [
        json.loads(line)["decision_id"] for line in server.audit("export").stdout.splitlines()
    ]
    assert sorted(exported) == sorted(load.answered)
    assert "stopped; 80 decisions on record" in server.stop()


def test_decisions_sent_to_review_are_written_to_the_review_queue_file(server: Server) -> None:
    status, body = server.classify("10.1.2.3", "openai")  # not routable: review
    assert (status, body["outcome"]) == (200, "review")
    path = server.data_dir / "review-queue.jsonl"
    _wait_for(lambda: path.exists() and body["decision_id"] in path.read_text())
    [line] = [json.loads(x) for x in path.read_text().splitlines()]
    assert line["detail"]["record"]["decision_id"] == body["decision_id"]
    server.stop()
