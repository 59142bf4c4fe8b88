"""Helpers for the loopback cluster: stub OpenAI upstreams and Hanlin nodes as subprocesses on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.server import RunningServer, free_port, start_server

STUB = Path(__file__).with_name("stub_upstream.py")


@dataclass
class Stub:
    name: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=5).json()  # type: ignore[no-any-return]

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def start_stub(name: str, *, tokens: int = 8, token_delay: float = 0.0, ttft: float = 0.0,
               model: str = "stub-model") -> Stub:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(STUB), "--port", str(port), "--name", name, "--model", model,
                             "--tokens", str(tokens), "--token-delay", str(token_delay), "--ttft", str(ttft)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"stub {name} exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return Stub(name, port, proc)
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"stub {name} did not come up")


def write_config(path: Path, pools: dict[str, list[dict[str, Any]]], **pool_opts: Any) -> Path:
    path.write_text(yaml.safe_dump({"pools": [{"name": name, **pool_opts, "members": members}
                                              for name, members in pools.items()]}), encoding="utf-8")
    return path


def start_node(home: Path, config: Path, model: str, **env: str) -> RunningServer:
    """`hanlin serve --config` with no local model: every model it serves is a pool."""
    return start_server(home, extra_args=("--config", str(config)), HANLIN_MODEL=model, **env)


@dataclass
class StreamResult:
    status: int
    text: str = ""
    tokens: int = 0  # content chunks received
    tokens_before_error: int | None = None  # set when an SSE error event arrived
    error: dict[str, Any] | None = None
    done: bool = False
    finish_reason: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


async def stream_chat(client: httpx.AsyncClient, url: str, model: str, on_token: Any = None,
                      **extra: Any) -> StreamResult:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "你好"}], **extra}
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as resp:
        res = StreamResult(resp.status_code)
        if resp.status_code != 200:
            res.error = json.loads(await resp.aread()).get("error")
            return res
        async for line in _data_lines(resp.aiter_lines()):
            if line == "[DONE]":
                res.done = True
                break
            ev = json.loads(line)
            if ev.get("error"):
                res.error, res.tokens_before_error = ev["error"], res.tokens
                continue
            for c in ev.get("choices") or []:
                piece = (c.get("delta") or {}).get("content")
                if piece:
                    res.text += piece
                    res.tokens += 1
                    if on_token:
                        on_token(res)
                res.finish_reason = c.get("finish_reason") or res.finish_reason
    return res


async def _data_lines(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    async for line in lines:
        if line.startswith("data:"):
            yield line[5:].strip()
