"""The OpenAI Files API (issue 15 item 1): tenant-owned uploads driven by the official openai SDK; fine-tuning takes
only file ids (never a server path, and no existence oracle); eval splits are an enum."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.tenants import TwoTenants, tenants_fixture

tenants = pytest.fixture(tenants_fixture)

GOOD = json.dumps({"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "您好！"}]},
                  ensure_ascii=False)


def sdk(t: TwoTenants, key: str) -> Any:
    from openai import OpenAI

    return OpenAI(base_url="http://testserver/v1", api_key=key, http_client=t.client, max_retries=0)


def test_sdk_upload_list_retrieve_content_delete(tenants: TwoTenants, tmp_path: Path) -> None:
    a = sdk(tenants, tenants.a_key)
    src = tmp_path / "train.jsonl"
    src.write_text(GOOD + "\n", encoding="utf-8")
    f = a.files.create(file=src.open("rb"), purpose="fine-tune")
    assert f.id.startswith("file-") and f.object == "file" and f.purpose == "fine-tune"
    assert f.bytes == src.stat().st_size and f.filename == "train.jsonl" and f.status == "processed"
    assert f.created_at > 1_700_000_000
    assert [x.id for x in a.files.list().data] == [f.id]
    assert [x.id for x in a.files.list(purpose="batch").data] == []
    assert a.files.retrieve(f.id).bytes == f.bytes
    assert a.files.content(f.id).read() == src.read_bytes()
    stored = list((tenants.services.settings.home / "uploads").iterdir())
    assert [p.name for p in stored] == [f.id]  # a server-made name, not the client's
    gone = a.files.delete(f.id)
    assert gone.deleted and gone.id == f.id
    assert a.files.list().data == [] and not any((tenants.services.settings.home / "uploads").iterdir())


def test_tenant_b_cannot_see_read_or_delete_a_file(tenants: TwoTenants) -> None:
    import openai

    f = sdk(tenants, tenants.a_key).files.create(file=("a.jsonl", GOOD.encode()), purpose="fine-tune")
    b = sdk(tenants, tenants.b_key)
    assert b.files.list().data == []
    for call in (b.files.retrieve, b.files.content, b.files.delete):
        with pytest.raises(openai.NotFoundError) as e:
            call(f.id)
        missing = tenants.client.get("/v1/files/file-0123456789abcdef01234567", headers=tenants.b)
        assert e.value.body == {**missing.json()["error"], "message": e.value.body["message"]}
        assert e.value.body["message"] == f"No file with id '{f.id}'"
    assert sdk(tenants, tenants.a_key).files.retrieve(f.id).id == f.id


@pytest.mark.parametrize("purpose", ["", "secret", "../x"])
def test_bad_purpose_is_400(tenants: TwoTenants, purpose: str) -> None:
    r = tenants.client.post("/v1/files", headers=tenants.a, files={"file": ("x.jsonl", b"{}")},
                            data={"purpose": purpose})
    assert r.status_code == 400 and r.json()["error"]["param"] == "purpose", r.text


def test_limits_and_hostile_names(tmp_path: Path) -> None:
    from tests.support.tenants import two_tenants

    gen = two_tenants(tmp_path, files_max_mb=1, files_max_count=2)
    t = next(gen)

    def post(data: bytes, name: str = "x.jsonl") -> Any:
        return t.client.post("/v1/files", headers=t.a, files={"file": (name, data)}, data={"purpose": "user_data"})

    try:
        big = post(b"x" * (1024 * 1024 + 1))
        assert big.status_code == 413 and "HANLIN_FILES_MAX_MB" in big.json()["error"]["message"]
        assert post(b"").status_code == 400
        evil = post(b"hello", "../../etc/passwd")
        assert evil.status_code == 200 and evil.json()["filename"] == "passwd"
        assert post(b"again").status_code == 200
        third = post(b"three")
        assert third.status_code == 413 and "HANLIN_FILES_MAX_COUNT" in third.json()["error"]["message"]
        assert t.client.post("/v1/files", headers=t.b, files={"file": ("x", b"b")},
                             data={"purpose": "user_data"}).status_code == 200  # the count is per tenant
        assert sorted(p.name for p in (tmp_path / "uploads").iterdir() if not p.name.startswith("file-")) == []
        assert t.client.get("/v1/files/..%2F..%2Fhanlin.db", headers=t.a).status_code == 404
        assert t.client.get("/v1/files/..%2Fhanlin.db/content", headers=t.a).status_code == 404
    finally:
        gen.close()


def test_clean_filename() -> None:
    from hanlin.errors import BadRequest
    from hanlin.platform.files import clean_filename

    assert clean_filename("..\\..\\x\x00\n.txt") == "x.txt" and clean_filename("/") == "upload"
    with pytest.raises(BadRequest):
        clean_filename("a" * 300)


@pytest.mark.parametrize("ref", ["/etc/passwd", "/no/such/file.jsonl", "hanlin.db", "tuning/x/train.jsonl",
                                 "file-nothex", "~/.bashrc"])
def test_fine_tuning_takes_no_paths_and_gives_no_oracle(tenants: TwoTenants, ref: str) -> None:
    r = tenants.client.post("/v1/fine_tuning/jobs", headers=tenants.a,
                            json={"model": "fake", "training_file": ref})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == "training_file" and ref not in err["message"].replace("file-…", "")
    assert err["message"].startswith("training_file must be the id of a file uploaded with POST /v1/files")


def test_fine_tuning_file_ids_are_tenant_owned(tenants: TwoTenants) -> None:
    a_file = sdk(tenants, tenants.a_key).files.create(file=("t.jsonl", GOOD.encode()), purpose="fine-tune")
    other = sdk(tenants, tenants.a_key).files.create(file=("u.txt", GOOD.encode()), purpose="user_data")
    body = {"model": "no-such-model", "training_file": a_file.id}
    as_b = tenants.client.post("/v1/fine_tuning/jobs", headers=tenants.b, json=body)
    missing = tenants.client.post("/v1/fine_tuning/jobs", headers=tenants.b,
                                  json={**body, "training_file": "file-0123456789abcdef01234567"})
    assert as_b.status_code == missing.status_code == 404
    assert as_b.json()["error"]["message"].replace(a_file.id, "ID") == \
        missing.json()["error"]["message"].replace("file-0123456789abcdef01234567", "ID")
    wrong_purpose = tenants.client.post("/v1/fine_tuning/jobs", headers=tenants.a,
                                        json={**body, "training_file": other.id})
    assert wrong_purpose.status_code == 400 and "purpose" in wrong_purpose.json()["error"]["message"]
    as_a = tenants.client.post("/v1/fine_tuning/jobs", headers=tenants.a, json=body)
    assert as_a.status_code in (400, 404) and as_a.json()["error"]["param"] != "training_file"  # got past the file


@pytest.mark.parametrize("split", ["../../../etc/passwd", "../fewclue/chid/test_public", "nope"])
def test_eval_split_is_an_enum(tenants: TwoTenants, split: str) -> None:
    r = tenants.client.post("/v1/evals", headers=tenants.a,
                            json={"suite": "ocnli", "model": "fake", "options": {"split": split}})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "split" and "test_public" in r.json()["error"]["message"]
    ok = tenants.client.post("/v1/evals", headers=tenants.a,
                             json={"suite": "ocnli", "model": "fake", "limit": 1, "options": {"split": "dev_few_all"}})
    assert ok.status_code == 202, ok.text


def test_suite_split_checks_before_any_path() -> None:
    from hanlin.errors import BadRequest
    from hanlin.evals.base import get_suite
    from hanlin.evals.mcq import fewclue_items

    assert get_suite("cmmlu").split({}) == "test" and get_suite("vcsum").split({"split": "dev"}) == "dev"
    with pytest.raises(BadRequest):
        get_suite("rgb").split({"split": "dev"})  # a suite without splits takes no split option
    with pytest.raises(BadRequest):
        fewclue_items("ocnli", Path("/"), "../../etc/passwd")


def test_cli_uploads_the_local_file_and_names_its_id(tenants: TwoTenants, tmp_path: Path) -> None:
    from hanlin.cli.tuning import HttpTuning, _upload

    src = tmp_path / "mine.jsonl"
    src.write_text(GOOD + "\n", encoding="utf-8")
    client = HttpTuning("http://testserver")
    client.http = tenants.client
    tenants.client.headers.update(tenants.a)
    body: dict[str, Any] = {}
    _upload(client, None, body, src, None)
    assert body["training_file"].startswith("file-") and "validation_file" not in body
    listed = tenants.client.get("/v1/files").json()["data"]
    assert [(f["id"], f["filename"], f["purpose"]) for f in listed] == [(body["training_file"], "mine.jsonl",
                                                                          "fine-tune")]
