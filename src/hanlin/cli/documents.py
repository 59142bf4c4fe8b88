"""`hanlin doc`: GB/T 9704 公文."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hanlin.cli.common import err_console, fail, local_engine, print_json, run, settings_from, stage_progress

TYPE_HELP = "通知|请示|报告|函|纪要|通报|意见|决定"


async def _doc(args: dict[str, Any], output: Path, model: str | None, url: str | None) -> dict[str, Any]:
    from hanlin.apps.documents.app import DocRequest, make_document, render_and_check

    req = DocRequest(**args)
    req.validate()
    settings = settings_from(model=model)
    with stage_progress(f"{req.doc_type}") as update:
        update(0.05, "loading model")
        engine = await local_engine(settings, model, url)
        try:
            update(0.15, "drafting content")
            doc, usage = await make_document(engine, req)
        finally:
            await engine.close()
        update(0.85, "laying out and checking")
        result = render_and_check(doc, output, req.fmt)
        update(1.0, "done")
    result["usage"] = usage
    return result


MAX_BRIEF = 4000  # DocRequest's limit on the brief


def _with_background(brief: str, file: Path) -> str:
    """The brief followed by the reference document's text (a scan is OCR'd), cut to the brief's limit."""
    from hanlin.errors import HanlinError
    from hanlin.ocr.inputs import OcrLimits
    from hanlin.ocr.kb import file_text

    settings = settings_from()
    try:
        with stage_progress(f"reading {file.name}") as update:
            text = file_text(file.read_bytes(), file.name, OcrLimits.from_settings(settings), settings.n_threads,
                             lambda i, n, stage: update(i / max(n, 1), stage))
    except HanlinError as e:
        raise fail(e.message) from None
    head = f"{brief.strip()}\n\n背景材料（{file.name}）：\n"
    room = MAX_BRIEF - len(head)
    if len(text) > room:
        err_console.print(f"[yellow]background cut to its first {max(room, 0)} of {len(text)} characters[/]")
    return head + text[:max(room, 0)]


def _print_doc(result: dict[str, Any]) -> None:
    typer.echo(f"{result['type']} → {result['output']}")
    for name, ok in result["checks"].items():
        mark = "✓" if ok else "✗"
        why = "" if ok else f"  {result['problems'].get(name, '')}"
        typer.echo(f"  {mark} {name}{why}")
    if result.get("pdf_skipped"):
        err_console.print(f"[yellow]PDF skipped:[/] {result['pdf_skipped']}")


def register(app: typer.Typer) -> None:
    @app.command("doc")
    def doc(
        doc_type: Annotated[str, typer.Option("--type", "-t", help=TYPE_HELP)],
        brief: Annotated[str, typer.Option("--brief", "-b", help="what the document is about")],
        output: Annotated[Path, typer.Option("-o", "--output", help="output file (.docx, .md, .txt, .pdf)")],
        org: Annotated[str, typer.Option("--org", help="发文机关 (版头 and 署名)")] = "",
        number: Annotated[str, typer.Option("--number", help="发文字号, e.g. 国办发〔2026〕12号")] = "",
        to: Annotated[str, typer.Option("--to", help="主送机关, several separated by 、")] = "",
        date: Annotated[str, typer.Option("--date", help="成文日期 (default today), e.g. 2026-05-08")] = "",
        signer: Annotated[str, typer.Option("--signer", help="签发人 (请示/报告)")] = "",
        fmt: Annotated[str | None, typer.Option("--format", "-f", help="docx|md|txt|pdf (default: from -o)")] = None,
        background: Annotated[Path | None, typer.Option(
            "--background", help="a reference document as background: a scan or photo (OCR'd), pdf, docx, txt...",
            exists=True, dir_okay=False, readable=True)] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
        model: Annotated[str | None, typer.Option(help="model name")] = None,
        url: Annotated[str | None, typer.Option(help="a running Hanlin server (else in-process)")] = None,
    ) -> None:
        """Draft a 公文 and lay it out per GB/T 9704-2012; checks read the saved file back."""
        from hanlin.apps.documents.app import split_recipients

        if background is not None:
            brief = _with_background(brief, background)

        fmt = fmt or (output.suffix.lstrip(".").lower() if output.suffix else "docx")
        args = {"doc_type": doc_type, "brief": brief, "org": org, "number": number, "to": split_recipients(to),
                "date": date, "signer": signer, "fmt": fmt}
        result = run(_doc(args, output, model, url))
        print_json(result) if as_json else _print_doc(result)
