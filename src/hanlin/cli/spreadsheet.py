"""`hanlin formula "REQUEST" --sheet FILE`, `hanlin formula explain "=..."`, `hanlin formula functions`,
`hanlin chart FILE [--ask TEXT] -o OUT`.

``formula`` is a group whose default action takes the REQUEST: ``hanlin formula "北京的销售额合计" --sheet a.xlsx``
runs the hidden ``run`` subcommand; ``explain`` and ``functions`` are ordinary subcommands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from hanlin.cli.common import (
    err_console,
    local_engine,
    out_console,
    print_json,
    run,
    settings_from,
    stage_progress,
)


class DefaultToRun(TyperGroup):
    """Route ``formula ARGS`` to the ``run`` subcommand unless ARGS starts with a subcommand name or --help."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


formula_app = typer.Typer(cls=DefaultToRun, no_args_is_help=True, add_completion=False,
                          help="Excel formulas: generate & verify on the real sheet, explain, browse functions.")


def _print_formula(d: dict[str, Any]) -> None:
    mark = "[green]✓ verified[/]" if d["verified"] else "[red]✗ not verified[/]"
    out_console.print(f"[bold]{d['formula']}[/]  {mark}")
    out_console.print(f"值 value: {d['value']!r}    单元格 target: {d.get('sheet')}!{d.get('target')}"
                      + (f" → {d['fill_to']}" if d.get("fill_to") else "") + f"    attempts: {d['attempts']}")
    for p in d.get("problems") or []:
        out_console.print(f"[yellow]problem:[/] {p}")
    if d.get("explanation"):
        out_console.print(d["explanation"], markup=False)
    if d.get("output"):
        out_console.print(f"written: {d['output']}")


@formula_app.command("run", hidden=True, help="Generate a formula for REQUEST and verify it on the sheet.")
def formula_run(
    request: str = typer.Argument(..., help="what to compute, Chinese or English"),
    sheet: Path = typer.Option(..., "--sheet", help="the workbook (.xlsx) or .csv"),
    sheet_name: str | None = typer.Option(None, "--sheet-name", help="worksheet (default: the first)"),
    target: str | None = typer.Option(None, "--target", help="cell for the formula, e.g. H2 (default: right "
                                                             "of the table)"),
    write: Path | None = typer.Option(None, "--write", help="save a copy of the workbook with the formula written "
                                                           "in (filled down for per-row formulas)"),
    lang: str = typer.Option("zh", "--lang", help="explanation language: zh or en"),
    attempts: int = typer.Option(3, "--attempts", min=1, max=6, help="model attempts before giving up"),
    model: str | None = typer.Option(None, "--model", "-m"),
    url: str | None = typer.Option(None, "--url", help="use a running Hanlin server (or HANLIN_URL)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    from hanlin.apps.formulas.generate import make_formula, write_output
    from hanlin.apps.formulas.workbook import load_workbook_info

    settings = settings_from()

    async def go() -> dict[str, Any]:
        info = load_workbook_info(sheet)  # fail fast on a bad file, before loading a model
        info.sheet(sheet_name)
        engine = await local_engine(settings, model, url)
        try:
            with stage_progress("formula") as update:
                result = await make_formula(engine, request, sheet, sheet_name, target, lang=lang,
                                            max_attempts=attempts, progress=update)
        finally:
            await engine.close()
        if write is not None and result.formula:
            result.output = write_output(result, info, write, label=request)
        return result.to_dict()

    d = run(go())
    print_json(d) if as_json else _print_formula(d)
    if not d["verified"]:
        raise typer.Exit(2)


@formula_app.command("explain", help="Explain a formula: every function (nested too) and reference.")
def formula_explain(
    formula: str = typer.Argument(..., help='the formula, e.g. "=SUMIFS(C:C,A:A,\\"北京\\")"'),
    lang: str = typer.Option("zh", "--lang", help="zh or en"),
    sheet: Path | None = typer.Option(None, "--sheet", help="name the columns a reference points at"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from hanlin.apps.formulas.explain import explain
    from hanlin.apps.formulas.workbook import load_workbook_info
    from hanlin.errors import HanlinError

    try:
        info = load_workbook_info(sheet) if sheet else None
        d = explain(formula, lang, info)
    except HanlinError as e:
        err_console.print(f"[bold red]error:[/] {e.message}")
        raise typer.Exit(1) from None
    print_json(d) if as_json else out_console.print(d["explanation"], markup=False)


@formula_app.command("functions", help="Browse the Excel function catalogue.")
def formula_functions(
    search: str | None = typer.Option(None, "--search", "-s", help="text in the name or description"),
    category: str | None = typer.Option(None, "--category", help="e.g. 统计, 文本, 日期与时间, 查找与引用"),
    executable: bool = typer.Option(False, "--executable", help="only functions the verifier can execute"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    from rich.markup import escape
    from rich.table import Table

    from hanlin.apps.formulas.catalogue import catalogue

    cat = catalogue()
    hits = cat.search(search or "", category, executable_only=executable)
    if as_json:
        print_json({"stats": cat.stats(), "functions": [e.to_dict() for e in hits]})
        return
    table = Table(title=f"{len(hits)} of {len(cat)} functions ({cat.stats()['executable']} executable by the "
                        "verifier)")
    for col in ("name", "category", "syntax", "说明", "verifier"):
        table.add_column(col)
    for e in hits:
        table.add_row(e.name, e.category, escape(e.syntax), escape(e.description), "✓" if e.executable else "—")
    out_console.print(table)


def chart(
    file: Path = typer.Argument(..., help="data.csv or data.xlsx"),
    output: Path = typer.Option(..., "-o", "--output", help="chart.png, chart.svg or chart.html"),
    ask: str | None = typer.Option(None, "--ask", help="what to chart; without it up to 3 charts are recommended"),
    sheet_name: str | None = typer.Option(None, "--sheet-name"),
    model: str | None = typer.Option(None, "--model", "-m"),
    url: str | None = typer.Option(None, "--url", help="use a running Hanlin server (or HANLIN_URL)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Chart a table: profile it, choose charts (rules, or the model for --ask), render Vega-Lite."""
    from hanlin.apps.charts.app import make_charts
    from hanlin.apps.charts.profile import load_table
    from hanlin.apps.charts.render import format_of

    settings = settings_from()

    async def go() -> dict[str, Any]:
        format_of(output)
        table = load_table(file, sheet_name)
        engine = await local_engine(settings, model, url) if ask else None
        try:
            with stage_progress("chart") as update:
                return await make_charts(table, output, ask=ask, engine=engine, progress=update)
        finally:
            if engine is not None:
                await engine.close()

    d = run(go())
    if as_json:
        print_json({k: v for k, v in d.items() if k != "profile"})
        return
    for c in d["charts"]:
        out_console.print(f"{c['chart_type']}: {c['output']}  ({c['spec'].get('title')})")
    for n in d.get("notes") or []:
        err_console.print(f"[dim]{n}[/]")


def register(app: typer.Typer) -> None:
    app.add_typer(formula_app, name="formula")
    app.command("chart")(chart)
