"""POST /v1/ocr: the real server (shape, bad input answered 4xx naming the limit, server alive) and, in-process
with auth on, the scope and the page metering."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hanlin.ocr.testset import SAMPLE_PARAGRAPHS, available_fonts, image_bytes, render_page
from tests.ocr.test_ocr_unit import bomb_pdf, huge_png

pytestmark = pytest.mark.skipif(len(available_fonts()) < 2, reason="CJK fonts missing: run scripts/test.sh")
ADMIN = "ocr-test-admin-secret-0123456789"


def small_scan() -> bytes:
    page = render_page("通知", SAMPLE_PARAGRAPHS[1:2], height_in=3.2)
    return image_bytes(page.image)


def many_pages_pdf(n: int) -> bytes:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(n):
        pdf.new_page(100, 100)
    buf = io.BytesIO()
    pdf.save(buf)
    return buf.getvalue()


def test_ocr_endpoint_on_the_real_server(server: Any) -> None:
    url = server.base_url + "/ocr"
    r = httpx.post(url, files={"file": ("notice.png", small_scan(), "image/png")}, timeout=600)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stats"]["pages"] == 1 and "沿江高铁" in body["text"]
    block = body["pages"][0]["blocks"][0]
    assert block["type"] in ("heading", "paragraph") and len(block["bbox"]) == 4 and block["lines"]

    bad = [("big.png", huge_png(30_000, 30_000), 413, "HANLIN_OCR_MAX_PIXELS"),
           ("broken.jpg", b"\xff\xd8\xff\xe0 not a jpeg", 422, "not a readable image"),
           ("many.pdf", many_pages_pdf(10_000), 413, "HANLIN_OCR_MAX_PAGES"),
           ("notes.docx", b"PK\x03\x04", 422, ".pdf")]
    for name, data, status, words in bad:
        r = httpx.post(url, files={"file": (name, data)}, timeout=120)
        assert r.status_code == status, (name, r.text)
        assert words in r.json()["error"]["message"], (name, r.text)
    r = httpx.post(url, files={"file": ("bomb.pdf", bomb_pdf())}, timeout=300)
    assert r.status_code == 413 and "decompression limit" in r.json()["error"]["message"], r.text
    r = httpx.post(url, files={"file": ("notice.png", small_scan())}, data={"pages": "2"}, timeout=60)
    assert r.status_code == 400 and "does not exist" in r.json()["error"]["message"]
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200


@pytest.fixture
def auth_client(tmp_path: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from hanlin.api.app import create_app
    from hanlin.config import Settings
    from hanlin.engine.fake import FakeEngine
    from hanlin.engine.manager import EngineManager
    from hanlin.services import build_services

    settings = Settings(home=tmp_path, model="fake", auth="on", admin_key=ADMIN)
    engines = EngineManager(settings)
    engines.add(FakeEngine("fake"))
    services = build_services(settings, engines=engines)
    with TestClient(create_app(settings, services)) as client:
        yield client


def test_ocr_scope_and_pages_metered(auth_client: Any) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}

    def key(scopes: list[str]) -> dict[str, str]:
        r = auth_client.post("/v1/admin/keys", json={"tenant": "acme", "scopes": scopes}, headers=admin)
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['key']}"}
    scan = {"file": ("notice.png", small_scan(), "image/png")}
    r = auth_client.post("/v1/ocr", files=scan, headers=key(["app:minutes"]))
    assert r.status_code == 403 and "app:ocr" in r.json()["error"]["message"]
    assert auth_client.post("/v1/ocr", files=scan).status_code == 401
    r = auth_client.post("/v1/ocr", files=scan, headers=key(["app:ocr"]))
    assert r.status_code == 200, r.text
    usage = auth_client.get("/v1/usage", params={"tenant": "acme"}, headers=admin).json()
    assert usage["totals"]["pages"] == 1
