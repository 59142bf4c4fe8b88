"""Text lines of one page image: RapidOCR (PP-OCRv4 detection, direction and recognition ONNX models bundled in
the ``rapidocr-onnxruntime`` wheel — nothing is downloaded), loaded lazily on first use, one page at a time.

On top of RapidOCR: pages turned by 90° are found from their tall text boxes and re-read turned back; pages
upside down are found from the direction classifier's votes; a slight skew is measured from the text boxes and
taken out of the line coordinates, so layout analysis sees level lines.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from hanlin.memory import release_free_memory

MAX_SIDE = 4000  # RapidOCR shrinks larger pages to this side before recognition (its default, 2000, loses 300 dpi)
# Detection sees the page shrunk to this long side at most (an A4 page at about 200 dpi), in overlapping horizontal
# strips of about DET_STRIP_PIXELS: the detector's feature maps grow with the area, and a 300-dpi A4 page detected
# whole peaked at 2.2 GB RSS. The lines are then cut from the page at full resolution, so recognition still gets
# every pixel of the scan.
DET_MAX_SIDE = 2400
DET_STRIP_PIXELS = 1_000_000
DET_STRIP_MIN = 768  # rows of a strip at least (the detector scales smaller images up to 736)
DET_OVERLAP = 256  # rows two strips share: a line up to this tall lies whole in the strip that keeps it
MIN_SCORE = 0.5


@dataclass
class Line:
    text: str
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 in the upright page
    score: float

    @property
    def height(self) -> int:
        return self.bbox[3] - self.bbox[1]

    @property
    def width(self) -> int:
        return self.bbox[2] - self.bbox[0]

    @property
    def cy(self) -> float:
        return (self.bbox[1] + self.bbox[3]) / 2


@dataclass
class PageLines:
    lines: list[Line]
    width: int
    height: int
    rotation: int = 0  # degrees the page was turned (clockwise) to read it
    skew: float = 0.0  # degrees of slant removed from the coordinates


_engine: Any = None
_engine_lock = threading.Lock()
_run_lock = threading.Lock()


def get_engine(threads: int = 0) -> Any:
    """The process's RapidOCR, created on first use (about 2 s)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from rapidocr_onnxruntime import RapidOCR

            kw: dict[str, Any] = {"max_side_len": MAX_SIDE, "inter_op_num_threads": 1}
            if threads > 0:
                kw["intra_op_num_threads"] = threads
            _engine = RapidOCR(**kw)
        return _engine


@dataclass
class _Raw:
    boxes: list[np.ndarray]  # 4×2 points
    texts: list[str]
    scores: list[float]
    flipped: int = 0  # detected lines the direction classifier finds upside down
    detected: int = 0
    tall: float = 0.0  # share of detected boxes taller than wide


def _detect(engine: Any, img: np.ndarray) -> list[np.ndarray]:
    """Text boxes (4×2 points) of the page, found strip by strip. Each strip keeps the boxes whose centre lies in
    its own part of the page (the overlap split in half), so a line cut by a strip's edge is kept by the strip
    that holds it whole."""
    h, w = img.shape[:2]
    strip = max(DET_STRIP_MIN, DET_STRIP_PIXELS // max(w, 1))
    if h <= strip + DET_OVERLAP:
        boxes, _ = engine.text_det(img)
        return [] if boxes is None else list(boxes)
    out: list[np.ndarray] = []
    y0 = 0
    while True:
        y1 = min(h, y0 + strip)
        boxes, _ = engine.text_det(np.ascontiguousarray(img[y0:y1]))
        release_free_memory()  # the strip's feature maps: freed heap pages would otherwise stay resident
        keep_from = 0 if y0 == 0 else y0 + DET_OVERLAP / 2
        keep_to = h if y1 == h else y1 - DET_OVERLAP / 2
        for box in [] if boxes is None else boxes:
            box = np.array(box, dtype=np.float32)
            box[:, 1] += y0
            if keep_from <= float(box[:, 1].mean()) < keep_to:
                out.append(box)
        if y1 == h:
            return out
        y0 += strip - DET_OVERLAP


def _read(engine: Any, bgr: np.ndarray) -> _Raw:
    """Detection, direction and recognition, keeping the direction votes RapidOCR's __call__ drops."""
    raw_h, raw_w = bgr.shape[:2]
    img, ratio_h, ratio_w = engine.preprocess(bgr)
    shrink = min(1.0, DET_MAX_SIDE / max(img.shape[:2]))
    if shrink < 1.0:
        import cv2

        small = cv2.resize(img, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        boxes = [np.clip(b / np.float32(shrink), 0, [img.shape[1] - 1, img.shape[0] - 1]).astype(np.float32)
                 for b in _detect(engine, small)]
        del small
    else:
        boxes = _detect(engine, img)
    if not boxes:
        return _Raw([], [], [])
    boxes = engine.sorted_boxes(np.array(boxes, dtype=np.float32))
    crops = engine.get_crop_img_list(img, boxes)
    # the direction classifier only votes on the page's orientation: flipping single lines by its word turns some
    # upright lines (long, mixed Chinese/Latin) upside down and they read as nothing
    _, cls_res, _ = engine.text_cls(crops)
    rec_res, _ = engine.text_rec(crops, False)
    pts = np.array(boxes, dtype=np.float32)
    pts[:, :, 0] = np.clip(pts[:, :, 0] * ratio_w, 0, raw_w)
    pts[:, :, 1] = np.clip(pts[:, :, 1] * ratio_h, 0, raw_h)
    out = _Raw([], [], [], sum(1 for c in cls_res if str(c[0]) == "180" and float(c[1]) >= 0.9), len(boxes),
               _tall_share(list(pts)))
    for box, rec in zip(pts, rec_res, strict=True):
        text, score = tidy(str(rec[0])), float(rec[1])
        if not text or score < MIN_SCORE:
            continue
        out.boxes.append(box)
        out.texts.append(text)
        out.scores.append(score)
    return out


_CJK = "\u3400-\u9fff\uf900-\ufaff"
_FULL_PUNCT = "\u3000-\u303f\uff00-\uffef"
_SPACE = re.compile(rf"(?<=[{_CJK}{_FULL_PUNCT}])\s+(?=[{_FULL_PUNCT}(])|\s+(?=（)")
_PARENS = re.compile(r"(.?)\(([^()（）]{0,30})\)")
_HALF = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！"}


def _is_cjk(c: str) -> bool:
    return bool(c) and ("\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff")


def tidy(text: str) -> str:
    """Chinese typesetting for a recognised line: brackets around or after Chinese text and punctuation after
    it full-width (the recogniser often returns them half-width), no stray space before them. Spaces between
    Chinese characters stay: the recogniser writes one only for a visible gap (table cells)."""
    def parens(m: re.Match[str]) -> str:
        before, inner = m.group(1), m.group(2)
        if _is_cjk(before) or any(_is_cjk(c) for c in inner):
            return f"{before}（{inner}）"
        return m.group(0)
    text = _PARENS.sub(parens, text.strip())
    text = re.sub(rf"(?<=[{_CJK}])[,;:?!]", lambda m: _HALF[m.group(0)], text)
    return _SPACE.sub("", text)


def _tall_share(boxes: list[np.ndarray]) -> float:
    """Share of text boxes taller than wide by 1.5× — lines written across a page turned by 90°."""
    if not boxes:
        return 0.0
    tall = 0
    for b in boxes:
        w = max(float(np.linalg.norm(b[0] - b[1])), 1.0)
        h = max(float(np.linalg.norm(b[0] - b[3])), 1.0)
        tall += h / w >= 1.5
    return tall / len(boxes)


def _quality(raw: _Raw) -> float:
    return sum(len(t) * s for t, s in zip(raw.texts, raw.scores, strict=True))


def _skew(boxes: list[np.ndarray]) -> float:
    """Median slant (degrees) of the long text boxes' top edges."""
    angles = []
    for b in boxes:
        dx, dy = float(b[1][0] - b[0][0]), float(b[1][1] - b[0][1])
        if dx > 4 * max(float(np.linalg.norm(b[0] - b[3])), 1.0):
            angles.append(math.degrees(math.atan2(dy, dx)))
    return float(np.median(angles)) if len(angles) >= 3 else 0.0


def _lines(raw: _Raw, w: int, h: int) -> tuple[list[Line], float]:
    boxes = raw.boxes
    skew = _skew(boxes)
    rad = math.radians(-skew) if abs(skew) >= 0.3 else 0.0
    cos, sin, cx, cy = math.cos(rad), math.sin(rad), w / 2, h / 2
    lines = []
    for b, text, score in zip(boxes, raw.texts, raw.scores, strict=True):
        if rad:
            xs = cx + (b[:, 0] - cx) * cos - (b[:, 1] - cy) * sin
            ys = cy + (b[:, 0] - cx) * sin + (b[:, 1] - cy) * cos
        else:
            xs, ys = b[:, 0], b[:, 1]
        bbox = (int(xs.min()), int(ys.min()), int(math.ceil(xs.max())), int(math.ceil(ys.max())))
        lines.append(Line(text, bbox, round(score, 4)))
    return lines, round(skew if rad else 0.0, 2)


def read_page(rgb: np.ndarray, threads: int = 0) -> PageLines:
    """The text lines of one page image (RGB), in upright page coordinates."""
    import cv2

    engine = get_engine(threads)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    rotation = 0
    with _run_lock:  # one page at a time per process: the models are sized for the machine's cores
        raw = _read(engine, bgr)
        if raw.tall > 0.5:  # written across: the page lies on its side
            turned = np.ascontiguousarray(cv2.rotate(bgr, cv2.ROTATE_90_CLOCKWISE))
            again = _read(engine, turned)
            if again.tall < 0.5:  # level lines now (turned the wrong way: the 180° check below)
                raw, bgr, rotation = again, turned, 90
        if raw.flipped * 2 > raw.detected > 0:  # upside down: most lines vote 180°
            turned = np.ascontiguousarray(cv2.rotate(bgr, cv2.ROTATE_180))
            again = _read(engine, turned)
            if _quality(again) > _quality(raw):
                raw, bgr, rotation = again, turned, (rotation + 180) % 360
    h, w = bgr.shape[:2]
    lines, skew = _lines(raw, w, h)
    return PageLines(lines, w, h, rotation, skew)
