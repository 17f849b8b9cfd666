"""Fixtures: a real ``regiongate serve`` subprocess; the gate in front of a fake provider."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from serving import Server
from upstream import UPSTREAM_PARAMETERS, FakeUpstream


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    instance = Server(tmp_path / "data")
    # Start it as a CI shell's background job would be started: with SIGINT ignored, which
    # children inherit. Server.stop() sends Ctrl-C and must still stop it.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        instance.start()
    finally:
        signal.signal(signal.SIGINT, previous)
    yield instance
    if instance.process and instance.process.poll() is None:
        # SIGTERM first: serve stops its moto child too (a SIGKILL would orphan it).
        instance.process.terminate()
        try:
            instance.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            instance.process.kill()
            instance.process.wait()


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    """A fake provider API on loopback that counts hits per provider."""
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture(scope="session")
def gate(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``regiongate serve`` with every provider's upstream on the fake, but Gemini's, which is
    down (a loopback port nobody listens on); providers answer within 1 s or it is a 504."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    # Loopback is also the trusted gateway that states who the customer is (account facts).
    args = ["--upstream-timeout", "1", "--parameter", "TrustedGatewayCidrs=127.0.0.1/32"]
    for provider, parameter in UPSTREAM_PARAMETERS.items():
        url = upstream.base(provider)
        if provider == "google_gemini":
            url = f"http://127.0.0.1:{dead_port}/google_gemini"
        args += ["--parameter", f"{parameter}={url}"]
    server = Server(tmp_path_factory.mktemp("gate") / "data", args)
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.stop()
