"""`hanlin minutes FILE`: meeting minutes with cited, verified items (Markdown, .docx or JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hanlin.audio.service import is_audio_name
from hanlin.cli.audio import read_hotwords, transcribe_with_bar
from hanlin.cli.common import err_console, fail, local_engine, print_json, run, settings_from, stage_progress

FORMATS = ("md", "docx", "json")


async def _make(file: Path, instruction: str | None, model: str | None, url: str | None,
                title: str | None, *, speakers: int | None = None, hotwords: list[str] | None = None,
                language: str | None = "zh", read_all: bool = False) -> dict[str, Any]:
    from hanlin.apps.minutes.pipeline import Options, make_minutes
    from hanlin.apps.minutes.transcript import parse_transcript

    transcription = None
    if is_audio_name(file.name):  # a recording: transcribe (speakers, timestamps) first
        from hanlin.audio.minutes import to_transcript

        transcription = transcribe_with_bar(file, language=language, speakers=speakers, hotwords=hotwords or [])
        transcript = to_transcript(transcription)
    else:
        transcript = parse_transcript(*_scanned_or_raw(file))
    err_console.print(f"[dim]{len(transcript.utterances)} utterances, {transcript.chars} characters, "
                      f"{len(transcript.speakers)} speakers ({transcript.source_format})[/]")
    settings = settings_from(model=model)
    await _reachable(url or settings.url)
    engine = await local_engine(settings, model, url)
    try:
        with stage_progress("纪要") as update:
            opts = Options(instruction=instruction, title=title,
                           read_chars=0 if read_all else settings.minutes_read_chars)
            result = await make_minutes(engine, transcript, opts, progress=update)
        if transcription is not None:
            from hanlin.audio.minutes import line_stamps

            result["transcription"] = {k: transcription[k] for k in
                                       ("duration_s", "language", "speakers", "stats", "corrections")}
            result["line_stamps"] = line_stamps(transcript)
        return result
    finally:
        await engine.close()


async def _reachable(url: str | None) -> None:
    """Fail at once, with the reason, when ``--url`` names a server that does not answer."""
    if not url:
        return
    import httpx

    base = url.rstrip("/").removesuffix("/v1")
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            await client.get(base + "/health")
    except httpx.HTTPError as e:
        raise fail(f"Cannot reach the Hanlin server at {url} ({type(e).__name__}: {e}). Start it with "
                   "`hanlin serve`, or leave out --url to load the model in-process.") from None


def _scanned_or_raw(file: Path) -> tuple[bytes | str, str]:
    """A scanned or photographed transcript (.pdf/.png/.jpg...) is OCR'd first, one printed line per line."""
    from hanlin.ocr.inputs import OcrLimits, is_ocr_type

    if not is_ocr_type(file.name):
        return file.read_bytes(), file.name
    from hanlin.ocr.service import scan_text

    settings = settings_from()
    with stage_progress(f"OCR {file.name}") as update:
        text = scan_text(file.read_bytes(), file.name, OcrLimits.from_settings(settings), settings.n_threads,
                         lambda i, n, stage: update(i / max(n, 1), stage), by_line=True)
    return text, file.stem + ".txt"


def _output(result: dict[str, Any], fmt: str, out: Path | None, file: Path, as_json: bool) -> None:
    from hanlin.apps.minutes import render

    if out is None and fmt == "docx":
        out = Path.cwd() / f"{file.stem}.纪要.docx"
    if out is not None:
        render.write(result, fmt, out)
        result["output"] = str(out)
        err_console.print(f"[green]wrote[/] {out}")
    if as_json or (out is None and fmt == "json"):
        print_json(result)
    elif out is None:
        print(render.to_markdown(result))
    c = result.get("counts") or {}
    err_console.print(f"[dim]{c.get('decisions', 0)} decisions, {c.get('action_items', 0)} action items, "
                      f"{c.get('views', 0)} views shown ({c.get('from_code', 0)} found by code), all verified; "
                      f"{c.get('dropped', 0)} dropped; {result['stats']['timings_s']['total']} s[/]")


def register(app: typer.Typer) -> None:
    @app.command()
    def minutes(
        file: Annotated[Path, typer.Argument(help="transcript (.txt/.srt/.vtt/.docx/.json), a scan of one "
                                             "(.pdf/.png/.jpg/...) or a recording (.wav/.mp3/.m4a/.ogg/.webm/.mp4)",
                                             exists=True,
                                             dir_okay=False, readable=True)],
        instruction: Annotated[str | None, typer.Option(
            "--instruction", "-i", help="e.g. 只整理预算相关讨论 / 按发言人整理 / 只看前一小时 / 列出所有待办")] = None,
        format: Annotated[str | None, typer.Option("--format", "-f", help="md | docx | json")] = None,
        out: Annotated[Path | None, typer.Option("-o", "--output", help="write the minutes to this file")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the minutes JSON on stdout")] = False,
        title: Annotated[str | None, typer.Option(help="use this title instead of the model's")] = None,
        model: Annotated[str | None, typer.Option(help="model name")] = None,
        url: Annotated[str | None, typer.Option(help="a running Hanlin server (else in-process)")] = None,
        speakers: Annotated[int | None, typer.Option("--speakers", min=1, max=20,
                                                     help="recordings: number of speakers")] = None,
        hotwords: Annotated[list[str] | None, typer.Option("--hotwords", help="recordings: names/terms")] = None,
        language: Annotated[str, typer.Option("--language", help="recordings: spoken language")] = "zh",
        read_all: Annotated[bool, typer.Option("--read-all", help="the model reads every line of a long meeting "
                                               "(else past HANLIN_MINUTES_READ_CHARS it reads a condensed one; "
                                               "slow on a CPU)")] = False,
    ) -> None:
        """Meeting minutes (会议纪要): chapters, each speaker's views, decisions, action items — every item cited."""
        fmt = format or (out.suffix.lstrip(".").lower() if out is not None and out.suffix else "md")
        if fmt == "markdown":
            fmt = "md"
        if fmt not in FORMATS:
            raise fail(f"--format must be one of {', '.join(FORMATS)} (got '{fmt}').")
        result = run(_make(file, instruction, model, url, title, speakers=speakers,
                           hotwords=read_hotwords(hotwords, None), language=None if language == "auto" else language,
                           read_all=read_all))
        _output(result, fmt, out, file, as_json)
