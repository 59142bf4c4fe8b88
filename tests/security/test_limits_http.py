"""Issue 15 items 8 and 9: request bodies are counted as they stream (chunked bodies too); /metrics is for admins
and the metrics token only."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.support.platform_auth import ADMIN_KEY
from tests.support.tenants import TwoTenants, two_tenants

METRICS_TOKEN = "scraper-token-0123456789abcdef"


@pytest.fixture
def tenants(tmp_path: Path) -> Iterator[TwoTenants]:
    yield from two_tenants(tmp_path, max_upload_mb=1, metrics_token=METRICS_TOKEN)


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    yield b'{"messages": [{"role": "user", "content": "'
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}]}'


def test_chunked_body_over_the_limit_is_refused(tenants: TwoTenants) -> None:
    r = tenants.client.post("/v1/chat/completions", content=_chunks(2 * 1024 * 1024),
                            headers={**tenants.a, "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert "HANLIN_MAX_UPLOAD_MB" in r.json()["error"]["message"]
    ok = tenants.client.post("/v1/chat/completions", content=_chunks(100 * 1024),
                             headers={**tenants.a, "Content-Type": "application/json"})
    assert ok.status_code == 200, ok.text  # under the limit, chunked is fine


def test_metrics_need_an_admin_key_or_the_metrics_token(tenants: TwoTenants) -> None:
    c = tenants.client
    assert c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]},
                  headers=tenants.a).status_code == 200
    assert c.get("/metrics", headers=tenants.b).status_code == 403
    assert c.get("/metrics").status_code == 401
    assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    for headers in ({"Authorization": f"Bearer {ADMIN_KEY}"}, {"Authorization": f"Bearer {METRICS_TOKEN}"}):
        r = c.get("/metrics", headers=headers)
        assert r.status_code == 200 and "hanlin_requests_total" in r.text


@pytest.mark.e2e
def test_chunked_60mb_body_to_the_real_server(server: Any) -> None:
    """Real uvicorn hands the body over in many small messages; 60 MB sent chunked (no Content-Length) → 413."""
    url = urlparse(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    conn.putrequest("POST", "/v1/embeddings")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    block = b"x" * (1024 * 1024)
    try:
        for part in [b'{"input": "', *([block] * 60), b'"}']:
            conn.send(b"%x\r\n%s\r\n" % (len(part), part))
        conn.send(b"0\r\n\r\n")
    except OSError:  # the server answered and closed while we were still sending
        pass
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 413, body
    assert "HANLIN_MAX_UPLOAD_MB" in body["error"]["message"]
