"""Run a real ``regiongate serve`` subprocess on a free loopback port (tests and bench)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class Server:
    def __init__(self, data_dir: Path, args: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = args or []
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.banner: list[str] = []

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for key in [k for k in env if k.startswith(("AWS_", "REGIONGATE_"))]:
            env.pop(key)
        # A shell that starts jobs in the background (CI runners, `cmd &`) hands its children
        # SIGINT ignored, and an ignored signal stays ignored across exec; stop() sends Ctrl-C,
        # so the server is started with Python's own handler in place (reset to the default
        # at exec).
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self.process = self._spawn(env)
        finally:
            signal.signal(signal.SIGINT, previous)
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("serve exited early:\n" + "".join(self.banner))
            self.banner.append(line)
            if "regiongate serving" in line:
                self.url = line.split()[2]
            if line.strip().startswith("try"):
                return
        raise RuntimeError("serve did not start in 60 s")

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "regiongate.cli",
                "serve",
                "--port",
                "0",
                "--trusted-proxy-hops",
                "1",
                "--data-dir",
                str(self.data_dir),
                *self.args,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def stop(self, timeout: float = 60) -> str:
        """Ctrl-C, as a person would; returns what the server printed while stopping."""
        assert self.process is not None and self.process.stdout is not None
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, out
        return out

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()

    def classify(self, ip: str, provider: str, **extra: Any) -> tuple[int, Any]:
        return self.request(
            "POST",
            "/v1/classify",
            json.dumps({"provider": provider, **extra}).encode(),
            {"x-forwarded-for": ip, "content-type": "application/json"},
        )
