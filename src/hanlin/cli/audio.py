"""`hanlin transcribe FILE`: a meeting recording → speaker-labelled, timestamped transcript (offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hanlin.cli.common import err_console, fail, print_json, progress_bar, settings_from
from hanlin.errors import HanlinError

OUT_FORMATS = ("json", "txt", "srt", "vtt")


def read_hotwords(hotwords: list[str] | None, glossary: Path | None) -> list[str]:
    """``--hotwords 达摩院,富士康`` (repeatable, comma/、 separated) plus a glossary file, one term a line."""
    terms: list[str] = []
    for item in hotwords or []:
        terms += [t.strip() for t in item.replace("、", ",").replace("，", ",").split(",") if t.strip()]
    if glossary is not None:
        terms += [line.strip() for line in glossary.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(terms) > 500:
        raise fail(f"{len(terms)} hotwords; at most 500 are used (Whisper's prompt holds ~200 characters).")
    return list(dict.fromkeys(terms))


def transcribe_with_bar(file: Path, *, language: str | None, speakers: int | None,
                        hotwords: list[str]) -> dict[str, Any]:
    from hanlin.audio.service import AudioService

    settings = settings_from()
    svc = AudioService(settings)
    opts = svc.options(language=language, num_speakers=speakers, hotwords=hotwords)
    with progress_bar() as bar:
        model_task = bar.add_task("assembling speech models", total=None, visible=False)
        task = bar.add_task("转写", total=1.0)

        def on_model(done: int, total: int) -> None:
            bar.update(model_task, completed=done, total=total, visible=done < total)

        def on_progress(fraction: float, stage: str) -> None:
            bar.update(task, completed=fraction, description=f"转写 · {stage}")

        try:
            return svc.transcribe_sync(file, opts, on_progress, on_model)
        except HanlinError as e:
            raise fail(e.message) from None
        finally:
            svc.unload()


def register(app: typer.Typer) -> None:
    @app.command()
    def transcribe(
        file: Annotated[Path, typer.Argument(help="recording: wav/mp3/m4a/ogg/webm/mp4…", exists=True,
                                             dir_okay=False, readable=True)],
        as_json: Annotated[bool, typer.Option("--json", help="print the transcript JSON on stdout")] = False,
        speakers: Annotated[int | None, typer.Option("--speakers", min=1, max=20,
                                                     help="number of speakers (default: estimated)")] = None,
        language: Annotated[str, typer.Option("--language", help="spoken language; 'auto' to detect")] = "zh",
        hotwords: Annotated[list[str] | None, typer.Option(
            "--hotwords", help="names/products to get right, comma-separated (repeatable)")] = None,
        glossary: Annotated[Path | None, typer.Option("--glossary", exists=True, dir_okay=False,
                                                      help="file with one glossary term per line")] = None,
        out: Annotated[Path | None, typer.Option("-o", "--output", help="write .srt/.vtt/.txt/.json")] = None,
    ) -> None:
        """Transcribe a recording (语音转写): speakers 发言人1…, timestamps, punctuation, simplified Chinese."""
        from hanlin.audio.formats import render

        fmt = out.suffix.lstrip(".").lower() if out is not None else ("json" if as_json else "txt")
        if fmt not in OUT_FORMATS:
            raise fail(f"-o must end in one of .{', .'.join(OUT_FORMATS)} (got '{out}').")
        result = transcribe_with_bar(file, language=None if language == "auto" else language, speakers=speakers,
                                     hotwords=read_hotwords(hotwords, glossary))
        if out is not None:
            out.write_text(render(result, fmt), encoding="utf-8")
            err_console.print(f"[green]wrote[/] {out}")
        if as_json:
            print_json(result)
        elif out is None:
            print(render(result, "txt"), end="")
        st = result["stats"]
        err_console.print(f"[dim]{result['duration_s']} s of audio, {len(result['speakers'])} speakers, "
                          f"{len(result['segments'])} segments; ASR {st['asr_s']} s, diarization "
                          f"{st['diarization_s']} s (RTF {st['rtf']})[/]")
