"""`hanlin ocr FILE`: text of a scanned PDF or an image (offline OCR), in reading order, as text, Markdown or JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from hanlin.cli.common import err_console, fail, print_json, progress_bar, settings_from
from hanlin.errors import HanlinError

FORMATS = {".txt": "txt", ".md": "md", ".markdown": "md", ".json": "json"}


def register(app: typer.Typer) -> None:
    @app.command()
    def ocr(
        file: Annotated[Path, typer.Argument(help="scan: .pdf .png .jpg .jpeg .webp .tif .tiff .bmp", exists=True,
                                             dir_okay=False, readable=True)],
        as_json: Annotated[bool, typer.Option("--json", help="print the JSON (pages, blocks, lines, boxes)")] = False,
        pages: Annotated[str | None, typer.Option("--pages", help="pages to read, e.g. 1-3,5 (default all)")] = None,
        out: Annotated[Path | None, typer.Option("-o", "--output", help="write to out.txt, out.md or out.json")] = None,
        dpi: Annotated[int | None, typer.Option("--dpi", help="render PDF pages at this resolution")] = None,
    ) -> None:
        """OCR a scan (文字识别): text in reading order — columns one after another, headings, paragraphs, tables."""
        from hanlin.ocr.inputs import OcrLimits, parse_pages
        from hanlin.ocr.service import ocr_pages, to_json, to_markdown

        fmt = "json" if as_json else "txt"
        if out is not None:
            fmt = FORMATS.get(out.suffix.lower(), "")
            if not fmt:
                raise fail(f"-o must end in .txt, .md or .json (got '{out.name}')")
        settings = settings_from(ocr_dpi=dpi)
        limits = OcrLimits.from_settings(settings)
        t0 = time.perf_counter()
        done = []
        try:
            wanted = parse_pages(pages)
            with progress_bar() as bar:
                task = bar.add_task(f"OCR {file.name}", total=len(wanted) if wanted else None)

                def prog(i: int, total: int, stage: str) -> None:
                    bar.update(task, completed=i, total=total if wanted else None,
                               description=f"{file.name} · {stage}")
                for page in ocr_pages(file.read_bytes(), file.name, limits, wanted, settings.n_threads, prog):
                    done.append(page)
        except HanlinError as e:
            raise fail(e.message) from None
        result = to_json(done, time.perf_counter() - t0)
        text = {"json": lambda: json.dumps(result, ensure_ascii=False, indent=2), "md": lambda: to_markdown(done),
                "txt": lambda: result["text"] + "\n"}[fmt]()
        if out is not None:
            out.write_text(text, encoding="utf-8")
            err_console.print(f"[green]wrote[/] {out}")
        if as_json and (out is None or fmt != "json"):
            print_json(result)
        elif out is None:
            print(text, end="")
        err_console.print(f"[dim]{len(done)} page(s), {result['stats']['seconds']} s[/]")
