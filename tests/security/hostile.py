"""Hostile files built at test time (never committed as blobs): zip bombs in Office clothing, wide CSVs, PDFs
with thousands of pages."""

from __future__ import annotations

import io
import zipfile

_CT = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
       'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
       'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>{}</Types>')
_REL = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships">{}</Relationships>')
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _zip(parts: dict[str, str | bytes], level: int = 9) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, body in parts.items():
            zf.writestr(name, body)
    return out.getvalue()


def xlsx(shared: list[str], sheet_rows: str, dimension: str = "A1") -> bytes:
    """A minimal workbook: one sheet with ``sheet_rows`` (<row> elements) and the given shared strings."""
    sst = "".join(f"<si><t>{s}</t></si>" for s in shared)
    return _zip({
        "[Content_Types].xml": _CT.format(
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.'
            'xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'),
        "_rels/.rels": _REL.format(f'<Relationship Id="rId1" Type="{_R}/officeDocument" Target="xl/workbook.xml"/>'),
        "xl/workbook.xml": f'<workbook xmlns="{_MAIN}" xmlns:r="{_R}"><sheets><sheet name="S" sheetId="1" '
                           'r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": _REL.format(
            f'<Relationship Id="rId1" Type="{_R}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_R}/sharedStrings" Target="sharedStrings.xml"/>'),
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{_MAIN}"><dimension ref="{dimension}"/><sheetData>'
                                    f'{sheet_rows}</sheetData></worksheet>',
        "xl/sharedStrings.xml": f'<sst xmlns="{_MAIN}" count="{len(shared)}" uniqueCount="{len(shared)}">{sst}</sst>',
    })


def shared_string_bomb(chars: int = 64_000_000) -> bytes:
    """~64 KB on disk: one cell whose shared string is ``chars`` characters long (the issue's 21 GB OOM)."""
    return xlsx(["A" * chars], '<row r="1"><c r="A1" t="s"><v>0</v></c></row>')


def docx(body_xml: str, level: int = 9) -> bytes:
    return _zip({
        "[Content_Types].xml": _CT.format(
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/>'),
        "_rels/.rels": _REL.format(f'<Relationship Id="rId1" Type="{_R}/officeDocument" Target="word/document.xml"/>'),
        "word/document.xml": f'<w:document xmlns:w="{_W}"><w:body>{body_xml}</w:body></w:document>',
    }, level)


def docx_bomb(paragraphs: int = 1_000_000) -> bytes:
    """Millions of identical paragraphs: a few hundred KB that python-docx would expand into gigabytes of tree."""
    return docx("<w:p><w:r><w:t>炸</w:t></w:r></w:p>" * paragraphs)


def docx_long(chars: int = 3_000_000) -> bytes:
    """A docx of varied text (compresses only ~10×, so no ratio check catches it) holding ``chars`` characters."""
    import random

    rng = random.Random(7)
    para = []
    for _ in range(chars // 200):
        text = "".join(chr(0x4E00 + rng.randrange(3000)) for _ in range(200))
        para.append(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>")
    return docx("".join(para), level=1)


def wide_csv(rows: int = 1000, width: int = 1900) -> bytes:
    """~3.9 KB: one row with ``width`` empty columns pads every other row to that width (millions of characters
    of table text, the issue's 2,000,006-character chunk)."""
    return ("a" + "," * width + "\n" + "x\n" * rows).encode()


def pdf_pages(n: int) -> bytes:
    """A valid PDF with ``n`` pages that all share one small content stream."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [" + " ".join(f"{5 + i} 0 R" for i in range(n)) + f"] /Count {n} >>",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    content = b"BT /F1 12 Tf 72 720 Td (page) Tj ET"
    objs.append(f"<< /Length {len(content)} >>\nstream\n{content.decode()}\nendstream")
    objs += ["<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
             "/Contents 4 0 R >>"] * n
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()
