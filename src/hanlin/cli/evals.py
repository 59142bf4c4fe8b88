"""`hanlin eval SUITE`, `hanlin eval list`, `hanlin eval report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from hanlin.cli.common import (
    err_console,
    fail,
    local_engine,
    out_console,
    print_json,
    progress_bar,
    run,
    settings_from,
)
from hanlin.evals.runner import RunSpec, load_results, run_eval
from hanlin.evals.suites import load_suites

HELP = ("Run a public Chinese benchmark against a model (ceval, cmmlu, ocnli, cluewsc, chid, ...). "
        "SUITE may also be 'list' (the suites) or 'report' (combine cached results into Markdown + PNG).")


def parse_options(pairs: list[str], split: str | None, task: str | None) -> dict[str, Any]:
    """--option k=v (repeatable) plus --split/--task into the options dict suites read."""
    opts: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise fail(f"--option takes key=value, got '{pair}'")
        k, v = pair.split("=", 1)
        opts[k.strip()] = v.strip()
    if split:
        opts["split"] = split
    if task:
        opts["task"] = task
    return opts


def list_suites(json_out: bool) -> None:
    suites = load_suites()
    rows = [{"name": s.name, "description": s.description, "data": s.data} for s in sorted(suites.values(),
                                                                                          key=lambda s: s.name)]
    if json_out:
        print_json({"suites": rows})
        return
    table = Table("suite", "data folder", "description")
    for r in rows:
        table.add_row(r["name"], r["data"], r["description"])
    out_console.print(table)


def write_report(home: Path, output: Path, json_out: bool, suites: list[str] | None = None) -> None:
    from hanlin.evals.report import build_report

    records = load_results(home)
    if suites:
        records = [r for r in records if r.get("suite") in suites]
    if not records:
        raise fail(f"No eval results under {home / 'evals' / 'results'}: run `hanlin eval SUITE` first.")
    out = build_report(records, output)
    if json_out:
        print_json(out)
    else:
        err_console.print(f"report: {out['report']}" + (f"  chart: {out['chart']}" if out.get("chart") else ""))


def print_result(rec: dict[str, Any]) -> None:
    m = rec["metrics"]
    out_console.print(f"[bold]{rec['suite']}[/] · {rec['model']} · {rec['shots']}-shot · n={rec['n']}  "
                      f"accuracy [bold]{m.get('accuracy', 0):.1%}[/] ({m.get('correct', '?')}/{rec['n']}), "
                      f"chance {m.get('chance', 0):.0%}, invalid {m.get('invalid', 0)}")
    table = Table("subject / [category]", "n", "accuracy")
    for name, b in rec.get("breakdown", {}).items():
        table.add_row(name, str(int(b.get("n", 0))), f"{b.get('accuracy', 0):.1%}")
    out_console.print(table)
    if rec.get("published"):
        out_console.print("[dim]published, not measured (full sets, other models): " + ", ".join(
            f"{k} {v.get('accuracy', 0):.1%}" for k, v in list(rec["published"].items())[:4]) + " …[/]")


async def _run(spec: RunSpec, settings: Any, url: str | None) -> dict[str, Any]:
    engine = await local_engine(settings, spec.model, url)
    try:
        with progress_bar(transient=False) as bar:
            task = bar.add_task(f"eval {spec.suite}", total=None)

            def progress(done: int, total: int, stage: str) -> None:
                bar.update(task, completed=done, total=total, description=f"eval {stage or spec.suite}")

            return await run_eval(engine, spec, settings.home, progress)
    finally:
        await engine.close()


def register(app: typer.Typer) -> None:
    @app.command("eval", help=HELP)
    def eval_cmd(
        suite: Annotated[str, typer.Argument(help="suite name, or 'list' / 'report'")],
        model: Annotated[str | None, typer.Option("--model", "-m", help="model (default HANLIN_MODEL)")] = None,
        limit: Annotated[int | None, typer.Option("--limit", "-n", help="evaluate the first N items")] = None,
        shots: Annotated[int, typer.Option("--shots", "-k", help="few-shot exemplars per question")] = 0,
        data: Annotated[Path | None, typer.Option("--data", help="folder with the eval sets")] = None,
        split: Annotated[str | None, typer.Option("--split", help="data split (suite-specific)")] = None,
        task: Annotated[str | None, typer.Option("--task", help="subject(s)/task, comma-separated")] = None,
        option: Annotated[list[str] | None, typer.Option("--option", "-O", help="suite option key=value")] = None,
        parallel: Annotated[int | None, typer.Option("--parallel", help="items in flight (default: slots)")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
        output: Annotated[Path | None, typer.Option("--output", "-o", help="write a Markdown report")] = None,
        url: Annotated[str | None, typer.Option("--url", help="a running Hanlin/OpenAI server")] = None,
    ) -> None:
        settings = settings_from(eval_data=data)
        if suite == "list":
            list_suites(json_out)
            return
        if suite == "report":
            write_report(settings.home, output or Path("eval-report.md"), json_out,
                         [s.strip() for s in task.split(",")] if task else None)
            return
        if suite not in load_suites():
            raise fail(f"Unknown eval suite '{suite}'. Suites: {', '.join(sorted(load_suites()))} "
                       "(or 'list', 'report').")
        spec = RunSpec(suite=suite, model=model or settings.model, limit=limit, shots=shots,
                       options=parse_options(option or [], split, task), data_dir=data, concurrency=parallel)
        rec = run(_run(spec, settings, url))
        if output:
            from hanlin.evals.report import build_report

            records = [r for r in load_results(settings.home) if r.get("suite") == suite]
            rec["report"] = build_report(records or [rec], output)
        if json_out:
            print_json(rec)
        else:
            print_result(rec)
            if output:
                err_console.print(f"report: {rec['report']['report']}")
