"""Issue 15 item 2: hostile uploads are refused with a 4xx naming the limit, and ingesting any of them keeps
memory bounded; no chunk grows past the chunk size."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hanlin.errors import PayloadTooLarge
from hanlin.knowledge.chunk import MAX_CHARS, chunk_blocks
from hanlin.knowledge.extract import extract
from hanlin.limits import InputLimits
from tests.security import hostile

LAX = InputLimits(max_zip_ratio=100_000, max_unzipped_mb=4096)  # container checks off: the readers must hold


def _refused(data: bytes, name: str, setting: str, limits: InputLimits = InputLimits()) -> None:
    with pytest.raises(PayloadTooLarge) as e:
        extract(data, name, limits)
    assert setting in e.value.message, e.value.message


def test_shared_string_bomb_is_refused_before_it_is_parsed() -> None:
    bomb = hostile.shared_string_bomb()
    assert len(bomb) < 100_000
    _refused(bomb, "bomb.xlsx", "HANLIN_MAX_ZIP_RATIO")


def test_shared_string_bomb_past_the_container_check_hits_the_cell_limit() -> None:
    _refused(hostile.shared_string_bomb(2_000_000), "bomb.xlsx", "HANLIN_MAX_CELL_CHARS", LAX)


def test_docx_bombs_are_refused() -> None:
    _refused(hostile.docx_bomb(), "bomb.docx", "HANLIN_MAX_ZIP_RATIO")
    streamed = InputLimits(max_zip_ratio=100_000, max_unzipped_mb=4096, max_document_chars=100_000)
    _refused(hostile.docx_bomb(), "bomb.docx", "HANLIN_MAX_DOCUMENT_CHARS", streamed)
    _refused(hostile.docx_long(2_100_000), "long.docx", "HANLIN_MAX_DOCUMENT_CHARS")


def test_total_uncompressed_size_is_bounded() -> None:
    _refused(hostile.docx_long(400_000), "long.docx", "HANLIN_MAX_UNZIPPED_MB", InputLimits(max_unzipped_mb=1))


def test_wide_csv_cannot_pad_into_millions_of_characters() -> None:
    data = hostile.wide_csv()
    assert len(data) < 6000
    _refused(data, "wide.csv", "HANLIN_MAX_DOCUMENT_CHARS")


def test_forged_xlsx_dimension_does_not_pad_rows() -> None:
    rows = "".join(f'<row r="{i}"><c r="A{i}" t="s"><v>{i % 2}</v></c></row>' for i in range(1, 4))
    blocks = extract(hostile.xlsx(["名称", "值"], rows, dimension="A1:XFD1048576"), "d.xlsx")
    table = next(b for b in blocks if b.kind == "table")
    assert max(len(r) for r in table.rows) == 1


def test_pdf_page_count_is_bounded() -> None:
    _refused(hostile.pdf_pages(2001), "many.pdf", "HANLIN_MAX_PDF_PAGES")
    assert len(extract(hostile.pdf_pages(3), "few.pdf")) == 3


@pytest.mark.parametrize("field", [40_000, 140_000])  # over our cell limit; over csv's own 128 KiB field limit
def test_csv_field_over_the_limit_is_a_4xx(field: int) -> None:
    _refused(f"a,b\n1,{'x' * field}\n".encode(), "big.csv", "HANLIN_MAX_CELL_CHARS")


def test_no_chunk_exceeds_the_chunk_size() -> None:
    """Long rows, a long header and a long line are split, each piece under the header."""
    header = ",".join(f"列{i}" for i in range(300))
    rows = "\n".join(",".join(f"值{r}-{c}" for c in range(300)) for r in range(5))
    _, chunks = chunk_blocks("d", extract(f"{header}\n{rows}\n".encode(), "t.csv"))
    _, text_chunks = chunk_blocks("t", extract(("无标点" * 5000).encode(), "t.txt"))
    assert len(chunks) > 5 and all(len(c.text) <= MAX_CHARS for c in chunks + text_chunks)
    joined = "".join(c.text for c in chunks)
    # rows are written with their header ("列7：值0-7；"), so a piece of a long row still says what each value is
    assert all(re.search(r"列(\d+)：值\d+-\1", c.text) for c in chunks)
    assert "列299：值4-299" in joined  # nothing was dropped


MEASURE = r"""
import json, sys

def hwm_mb():  # peak RSS of this process image (ru_maxrss would carry the forking parent's peak across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from hanlin.knowledge.chunk import chunk_blocks
from hanlin.knowledge.extract import extract
from hanlin.limits import InputLimits
import openpyxl, pypdf, lxml.etree  # imports are part of idle
lax = InputLimits(max_zip_ratio=100_000, max_unzipped_mb=4096)
idle = hwm_mb()
out = {}
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    for i, limits in enumerate((InputLimits(), lax) if "lax" in path else (InputLimits(),)):
        try:
            chunk_blocks("d", extract(data, path, limits))
            out[f"{path}:{i}"] = "accepted"
        except Exception as e:
            out[f"{path}:{i}"] = type(e).__name__
print(json.dumps({"peak_mb": hwm_mb() - idle, **out}))
"""


def test_ingesting_hostile_files_keeps_memory_bounded(tmp_path: Path) -> None:
    files = {"bomb-lax.xlsx": hostile.shared_string_bomb(), "bomb.docx": hostile.docx_bomb(),
             "long-lax.docx": hostile.docx_long(2_100_000), "wide.csv": hostile.wide_csv(),
             "many.pdf": hostile.pdf_pages(2001), "big.txt": ("字" * 16_000_000).encode()}  # 48 MB of text
    paths = []
    for name, data in files.items():
        assert len(data) <= 50 * 1024 * 1024
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    res = subprocess.run([sys.executable, "-c", MEASURE, *paths], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert all(v in ("PayloadTooLarge", "UnprocessableInput") for k, v in report.items() if k != "peak_mb"), report
    assert report["peak_mb"] < 1024, report
    print("peak RSS above idle (MB):", round(report["peak_mb"]))
