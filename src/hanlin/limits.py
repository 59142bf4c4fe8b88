"""Input limits shared by every reader of untrusted files and text: zip-based office files (xlsx/docx/pptx), PDFs,
CSV, plain text, formulas. One :class:`InputLimits` (built from Settings) is passed to the readers; each check
raises a 4xx that names the limit and the ``HANLIN_*`` setting that raises it.

The defence is layered so no single check has to be perfect: the container is checked before it is opened
(:func:`check_zip`: member count, total uncompressed size, compression ratio), readers stream where they can,
and a :class:`CharBudget` stops extraction as soon as a document grows past the characters it may produce.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePath
from typing import Any

from hanlin.config import Settings
from hanlin.errors import BadRequest, PayloadTooLarge, UnprocessableInput

MB = 1024 * 1024  # every size setting (HANLIN_*_MB) and every message counts MB of 2**20 bytes
DB_INT_MAX = 2**63 - 1  # the largest integer SQLite (and PostgreSQL BIGINT) can store
RATIO_FLOOR_BYTES = 1 * MB  # members smaller than this are never refused for their ratio (tiny XML compresses well)


@dataclass(frozen=True)
class InputLimits:
    """Limits on what one uploaded file may expand to. Defaults equal the Settings defaults."""

    max_unzipped_mb: int = 128  # total uncompressed size of a zip-based file (xlsx, docx, pptx)
    max_zip_ratio: int = 100  # uncompressed / compressed size of any member over 1 MB
    max_zip_members: int = 10_000
    max_document_chars: int = 2_000_000  # characters extracted from one document (tables count their cells)
    max_cell_chars: int = 32_767  # one spreadsheet cell / shared string / CSV field (Excel's own cell limit)
    max_pdf_pages: int = 2_000
    max_formula_chars: int = 8_192  # Excel's own formula length limit
    max_formula_depth: int = 64  # Excel's own nesting limit

    @classmethod
    def from_settings(cls, settings: Any) -> InputLimits:
        return cls(max_unzipped_mb=settings.max_unzipped_mb, max_zip_ratio=settings.max_zip_ratio,
                   max_zip_members=settings.max_zip_members, max_document_chars=settings.max_document_chars,
                   max_cell_chars=settings.max_cell_chars, max_pdf_pages=settings.max_pdf_pages,
                   max_formula_chars=settings.max_formula_chars, max_formula_depth=settings.max_formula_depth)


DEFAULT_LIMITS = InputLimits()


def mb_bytes(mb: float) -> int:
    """Bytes in ``mb`` MB as the size settings count them (2**20 bytes each)."""
    return int(mb * MB)


def mb_text(n_bytes: int) -> str:
    """A byte count for a message, in the settings' MB: 52428800 → '50 MB', 1572864 → '1.5 MB'."""
    if n_bytes < MB // 10:
        return f"{n_bytes:,} bytes"
    mb = round(n_bytes / MB, 1)
    return f"{mb:.0f} MB" if mb == int(mb) else f"{mb:.1f} MB"


def too_large(what: str, limit_bytes: int, setting: str, *, size: int | None = None,
              param: str | None = "file") -> PayloadTooLarge:
    """The one 413 for an upload over its size limit: names what, its size when known, the limit and the setting
    that raises it."""
    has = f" is {mb_text(size)}," if size is not None else " is"
    return PayloadTooLarge(f"{what}{has} larger than the {mb_text(limit_bytes)} upload limit ({setting}).",
                           param=param)


def check_size(size: int, limit_bytes: int, what: str, setting: str, *, param: str | None = "file") -> None:
    """Raise :func:`too_large` when ``size`` bytes exceed ``limit_bytes``."""
    if size > limit_bytes:
        raise too_large(what, limit_bytes, setting, size=size, param=param)


@lru_cache(maxsize=1)
def current_limits() -> InputLimits:
    """The limits of this process's Settings (environment ``HANLIN_*``, read once), for readers not handed limits
    (the spreadsheet readers, which the CLI and the evals call without a composition root)."""
    return InputLimits.from_settings(Settings())


def check_formula(formula: str, limits: InputLimits | None = None, param: str = "formula") -> str:
    """Refuse a formula longer or deeper (brackets outside string literals) than Excel itself allows, before any
    parser (some recurse, some are quadratic) sees it."""
    limits = limits or current_limits()
    if len(formula) > limits.max_formula_chars:
        raise BadRequest(f"The formula is {len(formula):,} characters; the limit is {limits.max_formula_chars:,} "
                         "(HANLIN_MAX_FORMULA_CHARS)", param=param, code="formula_too_long")
    depth = deepest = 0
    in_string = False
    for ch in formula:
        if ch == '"':
            in_string = not in_string
        elif not in_string and ch in "({":
            depth += 1
            deepest = max(deepest, depth)
        elif not in_string and ch in ")}":
            depth -= 1
    if deepest > limits.max_formula_depth:
        raise BadRequest(f"The formula nests {deepest} levels of brackets; the limit is {limits.max_formula_depth} "
                         "(HANLIN_MAX_FORMULA_DEPTH)", param=param, code="formula_too_deep")
    return formula


def check_zip(data: bytes | zipfile.ZipFile, name: str, limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Refuse a zip container (xlsx/docx/pptx...) whose members would expand past the limits, before any reader
    decompresses it. The sizes come from the central directory; :func:`read_member` enforces them while reading,
    so a directory that lies about sizes does not help."""
    try:
        zf = data if isinstance(data, zipfile.ZipFile) else zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as e:
        kind = PurePath(name).suffix.lower() or "Office file"
        raise UnprocessableInput(f"'{name}' is not a readable {kind} (not a zip archive: {e}); save it again as "
                                 "Office 2007+ and retry", param="file") from e
    infos = zf.infolist()
    if len(infos) > limits.max_zip_members:
        raise PayloadTooLarge(f"'{name}' holds {len(infos)} parts; the limit is {limits.max_zip_members} "
                              "(HANLIN_MAX_ZIP_MEMBERS)", param="file", code="file_too_complex")
    total = 0
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_zip_ratio:
            raise PayloadTooLarge(
                f"'{name}' looks like a zip bomb: part '{info.filename}' expands {ratio:.0f}× "
                f"({info.file_size / MB:.1f} MB); the limit is {limits.max_zip_ratio}× (HANLIN_MAX_ZIP_RATIO)",
                param="file", code="file_too_large_uncompressed")
    if total > limits.max_unzipped_mb * MB:
        raise PayloadTooLarge(f"'{name}' expands to {total / MB:.0f} MB; the limit is {limits.max_unzipped_mb} MB "
                              "uncompressed (HANLIN_MAX_UNZIPPED_MB)", param="file",
                              code="file_too_large_uncompressed")


def is_zip(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


class CharBudget:
    """Counts the characters a reader produces and refuses the document once it passes the limit."""

    def __init__(self, name: str, limits: InputLimits = DEFAULT_LIMITS) -> None:
        self.name, self.limits = name, limits
        self.used = 0

    def charge(self, n: int) -> None:
        self.used += n
        if self.used > self.limits.max_document_chars:
            raise PayloadTooLarge(
                f"'{self.name}' holds more than {self.limits.max_document_chars:,} characters of text (tables count "
                "their cells); split it into smaller files or raise HANLIN_MAX_DOCUMENT_CHARS",
                param="file", code="document_too_long")

    def text(self, text: str) -> str:
        """``text`` after charging it; a single value over the per-cell limit is refused."""
        self.charge(len(text))
        return text

    def cell(self, value: str, where: str = "") -> str:
        if len(value) > self.limits.max_cell_chars:
            at = f" ({where})" if where else ""
            raise PayloadTooLarge(
                f"'{self.name}' has a cell{at} of {len(value):,} characters; the limit is "
                f"{self.limits.max_cell_chars:,} per cell (HANLIN_MAX_CELL_CHARS)", param="file",
                code="cell_too_long")
        self.charge(len(value) + 3)  # " | " between cells: empty cells cost too, so wide sparse sheets are bounded
        return value


def read_csv_rows(text: str, name: str, limits: InputLimits = DEFAULT_LIMITS, *,
                  dialect: Any = csv.excel, max_rows: int | None = None) -> list[list[str]]:
    """CSV rows with every field and the whole table charged to a budget; a malformed or over-long field is a 4xx
    naming the limit, never a ``csv.Error`` 500."""
    budget = CharBudget(name, limits)
    rows: list[list[str]] = []
    i = 0
    try:  # csv's own field limit (128 KiB, process-wide) stays; fields under it are checked against ours
        for i, row in enumerate(csv.reader(io.StringIO(text), dialect)):
            if max_rows is not None and i >= max_rows:
                break
            rows.append([budget.cell(v, f"row {i + 1}") for v in row])
    except csv.Error as e:
        if "field larger than field limit" in str(e):
            raise PayloadTooLarge(f"'{name}' has a field over 128 KiB (row {i + 2}); the limit is "
                                  f"{limits.max_cell_chars:,} characters per field (HANLIN_MAX_CELL_CHARS)", param="file", code="cell_too_long") from e
        raise UnprocessableInput(f"'{name}' is not a readable CSV ({e})", param="file") from e
    return rows
