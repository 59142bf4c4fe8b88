"""REST routes over the FakeEngine: knowledge bases, uploads, search, rerank, chat grounding, tenant scoping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from hanlin.knowledge.answer import NOT_FOUND


@pytest.fixture
def client(fake_services: Any) -> Iterator[TestClient]:
    """The app with the caller's tenant taken from an X-Tenant header (stands in for per-tenant API keys)."""
    from hanlin.api.app import create_app
    from hanlin.api.deps import get_principal
    from hanlin.principal import Principal

    def principal_from_header(request: Request) -> Principal:
        return Principal(tenant_id=request.headers.get("x-tenant", "default"))

    app = create_app(fake_services.settings, fake_services)
    app.dependency_overrides[get_principal] = principal_from_header
    with TestClient(app) as c:
        yield c




def make_kb(client: TestClient, newspaper: bytes, tenant: str = "default", name: str = "news") -> None:
    h = {"x-tenant": tenant}
    assert client.post("/v1/knowledge-bases", json={"name": name}, headers=h).status_code == 201
    r = client.post(f"/v1/knowledge-bases/{name}/documents", headers=h,
                    files=[("files", ("newspaper.txt", newspaper, "text/plain"))], data={"metadata": '{"src": "报纸"}'})
    assert r.status_code == 201, r.text
    assert r.json()["data"][0]["chunks"] >= 5


def test_kb_lifecycle(client: TestClient, newspaper: bytes) -> None:
    make_kb(client, newspaper)
    assert client.post("/v1/knowledge-bases", json={"name": "news"}).status_code == 409
    kbs = client.get("/v1/knowledge-bases").json()["data"]
    assert [(k["name"], k["documents"]) for k in kbs] == [("news", 1)]
    r = client.post("/v1/knowledge-bases/news/search", json={"query": "神舟十六号在哪里发射", "k": 3})
    res = r.json()["results"]
    assert set(res[0]) >= {"document", "chunk_id", "text", "score"}
    assert "酒泉卫星发射中心" in res[0]["text"] and res[0]["document"] == "newspaper.txt"
    r = client.post("/v1/knowledge-bases/news/search", json={"query": "汽车", "filters": {"src": "其他"}})
    assert r.json()["results"] == []
    docs = client.get("/v1/knowledge-bases/news/documents").json()["data"]
    assert docs[0]["metadata"] == {"src": "报纸"}
    assert client.delete(f"/v1/knowledge-bases/news/documents/{docs[0]['id']}").json()["deleted"]
    assert client.get("/v1/knowledge-bases/news/documents").json()["data"] == []
    assert client.delete("/v1/knowledge-bases/news").status_code == 200
    r = client.post("/v1/knowledge-bases/news/search", json={"query": "汽车"})
    assert r.status_code == 404 and "does not exist" in r.json()["error"]["message"]


def test_upload_errors_are_4xx_naming_the_problem(client: TestClient, fake_services: Any) -> None:
    client.post("/v1/knowledge-bases", json={"name": "kb"})
    r = client.post("/v1/knowledge-bases/kb/documents", files=[("files", ("bad.pdf", b"%PDF-garbage", "application/pdf"))])
    assert r.status_code == 422 and "bad.pdf" in r.json()["error"]["message"]
    r = client.post("/v1/knowledge-bases/kb/documents", files=[("files", ("x.exe", b"MZ", "application/octet-stream"))])
    assert r.status_code == 422 and "Unsupported file type" in r.json()["error"]["message"]
    fake_services.knowledge.max_upload_bytes = 100
    r = client.post("/v1/knowledge-bases/kb/documents", files=[("files", ("big.txt", "字" * 200, "text/plain"))])
    assert r.status_code == 413 and "upload limit" in r.json()["error"]["message"]
    r = client.post("/v1/knowledge-bases/kb/documents", files=[("files", ("a.txt", b"ok", "text/plain"))],
                    data={"metadata": "{not json"})
    assert r.status_code == 400 and "metadata" in r.json()["error"]["message"]
    r = client.post("/v1/knowledge-bases/missing/documents", files=[("files", ("a.txt", b"ok", "text/plain"))])
    assert r.status_code == 404


def test_tenants_cannot_see_each_other(client: TestClient, newspaper: bytes) -> None:
    make_kb(client, newspaper, tenant="acme", name="kb")
    h = {"x-tenant": "globex"}
    assert client.get("/v1/knowledge-bases", headers=h).json()["data"] == []
    assert client.post("/v1/knowledge-bases/kb/search", json={"query": "光伏"}, headers=h).status_code == 404
    assert client.get("/v1/knowledge-bases/kb/documents", headers=h).status_code == 404
    assert client.delete("/v1/knowledge-bases/kb", headers=h).status_code == 404
    # same name in the other tenant: its own, empty base
    assert client.post("/v1/knowledge-bases", json={"name": "kb"}, headers=h).status_code == 201
    assert client.post("/v1/knowledge-bases/kb/search", json={"query": "光伏"}, headers=h).json()["results"] == []
    r = client.post("/v1/chat/completions", headers=h, json={
        "model": "fake", "knowledge_base": "kb", "messages": [{"role": "user", "content": "一季度光伏新增装机多少？"}]})
    assert r.json()["citations"] == []
    assert client.post("/v1/knowledge-bases/kb/search", json={"query": "光伏"},
                       headers={"x-tenant": "acme"}).json()["results"]


def test_chat_completion_grounded_with_citations(client: TestClient, newspaper: bytes, fake_engine: Any) -> None:
    make_kb(client, newspaper)
    fake_engine.enqueue("一季度全国光伏新增装机3366万千瓦 [1]。")
    r = client.post("/v1/chat/completions", json={
        "model": "fake", "knowledge_base": "news",
        "messages": [{"role": "user", "content": "一季度全国光伏新增装机多少？"}]})
    body = r.json()
    assert r.status_code == 200, body
    cites = body["citations"]
    assert len(cites) == 1 and "3366万千瓦" in cites[0]["text"] and set(cites[0]) >= {"document", "chunk_id", "text"}
    assert body["verified"] and body["retrieved"][0]["chunk_id"] == cites[0]["chunk_id"]
    sent = fake_engine.requests[-1]["messages"]
    assert sent[0]["role"] == "system" and "[1]" in sent[0]["content"] and "3366万千瓦" in sent[0]["content"]
    # the answer is checked like `ask`'s: a marker past the passages is dropped, the rest renumbered
    n = len(body["retrieved"])
    fake_engine.enqueue(f"新增装机3366万千瓦 [{n + 3}][1]。")
    body = client.post("/v1/chat/completions", json={
        "model": "fake", "knowledge_base": "news",
        "messages": [{"role": "user", "content": "一季度全国光伏新增装机多少？"}]}).json()
    assert body["choices"][0]["message"]["content"] == "新增装机3366万千瓦 [1]。" and len(body["citations"]) == 1
    # a refusal although passage [1] holds the answer: the second look, checked by code, billed
    fake_engine.enqueue(NOT_FOUND)
    fake_engine.enqueue(json.dumps({"quote": "一季度全国光伏新增装机3366万千瓦", "answer": "一季度光伏新增装机3366万千瓦"},
                                   ensure_ascii=False))
    body = client.post("/v1/chat/completions", json={
        "model": "fake", "knowledge_base": "news",
        "messages": [{"role": "user", "content": "一季度全国光伏新增装机多少？"}]}).json()
    assert body["choices"][0]["message"]["content"] == "一季度光伏新增装机3366万千瓦 [1]", body
    assert body["second_look"]["kept"] and "3366万千瓦" in body["citations"][0]["text"]
    assert body["usage"]["completion_tokens"] > 0 and fake_engine.requests[-1]["messages"][0]["content"].startswith(
        "你是企业知识库助手。从下面编号的资料中找出")
    # nothing relevant retrieved: the honest refusal, whatever the model wrote
    fake_engine.enqueue("珠穆朗玛峰高8848.86米。")
    r = client.post("/v1/chat/completions", json={
        "model": "fake", "knowledge_base": "news", "messages": [{"role": "user", "content": "珠穆朗玛峰有多高？"}]})
    assert r.json()["citations"] == [] and NOT_FOUND in fake_engine.requests[-1]["messages"][0]["content"]
    assert r.json()["choices"][0]["message"]["content"] == NOT_FOUND
    r = client.post("/v1/chat/completions", json={
        "model": "fake", "knowledge_base": "nope", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 404


def test_rerank_embedding_and_llm(client: TestClient, fake_engine: Any) -> None:
    docs = ["今天北京天气晴朗，最高气温30度。", "一季度全国光伏新增装机3366万千瓦。", "苹果是一种水果。"]
    r = client.post("/v1/rerank", json={"query": "光伏装机容量", "documents": docs, "top_n": 2})
    res = r.json()["results"]
    assert len(res) == 2 and res[0]["index"] == 1 and res[0]["document"]["text"] == docs[1]
    assert res[0]["relevance_score"] >= res[1]["relevance_score"]
    fake_engine.enqueue({"scores": [0, 1, 3]})
    r = client.post("/v1/rerank", json={"model": "fake", "query": "水果", "documents": docs})
    assert [x["index"] for x in r.json()["results"]] == [2, 1, 0]
    assert client.post("/v1/rerank", json={"query": "x", "documents": []}).status_code == 400


def test_answer_finalize_checks_markers() -> None:
    from hanlin.knowledge.answer import finalize
    from hanlin.knowledge.index import Row
    from hanlin.knowledge.retrieve import Hit

    hits = [Hit(Row(f"c{i}", "d", "doc.txt", i, t, "", "text", 0, 1, None), 0.1, 0.9, 1.0, 1.0)
            for i, t in enumerate(["光伏新增装机3366万千瓦。", "亚运会共设40个大项。"])]
    out = finalize("共设40个大项[2]，光伏3366万千瓦【1】，还有[7]。", hits)
    assert out["answer"] == "共设40个大项[1]，光伏3366万千瓦[2]，还有。"
    assert [c["chunk_id"] for c in out["citations"]] == ["c1", "c0"]
    out = finalize("亚运会共设40个大项。", hits)  # no marker: repaired from word overlap
    assert out["repaired"] and out["citations"][0]["chunk_id"] == "c1" and out["answer"].endswith("[1]")
    assert finalize("资料中没有找到相关信息。", hits)["citations"] == []
    assert finalize("完全无关的回答内容", hits)["verified"] is False


def test_a_refusal_despite_a_strong_match_gets_a_second_look_that_code_checks() -> None:
    import asyncio

    from hanlin.engine.fake import FakeEngine
    from hanlin.knowledge.answer import QUOTE_PROMPT, grounded_answer
    from hanlin.knowledge.index import Row
    from hanlin.knowledge.retrieve import Hit

    text = "国家统计局发布2021年中国经济数据。全年城镇新增就业1269万人，比上年增加83万人。"
    strong = Hit(Row("c0", "d", "news.txt", 0, text, "", "text", 0, len(text), None), 0.1, 0.90, 3.0, 1.0)
    q = "2021年城镇新增就业多少人？"

    def look(quote: str, answer: str) -> str:
        return json.dumps({"quote": quote, "answer": answer}, ensure_ascii=False)

    eng = FakeEngine(responses=[NOT_FOUND, look("全年城镇新增就业1269万人", "1269万人")])  # refuses, then answers
    out = asyncio.run(grounded_answer(eng, q, [strong]))
    assert out["answer"] == "1269万人 [1]" and out["citations"][0]["chunk_id"] == "c0"
    assert out["second_look"]["kept"] is True and eng.requests[1]["messages"][0]["content"] == QUOTE_PROMPT
    assert out["usage"]["completion_tokens"] >= 2  # both calls counted

    eng = FakeEngine(responses=[NOT_FOUND, look("", "大约1500万人左右")])  # not in the passage: dropped
    out = asyncio.run(grounded_answer(eng, q, [strong]))
    assert out["answer"] == NOT_FOUND and out["second_look"]["kept"] is False

    # a same-topic passage about another year: the second answer is found in it, but the year asked about is not
    other = "国家统计局发布2020年中国经济数据。全年城镇新增就业1186万人。"
    other_year = Hit(Row("c1", "d", "news.txt", 1, other, "", "text", 0, len(other), None), 0.1, 0.90, 3.0, 0.7)
    eng = FakeEngine(responses=[NOT_FOUND, look("全年城镇新增就业1186万人", "1186万人")])
    out = asyncio.run(grounded_answer(eng, q, [other_year]))
    assert out["answer"] == NOT_FOUND and out["second_look"]["missing_years"] == ["2021"]

    vague = "国家统计局发布城镇经济数据，各项指标总体平稳。"  # relevant, but no sentence holds the question's words
    weak = Hit(Row("c2", "d", "news.txt", 2, vague, "", "text", 0, len(vague), None), 0.1, 0.89, 3.0, 0.3)
    eng = FakeEngine(responses=[NOT_FOUND])  # the refusal stands, one call
    out = asyncio.run(grounded_answer(eng, q, [weak]))
    assert out["answer"] == NOT_FOUND and "second_look" not in out and len(eng.requests) == 1
