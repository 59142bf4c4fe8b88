"""The `hanlin` command. Feature command groups register themselves when their module exists."""

from __future__ import annotations

import importlib
import logging

import typer

app = typer.Typer(name="hanlin", help="Hanlin 翰林 — offline-first Chinese enterprise LLM platform.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

CLI_MODULES = [
    "hanlin.cli.serve",
    "hanlin.cli.chat",
    "hanlin.cli.models",
    "hanlin.cli.minutes",
    "hanlin.cli.audio",
    "hanlin.cli.spreadsheet",
    "hanlin.cli.documents",
    "hanlin.cli.knowledge",
    "hanlin.cli.ocr",
    "hanlin.cli.platform",
    "hanlin.cli.evals",
    "hanlin.cli.tuning",
]

for _name in CLI_MODULES:
    try:
        _mod = importlib.import_module(_name)
    except ModuleNotFoundError as _e:
        if _e.name and _name.startswith(_e.name):
            continue
        raise
    _mod.register(app)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
