"""A real `hanlin serve` process for tests: start it on a free port, run the CLI against it, stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

FAST_MODEL = "qwen2.5-coder-0.5b-instruct"
MODEL_CACHE = Path(os.environ.get("HANLIN_MODELS_DIR", Path.home() / ".cache" / "hanlin" / "models"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    url: str  # http://127.0.0.1:PORT
    home: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def cli(self, *args: str, timeout: float = 600, input: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the `hanlin` CLI with this server's environment (same HANLIN_HOME and model), plus ``env``."""
        return subprocess.run([sys.executable, "-m", "hanlin.cli.main", *args], env={**self.env, **(env or {})},
                              text=True, capture_output=True, timeout=timeout, input=input)


def hanlin_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "HANLIN_HOME": str(home),
        "HANLIN_MODELS_DIR": str(MODEL_CACHE),
        "HANLIN_MODEL": FAST_MODEL,
        "HANLIN_THREADS": os.environ.get("HANLIN_THREADS", "2"),
        "HANLIN_PARALLEL": "4",
        "HANLIN_CTX_PER_SLOT": "4096",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def start_server(home: Path, port: int | None = None, extra_args: tuple[str, ...] = (),
                 **env_extra: str) -> RunningServer:
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = hanlin_env(home, **env_extra)
    log = home / f"server-{port}.log"
    proc = subprocess.Popen([sys.executable, "-m", "hanlin.cli.main", "serve", "--port", str(port), *extra_args],
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 600
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hanlin serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return RunningServer(url, home, env, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"hanlin serve did not come up:\n{log.read_text()[-3000:]}")


def stop_server(srv: RunningServer) -> None:
    srv.proc.terminate()
    try:
        srv.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
