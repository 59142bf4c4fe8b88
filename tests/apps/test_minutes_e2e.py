"""Minutes end to end with the real 0.5B model: the CLI against the shared server, and the REST job API.

Assertions are on the contract and on verification invariants, never on the model's wording.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hanlin.apps.minutes.transcript import parse_transcript
from tests.support.minutes_fakes import MEETING

pytestmark = pytest.mark.e2e
TRANSCRIPT = parse_transcript(MEETING, "m.txt")


def assert_contract(m: dict[str, Any]) -> None:
    by_index = {u.index: u for u in TRANSCRIPT.utterances}
    assert isinstance(m["title"], str) and m["title"] and isinstance(m["summary"], str) and m["summary"]
    assert m["chapters"] and all({"title", "start_line", "end_line", "summary"} <= set(c) for c in m["chapters"])
    for c in m["chapters"]:
        assert c["start_line"] in by_index and c["end_line"] in by_index
    for v in m["views"]:
        assert v["speaker"] in TRANSCRIPT.speakers  # no invented speakers
        for p in v["points"]:
            assert p["lines"] and all(by_index[i].speaker == v["speaker"] for i in p["lines"])
    for d in m["decisions"]:
        assert set(d) >= {"text", "lines"} and all(i in by_index for i in d["lines"])
    for a in m["action_items"]:
        assert set(a) >= {"owner", "task", "due", "lines"} and all(i in by_index for i in a["lines"])
        cited = "".join(by_index[i].text for i in a["lines"])
        assert a["owner"] in TRANSCRIPT.speakers or a["owner"] in cited
    for item in m["decisions"] + m["action_items"]:  # shown as the file's own lines / timestamps
        assert [r["line"] for r in item["refs"]] == [by_index[i].line for i in item["lines"]]
        assert all(r["time"] for r in item["refs"])
    assert m["counts"]["decisions"] == len(m["decisions"]) and m["counts"]["action_items"] == len(m["action_items"])
    v = m["verification"]
    assert v["checked"] == v["passed"] + v["repaired"] + v["dropped"]
    assert m["dropped"]["total"] == v["dropped"]


def test_cli_minutes_json_and_docx(server: Any, tmp_path: Path) -> None:
    src = tmp_path / "周会.txt"
    src.write_text(MEETING, encoding="utf-8")
    out = tmp_path / "纪要.docx"
    r = server.cli("minutes", str(src), "--json", "--format", "docx", "-o", str(out), "--url", server.url,
                   timeout=1500)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads(r.stdout)
    assert_contract(m)
    assert m["output"] == str(out) and out.read_bytes()[:2] == b"PK"


def test_cli_long_meeting_is_read_condensed_by_the_model_and_whole_by_code(server: Any, tmp_path: Path) -> None:
    from tests.apps.test_minutes_condense import FILLER

    filler = [f"[00:{10 + i:02d}:00] {('李娜', '张伟', '王芳')[i % 3]}：{FILLER[i % 4]}{FILLER[(i + 1) % 4]}"
              for i in range(24)]
    text = MEETING + "\n" + "\n".join(filler)
    transcript = parse_transcript(text, "m.txt")
    src = tmp_path / "长会.txt"
    src.write_text(text, encoding="utf-8")
    # a read budget far below the meeting's length: the same path a 45k-character meeting takes by default
    r = server.cli("minutes", str(src), "--json", "--url", server.url, timeout=1500,
                   env={"HANLIN_MINUTES_READ_CHARS": "600"})
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads(r.stdout)
    read = m["stats"]["read"]
    assert read["condensed"] and read["budget_chars"] == 600
    assert read["chars"] == transcript.chars and read["chars_shown_to_model"] <= 700 < read["chars"]
    by_index = {u.index: u for u in transcript.utterances}
    assert m["chapters"] and m["chapters"][0]["start_line"] == 0
    assert m["chapters"][-1]["end_line"] == len(transcript.utterances) - 1
    for v in m["views"]:
        assert all(by_index[i].speaker == v["speaker"] for p in v["points"] for i in p["lines"])
    for item in m["decisions"] + m["action_items"]:
        assert item["lines"] and all(i in by_index for i in item["lines"])
    # code reads every line: 王芳's task (assigned on line 3, taken on line 4) is in the minutes whatever the model
    # was shown (the model's wording of it may stand in for the code-found one)
    assert any(a["owner"] == "王芳" and {3, 4} & set(a["lines"]) for a in m["action_items"]), m["action_items"]


def test_cli_rejects_an_unreadable_transcript(server: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("没有发言人标签的一段文字\n" * 8, encoding="utf-8")
    r = server.cli("minutes", str(bad), "--json", "--url", server.url)
    assert r.returncode != 0 and "line 1" in r.stderr


def test_api_upload_job_with_instruction(server: Any) -> None:
    headers = {"Authorization": f"Bearer {os.environ['HANLIN_TEST_KEY']}"} if os.environ.get("HANLIN_TEST_KEY") else {}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        r = client.post("/v1/apps/minutes", files={"file": ("m.txt", MEETING.encode(), "text/plain")},
                        data={"instruction": "只看前一小时"})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        deadline = time.time() + 1500
        while time.time() < deadline:
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["state"] in ("succeeded", "failed", "cancelled"):
                break
            assert 0.0 <= job["progress"] <= 1.0
            time.sleep(1)
    assert job["state"] == "succeeded", job
    m = job["result"]
    assert_contract(m)
    assert m["covered_utterances"] == 5  # 01:10:00 and later are outside the first hour
    cited = {i for v in m["views"] for p in v["points"] for i in p["lines"]}
    cited |= {i for x in m["decisions"] + m["action_items"] for i in x["lines"]}
    assert cited <= {0, 1, 2, 3, 4}
