"""Pages of a scan as images, one at a time and within limits.

Images are checked from their header (dimensions, frame count) before anything is decoded; PDF pages are
rendered by pdfium at a resolution capped so that no page bitmap exceeds the pixel limit. A corrupt file, too many
pages or too many pixels is an error naming the limit (the setting) to change.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Any

import numpy as np

from hanlin.errors import BadRequest, PayloadTooLarge, UnprocessableInput

IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}
OCR_TYPES = IMAGE_TYPES | {".pdf"}
POINTS_PER_INCH = 72


@dataclass(frozen=True)
class OcrLimits:
    max_pages: int = 500  # pages OCR'd from one document (HANLIN_OCR_MAX_PAGES)
    max_pixels: int = 50_000_000  # pixels of one image or rendered page (HANLIN_OCR_MAX_PIXELS)
    dpi: int = 150  # rendering resolution of PDF pages (HANLIN_OCR_DPI)

    @classmethod
    def from_settings(cls, settings: Any) -> OcrLimits:
        return cls(max_pages=settings.ocr_max_pages, max_pixels=settings.ocr_max_pixels, dpi=settings.ocr_dpi)


@dataclass
class PageImage:
    page: int  # 1-based
    image: np.ndarray  # RGB, uint8
    text_layer: str = ""  # the PDF's own text for this page ("" for images)


def suffix(name: str) -> str:
    return PurePath(name).suffix.lower()


def is_ocr_type(name: str) -> bool:
    return suffix(name) in OCR_TYPES


def parse_pages(spec: str | None, total: int | None = None) -> list[int] | None:
    """``"1-3,5"`` → [1, 2, 3, 5]; None/"" → None (all pages). Pages past ``total`` are an error."""
    if not spec or not spec.strip():
        return None
    pages: set[int] = set()
    for part in spec.replace("，", ",").split(","):
        part = part.strip()
        lo_s, dash, hi_s = part.partition("-")
        try:
            lo = int(lo_s)
            hi = int(hi_s) if dash else lo
        except ValueError:
            raise BadRequest(f"Invalid page range {part!r}: use e.g. 1-3,5", param="pages") from None
        if lo < 1 or hi < lo or hi - lo > 100_000:
            raise BadRequest(f"Invalid page range {part!r}: pages start at 1, e.g. 1-3,5", param="pages")
        pages.update(range(lo, hi + 1))
    if total is not None and max(pages) > total:
        raise BadRequest(f"Page {max(pages)} does not exist; the document has {total} page(s)", param="pages")
    return sorted(pages)


def _check_count(n: int, name: str, limits: OcrLimits) -> None:
    if n > limits.max_pages:
        raise PayloadTooLarge(f"'{name}' has {n:,} pages; the OCR limit is {limits.max_pages:,} pages per document "
                              "(HANLIN_OCR_MAX_PAGES): split it or pick pages", param="file", code="too_many_pages")


def _check_pixels(w: int, h: int, name: str, limits: OcrLimits) -> None:
    if w * h > limits.max_pixels:
        raise PayloadTooLarge(f"'{name}' is {w:,}×{h:,} px ({w * h / 1e6:.0f} megapixels); the OCR limit is "
                              f"{limits.max_pixels / 1e6:.0f} megapixels (HANLIN_OCR_MAX_PIXELS): scale it down",
                              param="file", code="image_too_large")


def _open_image(data: bytes, name: str, limits: OcrLimits) -> Any:
    """PIL image with its header read and checked; no pixel decoded yet."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PayloadTooLarge(f"'{name}' is too many pixels to decode; the OCR limit is "
                              f"{limits.max_pixels / 1e6:.0f} megapixels (HANLIN_OCR_MAX_PIXELS)",
                              param="file", code="image_too_large") from None
    except Exception as e:
        raise UnprocessableInput(f"'{name}' is not a readable image ({type(e).__name__}); save it as PNG or JPEG "
                                 "and retry", param="file") from e
    w, h = img.size
    _check_pixels(w, h, name, limits)
    return img


def _decode(img: Any, name: str, limits: OcrLimits) -> np.ndarray:
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():  # the size was checked against our own limit from the header
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
        img = ImageOps.exif_transpose(img) or img
        if img.mode not in ("RGB", "L"):
            if img.mode in ("RGBA", "LA", "P", "PA"):  # transparent scans: paste on white
                rgba = img.convert("RGBA")
                bg = Image.new("RGB", rgba.size, "white")
                bg.paste(rgba, mask=rgba.getchannel("A"))
                img = bg
            else:
                img = img.convert("RGB")
        if img.mode == "L":
            img = img.convert("RGB")
        return np.asarray(img)
    except PayloadTooLarge:
        raise
    except Exception as e:
        raise UnprocessableInput(f"'{name}' is a damaged image ({type(e).__name__}: {e}); re-scan or re-save it",
                                 param="file") from e


def image_pages(data: bytes, name: str, limits: OcrLimits, pages: list[int] | None = None) -> Iterator[PageImage]:
    """Frames of an image file (a multi-page TIFF has several), decoded one at a time."""
    img = _open_image(data, name, limits)
    n = int(getattr(img, "n_frames", 1) or 1)
    wanted = pages or list(range(1, n + 1))
    if wanted and max(wanted) > n:
        raise BadRequest(f"Page {max(wanted)} does not exist; '{name}' has {n} page(s)", param="pages")
    _check_count(len(wanted), name, limits)
    for p in wanted:
        if n > 1:
            img.seek(p - 1)
            _check_pixels(img.size[0], img.size[1], name, limits)
        yield PageImage(p, _decode(img if n == 1 else img.copy(), name, limits))


def open_pdf(data: bytes, name: str) -> Any:
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except Exception as e:
        raise UnprocessableInput(f"'{name}' is not a readable PDF ({type(e).__name__}: {e})", param="file") from e


def page_text(pdf_page: Any) -> str:
    tp = pdf_page.get_textpage()
    try:
        return str(tp.get_text_bounded() or "")
    finally:
        tp.close()


def render_scale(width_pt: float, height_pt: float, limits: OcrLimits) -> float:
    """Pixels per point: ``limits.dpi``, lowered so the bitmap stays within ``limits.max_pixels``."""
    scale = limits.dpi / POINTS_PER_INCH
    area = max(width_pt, 1.0) * max(height_pt, 1.0) * scale * scale
    if area > limits.max_pixels:
        scale *= (limits.max_pixels / area) ** 0.5
    return scale


MAX_SCAN_DPI = 300  # an image-only page is rendered at its scan's own resolution, up to this


def scan_dpi(reader: Any, p: int) -> float:
    """The resolution of the largest image on page ``p`` (pixels across ÷ page width in inches), 0 when none: a
    300-dpi scan rendered at 150 dpi loses small newspaper type (CER 0.9% → 38% on the bench's two-column page)."""
    try:
        page = reader.pages[p - 1]
        width_in = float(page.mediabox.width) / POINTS_PER_INCH
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        widths = [int(x.get_object().get("/Width", 0)) for x in (xobjects.get_object() if xobjects is not None
                                                                 else {}).values()
                  if x.get_object().get("/Subtype") == "/Image"]
        return max(widths, default=0) / width_in if width_in > 0 else 0.0
    except Exception:  # noqa: BLE001 - a page pypdf cannot read is rendered at the default resolution
        return 0.0


def pdf_page_count(data: bytes, name: str) -> int:
    pdf = open_pdf(data, name)
    try:
        return len(pdf)
    finally:
        pdf.close()


def guard_page(reader: Any, p: int, name: str, limits: OcrLimits) -> None:
    """Refuse a PDF bomb before pdfium renders the page: its content stream is inflated by pypdf, which stops at
    its decompression limit (75 MB), and its images' declared sizes are checked against the pixel limit."""
    import pypdf

    try:
        page = reader.pages[p - 1]
        contents = page.get_contents()
        if contents is not None:
            contents.get_data()
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        for ref in (xobjects.get_object() if xobjects is not None else {}).values():
            x = ref.get_object()
            if x.get("/Subtype") == "/Image":
                w, h = int(x.get("/Width", 0)), int(x.get("/Height", 0))
                if w * h > 4 * limits.max_pixels:
                    raise PayloadTooLarge(f"Page {p} of '{name}' holds a {w:,}×{h:,} px image; the OCR limit is "
                                          f"{4 * limits.max_pixels / 1e6:.0f} megapixels per embedded image "
                                          "(4 × HANLIN_OCR_MAX_PIXELS)", param="file", code="image_too_large")
    except pypdf.errors.LimitReachedError as e:
        raise PayloadTooLarge(f"Page {p} of '{name}' inflates past the decompression limit ({e}): a PDF bomb? "
                              "Re-save the PDF and retry", param="file", code="pdf_bomb") from None
    except PayloadTooLarge:
        raise
    except Exception:  # pypdf cannot parse what pdfium may still read: pdfium decides
        return


def pdf_pages(data: bytes, name: str, limits: OcrLimits, pages: list[int] | None = None,
              render: set[int] | None = None) -> Iterator[PageImage]:
    """Each page's text layer and (for pages in ``render``, default all) its bitmap, rendered one page at a time."""
    import pypdf

    try:
        reader: Any = pypdf.PdfReader(io.BytesIO(data))
    except Exception:
        reader = None
    pdf = open_pdf(data, name)
    try:
        n = len(pdf)
        wanted = pages or list(range(1, n + 1))
        if wanted and max(wanted) > n:
            raise BadRequest(f"Page {max(wanted)} does not exist; '{name}' has {n} page(s)", param="pages")
        _check_count(len(wanted), name, limits)
        for p in wanted:
            if reader is not None and (render is None or p in render):
                guard_page(reader, p, name, limits)
            page = pdf[p - 1]
            try:
                text = page_text(page)
                image = np.zeros((0, 0, 3), np.uint8)
                if render is None or p in render:
                    w, h = page.get_size()
                    native = scan_dpi(reader, p) if reader is not None else 0.0
                    dpi = int(min(max(native, limits.dpi), max(MAX_SCAN_DPI, limits.dpi)))
                    scale = render_scale(w, h, replace(limits, dpi=dpi))  # still within max_pixels
                    bitmap = page.render(scale=scale, rotation=0, grayscale=False)
                    image = np.asarray(bitmap.to_pil().convert("RGB"))
                    bitmap.close()
            except Exception as e:
                raise UnprocessableInput(f"Page {p} of '{name}' cannot be rendered ({type(e).__name__}: {e})",
                                         param="file") from e
            finally:
                page.close()
            yield PageImage(p, image, text)
    finally:
        pdf.close()


def count_pages(data: bytes, name: str, limits: OcrLimits) -> int:
    """Pages of a PDF or frames of an image, read from the file's structure only (nothing rendered/decoded)."""
    _check_type(data, name)
    if suffix(name) == ".pdf":
        return pdf_page_count(data, name)
    return int(getattr(_open_image(data, name, limits), "n_frames", 1) or 1)


def page_images(data: bytes, name: str, limits: OcrLimits, pages: list[int] | None = None) -> Iterator[PageImage]:
    _check_type(data, name)
    if suffix(name) == ".pdf":
        return pdf_pages(data, name, limits, pages)
    return image_pages(data, name, limits, pages)


def _check_type(data: bytes, name: str) -> None:
    if suffix(name) not in OCR_TYPES:
        raise UnprocessableInput(f"OCR reads {', '.join(sorted(OCR_TYPES))}; not '{suffix(name) or name}'",
                                 param="file")
    if not data:
        raise UnprocessableInput(f"'{name}' is empty", param="file")
