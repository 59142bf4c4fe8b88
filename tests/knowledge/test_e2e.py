"""End to end with the real 0.5B model: CLI on the server's HANLIN_HOME, `hanlin ask`, chat with knowledge_base."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hanlin.knowledge.answer import NOT_FOUND

DATA = Path(__file__).parent / "data"
FACTS = [  # (question, text the cited passage must hold)
    ("前四个月新能源汽车销量是多少？", "新能源汽车销量达到222.2万辆"),
    ("神舟十六号是在哪个发射中心发射的？", "酒泉卫星发射中心"),
]


@pytest.fixture(scope="module")
def news_kb(server: Any) -> str:
    name = "e2e-news"
    r = server.cli("kb", "create", name, "--json")
    assert r.returncode == 0, r.stderr
    r = server.cli("kb", "add", name, str(DATA / "newspaper_ocr.txt"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["added"][0]["chunks"] >= 5
    return name


@pytest.mark.e2e
def test_cli_search_and_ask_with_citation(server: Any, news_kb: str) -> None:
    answered = 0
    for question, fact in FACTS:
        r = server.cli("kb", "search", news_kb, question, "--json", "-k", "5")
        results = json.loads(r.stdout)["results"]
        assert any(fact in x["text"] for x in results), question
        r = server.cli("ask", "--kb", news_kb, question, "--json", "--url", server.url, "--max-tokens", "96")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert set(out) >= {"answer", "citations"} and out["answer"].strip()
        if out["answer"] != NOT_FOUND:
            # every [n] in the answer points at a citation; citations quote retrieved chunks
            retrieved = {x["chunk_id"]: x["text"] for x in out["retrieved"]}
            for c in out["citations"]:
                assert retrieved[c["chunk_id"]] == c["text"]
            assert {int(n) for n in re.findall(r"\[(\d+)\]", out["answer"])} <= set(range(1, len(out["citations"]) + 1))
        # the passage holding the answer is what the model was given first, and what the answer cites
        assert fact in out["retrieved"][0]["text"]
        if out["citations"]:
            assert any(fact in c["text"] for c in out["citations"]), out
            answered += 1
    assert answered >= 1, "the model refused every question although the passage was retrieved"


@pytest.mark.e2e
def test_ask_unrelated_question_says_not_found(server: Any, news_kb: str) -> None:
    r = server.cli("ask", "--kb", news_kb, "珠穆朗玛峰的海拔是多少米？", "--json", "--url", server.url)
    out = json.loads(r.stdout)
    assert out["answer"] == NOT_FOUND and out["citations"] == []


@pytest.mark.e2e
def test_chat_completions_with_knowledge_base(openai_client: Any, news_kb: str) -> None:
    resp = openai_client.chat.completions.create(
        model="qwen2.5-coder-0.5b-instruct", max_tokens=64, temperature=0,
        messages=[{"role": "user", "content": "一季度全国光伏新增装机多少千瓦？"}],
        extra_body={"knowledge_base": news_kb})
    data = resp.model_dump()
    answer = resp.choices[0].message.content
    assert answer
    assert data["retrieved"] and "3366万千瓦" in data["retrieved"][0]["text"]
    cites = data["citations"]  # only the passages the answer cites, its [n] markers renumbered to match
    assert {c["chunk_id"] for c in cites} <= {h["chunk_id"] for h in data["retrieved"]}
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer)} == set(range(1, len(cites) + 1))
    assert all({"document", "chunk_id", "text", "quote"} <= set(c) for c in cites)
    assert data["verified"] == bool(cites) or (answer == NOT_FOUND and not cites)
