"""Evals with the real 0.5B: a handful of C-Eval items through the CLI (in-process and via --url) and the job API.

The 0.5B is weak: assert on structure and invariants (every answer is a valid letter, counts add up, the cache
is reused), never on which answers it gets right.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hanlin.evals.base import default_data_dir

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not (default_data_dir() / "ceval_val").exists(), reason="shared eval data absent")]


def check_record(rec: dict[str, Any], n: int) -> None:
    assert rec["suite"] == "ceval" and rec["n"] == n
    assert rec["metrics"]["invalid"] == 0  # constrained decoding: every reply is one of the letters
    assert 0 <= rec["metrics"]["correct"] <= n and rec["metrics"]["accuracy"] == round(rec["metrics"]["correct"] / n, 4)
    subjects = {k: v for k, v in rec["breakdown"].items() if not k.startswith("[")}
    assert sum(v["n"] for v in subjects.values()) == n and len(subjects) == n  # --limit samples across subjects


def test_cli_eval_ceval_with_the_real_model(server: Any, tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    r = server.cli("eval", "ceval", "--limit", "6", "--json", "-o", str(report))
    assert r.returncode == 0, r.stderr[-2000:]
    rec = json.loads(r.stdout)
    check_record(rec, 6)
    assert rec["model"] == "qwen2.5-coder-0.5b-instruct" and rec["new_items"] == 6
    assert report.exists() and "ceval 0-shot" in report.read_text(encoding="utf-8")
    assert report.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"

    again = json.loads(server.cli("eval", "ceval", "--limit", "6", "--json").stdout)
    assert again["new_items"] == 0 and again["metrics"] == rec["metrics"]  # answered from the cache

    # the same items through the running server (JSON-schema mode): also always a valid letter
    via = server.cli("eval", "ceval", "--limit", "3", "--json", "--url", server.url)
    assert via.returncode == 0, via.stderr[-2000:]
    check_record(json.loads(via.stdout), 3)

    listed = server.cli("eval", "list", "--json")
    assert {"ceval", "cmmlu", "chid"} <= {s["name"] for s in json.loads(listed.stdout)["suites"]}
    combined = server.cli("eval", "report", "-o", str(tmp_path / "all.md"), "--json")
    assert combined.returncode == 0, combined.stderr[-2000:]
    assert len(json.loads(combined.stdout)["results"]) == 2  # in-process and via-URL runs kept apart


def test_eval_job_api_with_the_real_model(server: Any) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        r = client.post("/v1/evals", json={"suite": "ceval", "limit": 4, "options": {"task": "logic,law"}})
        assert r.status_code == 202, r.text
        eval_id = r.json()["id"]
        deadline = time.time() + 600
        body: dict[str, Any] = {}
        while time.time() < deadline:
            body = client.get(f"/v1/evals/{eval_id}").json()
            if body["state"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.5)
    assert body["state"] == "succeeded", body
    rec = body["result"]
    assert rec["n"] == 4 and rec["metrics"]["invalid"] == 0
    assert {k for k in rec["breakdown"] if not k.startswith("[")} == {"law", "logic"}
