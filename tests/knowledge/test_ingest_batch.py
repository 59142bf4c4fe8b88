"""Batched ingestion (add_documents, what `hanlin kb add` uses) and the unchanged-document no-op."""

from __future__ import annotations

from typing import Any

import numpy as np

DOCS = {
    "a.txt": "差旅报销制度：员工出差住宿费每晚不超过600元，交通费凭票据实报实销。",
    "b.txt": "年度预算编制：各部门于十一月底前提交下一年度预算草案，财务部汇总后报总经理办公会。",
    "c.txt": "信息安全规定：外部设备接入内网须经信息中心审批，涉密文件不得通过即时通讯工具传送。",
    "bad.xyz": "",
}


def files(docs: dict[str, str]) -> list[tuple[str, Any]]:
    return [(name, (lambda t=text: t.encode())) for name, text in docs.items()]


def test_batched_ingest_matches_one_by_one(kb_service: Any) -> None:
    kb_service.create_kb("default", "batched")
    kb_service.create_kb("default", "single")
    seen: list[tuple[int, int]] = []
    res = kb_service.add_documents("default", "batched", files(DOCS), progress=lambda d, t, s: seen.append((d, t)))
    assert [r["name"] for r in res] == list(DOCS)  # one entry per file, in order, errors included
    assert "error" in res[3] and all("error" not in r for r in res[:3])
    assert seen[-1] == (4, 4)
    for name, text in list(DOCS.items())[:3]:
        kb_service.add_document("default", "single", name, text.encode())
    a = kb_service.cache.get(kb_service.index("default", "batched"))
    b = kb_service.cache.get(kb_service.index("default", "single"))
    assert [r.text for r in a.rows] == [r.text for r in b.rows]
    assert np.allclose(a.matrix, b.matrix, atol=1e-5)  # batching does not change a vector
    hits = kb_service.search("default", "batched", "出差住宿费标准是多少", k=1)
    assert hits[0].row.document == "a.txt"


def test_unchanged_document_is_a_no_op(kb_service: Any) -> None:
    kb_service.create_kb("default", "kb")
    first = kb_service.add_document("default", "kb", "a.txt", DOCS["a.txt"].encode())
    gen = kb_service.index("default", "kb").generation()
    again = kb_service.add_documents("default", "kb", files({"a.txt": DOCS["a.txt"]}))
    assert again[0]["unchanged"] is True and again[0]["id"] == first["id"]
    assert kb_service.index("default", "kb").generation() == gen  # nothing written
    # other metadata or other bytes under the same name: replaced, not skipped
    meta = kb_service.add_document("default", "kb", "a.txt", DOCS["a.txt"].encode(), meta={"dept": "财务"})
    assert meta["replaced"] and not meta["unchanged"]
    changed = kb_service.add_document("default", "kb", "a.txt", (DOCS["a.txt"] + "修订").encode(), meta={"dept": "财务"})
    assert changed["replaced"] and changed["id"] != meta["id"]
    assert len(kb_service.list_documents("default", "kb")) == 1
