"""The durability promise (issue 15 item 1): every write the server acknowledged — a KB create (201), a minutes job
(202), usage rows, an uploaded file — survives `kill -9` and a restart, also when the `hanlin` CLI opened and closed
the same SQLite database (HANLIN_HOME) while the server was up, and after a client tried to make the server open
its own live database as fine-tuning data (which used to drop the server's SQLite locks so that the CLI's close
checkpointed and deleted the WAL: every write acknowledged after that was gone after a restart)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import start_server, stop_server

pytestmark = pytest.mark.e2e
TRANSCRIPT = "张三：下周一前提交预算。\n李四：好的，我来负责。\n"


def acknowledged_writes(base: str, tag: str) -> dict[str, Any]:
    """One of each kind of write; returns what the server acknowledged."""
    kb = httpx.post(f"{base}/knowledge-bases", json={"name": f"kb-{tag}"}, timeout=120)
    assert kb.status_code == 201, kb.text
    job = httpx.post(f"{base}/apps/minutes", json={"transcript": TRANSCRIPT, "title": tag}, timeout=120)
    assert job.status_code == 202, job.text
    upload = httpx.post(f"{base}/files", files={"file": (f"{tag}.jsonl", f'{{"tag": "{tag}"}}\n'.encode())},
                        data={"purpose": "user_data"}, timeout=120)
    assert upload.status_code == 200, upload.text
    refused = httpx.post(f"{base}/chat/completions", timeout=120,  # an error row: acknowledged without generating
                         json={"model": f"app:missing-{tag}", "messages": [{"role": "user", "content": "你好"}]})
    assert refused.status_code == 404
    usage = httpx.get(f"{base}/usage", timeout=60).json()["totals"]["requests"]
    return {"kb": f"kb-{tag}", "job": job.json()["id"], "file": upload.json()["id"], "usage_requests": usage}


def test_acknowledged_writes_survive_kill9_with_the_cli_alongside(tmp_path: Path) -> None:
    home = tmp_path / "home"
    srv = start_server(home)
    try:
        base = srv.base_url
        chat = httpx.post(f"{base}/chat/completions", timeout=600, json={
            "messages": [{"role": "user", "content": "你好"}], "max_tokens": 1})
        assert chat.status_code == 200
        # the original attack: name the live database as training data — refused without the file being opened
        r = httpx.post(f"{base}/fine_tuning/jobs", json={"training_file": str(home / "hanlin.db")}, timeout=120)
        assert r.status_code == 400 and str(home) not in r.text
        before = acknowledged_writes(base, "before")
        cli = srv.cli("usage", "--json", timeout=600)  # another process opens, reads and closes the database
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["totals"]["requests"] >= before["usage_requests"]
        after = acknowledged_writes(base, "after")  # the writes that used to be lost
        assert after["usage_requests"] > before["usage_requests"]
    finally:
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait(timeout=60)

    srv = start_server(home)
    try:
        base = srv.base_url
        kbs = {k["name"] for k in httpx.get(f"{base}/knowledge-bases", timeout=60).json()["data"]}
        usage = httpx.get(f"{base}/usage", timeout=60).json()["totals"]["requests"]
        assert usage >= after["usage_requests"]  # every acknowledged usage row, the last one included
        for acked in (before, after):
            assert acked["kb"] in kbs
            job = httpx.get(f"{base}/jobs/{acked['job']}", timeout=60)
            assert job.status_code == 200 and job.json()["kind"] == "minutes", job.text
            f = httpx.get(f"{base}/files/{acked['file']}/content", timeout=60)
            assert f.status_code == 200 and f.content.startswith(b'{"tag"')
        cli = srv.cli("usage", "--json", timeout=600)
        assert cli.returncode == 0 and json.loads(cli.stdout)["totals"]["requests"] >= usage
    finally:
        stop_server(srv)
