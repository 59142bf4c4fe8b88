"""POST /v1/ocr: the real server (shape, bad input answered 4xx naming the limit, server alive) and, in-process
with auth on, the scope and the page metering."""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hanlin.ocr.testset import SAMPLE_PARAGRAPHS, available_fonts, image_bytes, render_page
from tests.ocr.test_ocr_unit import huge_png

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


def bomb_pdf() -> bytes:
    """One page whose content stream inflates from ~50 KB to 48 MB."""
    content = zlib.compress(b" " * 48_000_000, 9)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream"]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + o + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out.getvalue()


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
    assert r.status_code == 200 and r.json()["text"] == ""  # inflated, rendered blank, bounded by the page size
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
