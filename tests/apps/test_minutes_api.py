"""POST /v1/apps/minutes → 202 + job on a scripted engine; job checkpoints let a restarted job resume."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.support.minutes_fakes import MEETING, responder


def _wait(client: Any, job_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_upload_returns_202_and_the_job_gives_cited_minutes(fake_client: Any, fake_engine: Any) -> None:
    fake_engine.responder = responder
    r = fake_client.post("/v1/apps/minutes", files={"file": ("meeting.txt", MEETING.encode(), "text/plain")},
                         data={"instruction": "列出所有待办"})
    assert r.status_code == 202, r.text
    assert r.json()["speakers"] == ["张伟", "李娜", "王芳"]
    job = _wait(fake_client, r.json()["id"])
    assert job["state"] == "succeeded", job
    m = job["result"]
    assert m["instruction"]["focus"] == "action_items"
    assert {v["speaker"] for v in m["views"]} <= {"张伟", "李娜", "王芳"}
    assert all(0 <= i < 7 for a in m["action_items"] for i in a["lines"])
    md = fake_client.get(f"/v1/apps/minutes/{job['id']}/render", params={"format": "md"})
    assert md.status_code == 200 and "待办事项" in md.text
    docx = fake_client.get(f"/v1/apps/minutes/{job['id']}/render", params={"format": "docx"})
    assert docx.status_code == 200 and docx.content[:2] == b"PK"


def test_json_utterances_body(fake_client: Any, fake_engine: Any) -> None:
    fake_engine.responder = responder
    body = {"utterances": [{"speaker": "张伟", "text": "我们决定下周上线。"}, {"speaker": "李娜", "text": "我负责测试。"}],
            "title": "上线会"}
    r = fake_client.post("/v1/apps/minutes", json=body)
    assert r.status_code == 202, r.text
    job = _wait(fake_client, r.json()["id"])
    assert job["state"] == "succeeded" and job["result"]["title"] == "上线会"


def test_bad_inputs_are_4xx_with_a_reason(fake_client: Any) -> None:
    r = fake_client.post("/v1/apps/minutes", files={"file": ("x.txt", "没有发言人\n" * 8, "text/plain")})
    assert r.status_code == 422 and "line 1" in r.json()["error"]["message"]
    r = fake_client.post("/v1/apps/minutes", json={"nothing": 1})
    assert r.status_code == 400 and "utterances" in r.json()["error"]["message"]
    r = fake_client.post("/v1/apps/minutes", json={"transcript": MEETING, "instruction": "只看关于火箭发射的讨论"})
    assert r.status_code == 422 and "instruction" in r.json()["error"]["message"]


def test_resumed_job_skips_checkpointed_chapters(fake_services: Any, fake_engine: Any) -> None:
    from hanlin.apps.minutes.app import CHAPTER_EVENT
    from hanlin.apps.minutes.pipeline import Options, summarise_chapter
    from hanlin.apps.minutes.segment import segment
    from hanlin.apps.minutes.transcript import parse_transcript
    from hanlin.jobs import JobContext
    from hanlin.principal import Principal

    fake_engine.responder = responder
    svc = fake_services.minutes
    t = parse_transcript(MEETING, "m.txt")
    job = svc.submit(Principal(tenant_id="default"), t)
    parts = segment(t.utterances)
    by_index = {u.index: u for u in t.utterances}
    from hanlin.apps.minutes.instruction import Plan

    first = asyncio.run(summarise_chapter(fake_engine, parts[0], by_index, "zh", Plan(), Options()))
    fake_services.jobs.add_event(job["id"], CHAPTER_EVENT, {"chapter": 0, "result": first})
    before = len(fake_engine.requests)
    ctx = JobContext(job["id"], "default", fake_services.jobs.input_of(job["id"]), fake_services.jobs, time.time())
    result = asyncio.run(svc.run_job(ctx))
    schemas = [r["response_format"]["json_schema"]["schema"]["properties"] for r in fake_engine.requests[before:]]
    assert not any("views" in p and "title" in p for p in schemas)  # chapter 0 was not asked again
    assert result["chapters"][0]["title"] == first["title"]


def test_read_all_flag_and_the_condensed_default_for_long_meetings(fake_client: Any, fake_engine: Any) -> None:
    from tests.apps.test_minutes_condense import meeting

    fake_engine.responder = responder
    utts = [{"speaker": u.speaker, "text": u.text} for u in meeting(200)]
    assert sum(len(u["text"]) for u in utts) > 9_000  # past the default HANLIN_MINUTES_READ_CHARS
    reads = []
    for flag in (None, True):
        body: dict[str, Any] = {"utterances": utts, **({"read_all": flag} if flag is not None else {})}
        r = fake_client.post("/v1/apps/minutes", json=body)
        assert r.status_code == 202, r.text
        job = _wait(fake_client, r.json()["id"])
        assert job["state"] == "succeeded", job
        reads.append(job["result"]["stats"]["read"])
    assert reads[0]["condensed"] and reads[0]["chars_shown_to_model"] <= 9_000 * 1.1
    assert not reads[1]["condensed"] and reads[1]["chars_shown_to_model"] == reads[1]["chars"]
    bad = fake_client.post("/v1/apps/minutes", json={"utterances": utts[:3], "read_all": "maybe"})
    assert bad.status_code == 400 and "read_all" in bad.text
    form = fake_client.post("/v1/apps/minutes", files={"file": ("m.txt", MEETING.encode(), "text/plain")},
                            data={"read_all": "2"})
    assert form.status_code == 400 and "true or false" in form.json()["error"]["message"]
