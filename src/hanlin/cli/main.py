"""The `hanlin` command: every command group registers itself on the one typer app."""

from __future__ import annotations

import logging

import typer

from hanlin.cli import (
    ads,
    audio,
    chat,
    documents,
    evals,
    knowledge,
    minutes,
    models,
    ocr,
    platform,
    serve,
    spreadsheet,
    tuning,
)

app = typer.Typer(name="hanlin", help="Hanlin 翰林 — offline-first Chinese enterprise LLM platform.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

for _group in (serve, chat, models, minutes, audio, spreadsheet, documents, ads, knowledge, ocr, platform, evals,
               tuning):
    _group.register(app)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
