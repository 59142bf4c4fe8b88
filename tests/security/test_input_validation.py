"""Issue 15, Low items: each was a 500 or a wrong accept; each is now a 4xx naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.tenants import ADMIN, TwoTenants, two_tenants

HUGE = 10**30
MSG = [{"role": "user", "content": "你好"}]


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoTenants]:
    yield from two_tenants(tmp_path_factory.mktemp("inputs"))


def _status(r: Any, *codes: int, needle: str = "") -> None:
    assert r.status_code in codes, (r.status_code, r.text)
    if needle:
        assert needle in r.text, r.text


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "a\ud800b"}]}),
    ("/v1/chat/completions", {"messages": MSG, "stop": ["\udfff"]}),
    ("/v1/completions", {"prompt": "x\ud83d"}),
    ("/v1/embeddings", {"input": ["ok", "\ud800"]}),
    ("/v1/knowledge-bases", {"name": "kb\udc00"}),
    ("/v1/apps/formula/explain", {"formula": "=SUM(\ud800)"}),
    ("/v1/custom-apps", {"name": "a", "system_prompt": "\udbff"}),
])
def test_lone_surrogates_are_400(tenants: TwoTenants, path: str, body: dict[str, Any]) -> None:
    raw = json.dumps(body)  # ASCII with \ud800 escapes, as a hostile client sends it
    r = tenants.client.post(path, content=raw, headers={**tenants.a, "Content-Type": "application/json"})
    _status(r, 400, needle="surrogate")


def test_integers_beyond_the_database_are_4xx(tenants: TwoTenants) -> None:
    c = tenants.client
    _status(c.post("/v1/custom-apps", json={"name": "writer", "system_prompt": "写作"}, headers=tenants.a), 201)
    _status(c.get(f"/v1/custom-apps/writer?version={HUGE}", headers=tenants.a), 400, needle="version")
    _status(c.post("/v1/chat/completions", json={"model": f"app:writer@{HUGE}", "messages": MSG},
                   headers=tenants.a), 404)
    _status(c.get(f"/v1/jobs/nope/events?after={HUGE}", headers=tenants.a), 400, needle="after")
    _status(c.post("/v1/admin/keys", json={"tenant": "tenant-a", "rpm": HUGE}, headers=ADMIN), 400, needle="rpm")
    _status(c.put("/v1/admin/tenants/tenant-a/quota", json={"tpm": HUGE}, headers=ADMIN), 400, needle="tpm")
    _status(c.post("/v1/admin/tenants", json={"id": "t-big", "rpm": -(HUGE)}, headers=ADMIN), 400, needle="rpm")


@pytest.mark.parametrize("n_epochs", ["abc", [1], 2.5, float("inf")])
def test_fine_tuning_hyperparameters_must_be_numbers(tenants: TwoTenants, n_epochs: Any) -> None:
    body = {"model": "fake", "training_file": "file-nope", "hyperparameters": {"n_epochs": n_epochs}}
    if n_epochs == float("inf"):
        body["hyperparameters"] = {"n_epochs": "inf"}
    _status(tenants.client.post("/v1/fine_tuning/jobs", json=body, headers=tenants.a), 400, needle="n_epochs")


def test_names_ending_in_newline_are_refused(tenants: TwoTenants) -> None:
    c = tenants.client
    _status(c.post("/v1/custom-apps", json={"name": "evil\n"}, headers=tenants.a), 400)
    _status(c.post("/v1/admin/tenants", json={"id": "evil\n"}, headers=ADMIN), 400)
    _status(c.post("/v1/knowledge-bases", json={"name": "kb\nx"}, headers=tenants.a), 400)
    r = c.post("/v1/admin/keys", json={"tenant": "tenant-a", "scopes": ["model:fake\n"]}, headers=ADMIN)
    assert r.status_code == 400 or r.json()["scopes"] == ["model:fake"], r.text  # refused or normalized


@pytest.mark.parametrize("expires", ["nan", "inf", "-inf", 1e300])
def test_key_expiry_must_be_a_real_moment(tenants: TwoTenants, expires: Any) -> None:
    r = tenants.client.post("/v1/admin/keys", json={"tenant": "tenant-a", "expires": expires}, headers=ADMIN)
    _status(r, 400, needle="expires")


@pytest.mark.parametrize(("params", "field"), [({"temperature": -5}, "temperature"), ({"top_p": 7}, "top_p"),
                                               ({"max_tokens": 0}, "max_tokens"), ({"stop": ["a"] * 9}, "stop")])
def test_app_params_are_validated_like_chat_params(tenants: TwoTenants, params: dict[str, Any], field: str) -> None:
    r = tenants.client.post("/v1/custom-apps", json={"name": f"p-{field}", "params": params}, headers=tenants.a)
    _status(r, 400, needle=f"params.{field}")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_max_tokens_beyond_int32_is_400(tenants: TwoTenants, path: str) -> None:
    body = {"messages": MSG} if "chat" in path else {"prompt": "你好"}
    _status(tenants.client.post(path, json={**body, "max_tokens": 2**32}, headers=tenants.a), 400,
            needle="max_tokens")


def test_csv_field_over_128_kib_is_4xx(tenants: TwoTenants) -> None:
    c = tenants.client
    data = ("名称,说明\n甲," + "x" * 140_000 + "\n").encode()
    _status(c.post("/v1/knowledge-bases", json={"name": "kb-csv"}, headers=tenants.a), 201)
    r = c.post("/v1/knowledge-bases/kb-csv/documents", files={"files": ("big.csv", data)}, headers=tenants.a)
    _status(r, 413, needle="HANLIN_MAX_CELL_CHARS")
    r = c.post("/v1/apps/formula", files={"file": ("big.csv", data)}, data={"request": "求和"}, headers=tenants.a)
    _status(r, 413, needle="HANLIN_MAX_CELL_CHARS")
    r = c.post("/v1/apps/chart", files={"file": ("big.csv", data)}, headers=tenants.a)
    _status(r, 413, needle="HANLIN_MAX_CELL_CHARS")


def test_knowledge_base_ask_exists_and_is_metered(tenants: TwoTenants, tmp_path: Path) -> None:
    c = tenants.client
    engine = tenants.services.engines.loaded()["fake"]
    engine.responder = lambda body: "差旅住宿标准为每晚六百元[1]。"
    _status(c.post("/v1/knowledge-bases", json={"name": "kb-ask"}, headers=tenants.b), 201)
    doc = "第一条 北京差旅住宿标准为每晚六百元。\n第二条 成都差旅住宿标准为每晚四百五十元。\n".encode()
    _status(c.post("/v1/knowledge-bases/kb-ask/documents", files={"files": ("差旅.txt", doc)}, headers=tenants.b),
            201)
    before = c.get("/v1/usage", headers=tenants.b).json()
    r = c.post("/v1/knowledge-bases/kb-ask/ask", json={"question": "北京住宿标准是多少？"}, headers=tenants.b)
    _status(r, 200)
    assert r.json()["answer"] and "citations" in r.json()
    after = c.get("/v1/usage", headers=tenants.b).json()
    assert after != before  # the ask was metered
    # another tenant cannot ask this base
    _status(c.post("/v1/knowledge-bases/kb-ask/ask", json={"question": "北京？"}, headers=tenants.a), 404)


def _multipart(fields: dict[bytes, bytes], files: dict[bytes, tuple[bytes, bytes]]) -> bytes:
    out = b""
    for k, v in fields.items():
        out += b'--XyZ\r\nContent-Disposition: form-data; name="' + k + b'"\r\n\r\n' + v + b"\r\n"
    for k, (name, data) in files.items():
        out += (b'--XyZ\r\nContent-Disposition: form-data; name="' + k + b'"; filename="' + name
                + b'"\r\nContent-Type: text/plain\r\n\r\n' + data + b"\r\n")
    return out + b"--XyZ--\r\n"


@pytest.mark.parametrize("charset", ["utf-7", "UTF-7", "unicode_escape", "raw-unicode-escape", "utf-16"])
def test_form_data_in_a_charset_that_makes_lone_surrogates_is_400(tenants: TwoTenants, charset: str) -> None:
    """UTF-7 decodes the ASCII ``+2AA-`` to a lone surrogate: a knowledge-base document so named was a 500."""
    c = tenants.client
    c.post("/v1/knowledge-bases", json={"name": "charsets"}, headers=tenants.a)
    h = {**tenants.a, "Content-Type": f"multipart/form-data; boundary=XyZ; charset={charset}"}
    body = _multipart({}, {b"files": (b"d+2AA-.txt", "差旅标准。".encode())})
    _status(c.post("/v1/knowledge-bases/charsets/documents", content=body, headers=h), 400, needle="UTF-8")
    _status(c.post("/v1/apps/minutes", content=_multipart({b"title": b"t+2AA-"}, {b"file": (
        b"m.txt", "张三：好。".encode())}), headers=h), 400, needle="charset")
    docs = c.get("/v1/knowledge-bases/charsets/documents", headers=tenants.a)
    _status(docs, 200)
    assert "d" not in [d["name"][:1] for d in docs.json()["data"]]


def test_form_data_in_utf8_with_a_charset_parameter_is_read(tenants: TwoTenants) -> None:
    c = tenants.client
    c.post("/v1/knowledge-bases", json={"name": "utf8form"}, headers=tenants.a)
    h = {**tenants.a, "Content-Type": 'multipart/form-data; boundary=XyZ; charset="UTF-8"'}
    body = _multipart({}, {b"files": ("制度.txt".encode(), "差旅住宿每晚不超过600元。".encode())})
    r = c.post("/v1/knowledge-bases/utf8form/documents", content=body, headers=h)
    _status(r, 200, 201)
    assert "制度.txt" in r.text
