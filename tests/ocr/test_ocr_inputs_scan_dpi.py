"""An image-only PDF page is rendered at its scan's own resolution (up to 300 dpi), not down to HANLIN_OCR_DPI: the
OCR bench's 300-dpi two-column page read at 150 dpi came back with 38% CER, at 300 dpi with 0.9%."""

from __future__ import annotations

from PIL import Image

from hanlin.ocr.inputs import OcrLimits, pdf_pages
from hanlin.ocr.testset import pdf_bytes


def _width_px(dpi: int, limits: OcrLimits) -> int:
    a4 = Image.new("L", (int(8.27 * dpi), int(11.69 * dpi)), 255)
    page = next(pdf_pages(pdf_bytes([a4], dpi=dpi), "scan.pdf", limits))
    return int(page.image.shape[1])


def test_scans_render_at_their_own_resolution_within_bounds() -> None:
    assert abs(_width_px(300, OcrLimits(dpi=150)) - 2481) <= 25  # a 300-dpi scan keeps its detail
    assert abs(_width_px(100, OcrLimits(dpi=150)) - 1240) <= 15  # a coarse scan is not rendered below the default
    assert abs(_width_px(600, OcrLimits(dpi=150)) - 2481) <= 25  # nor above 300 dpi
    assert _width_px(300, OcrLimits(dpi=150, max_pixels=2_500_000)) < 1400  # the pixel limit still holds
