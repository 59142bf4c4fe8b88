"""`hanlin kb create|list|delete|add|remove|docs|search` and `hanlin ask --kb` — on the local HANLIN_HOME."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from hanlin.cli.common import err_console, fail, out_console, print_json, progress_bar, run, settings_from
from hanlin.errors import HanlinError
from hanlin.principal import DEFAULT_TENANT

kb_app = typer.Typer(help="Knowledge bases: upload documents, search them, ask with citations.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="one JSON object on stdout")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="tenant that owns the base (local admin use)")]


def _service() -> Any:
    from hanlin.knowledge.service import local_service

    return local_service(settings_from())


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except HanlinError as e:
        raise fail(e.message) from None


@kb_app.command("create")
def create(name: str, description: Annotated[str, typer.Option("--description", "-d")] = "",
           tenant: TenantOpt = DEFAULT_TENANT, json_out: JsonOpt = False) -> None:
    """Create an empty knowledge base."""
    info = _call(_service().create_kb, tenant, name, description)
    print_json(info) if json_out else out_console.print(f"created knowledge base [bold]{name}[/]")


@kb_app.command("list")
def list_kbs(tenant: TenantOpt = DEFAULT_TENANT, json_out: JsonOpt = False) -> None:
    """Knowledge bases with their document and chunk counts."""
    kbs = _call(_service().list_kbs, tenant)
    if json_out:
        print_json({"knowledge_bases": kbs})
        return
    table = Table("name", "documents", "chunks", "description")
    for kb in kbs:
        table.add_row(kb["name"], str(kb["documents"]), str(kb["chunks"]), kb["description"])
    out_console.print(table)


@kb_app.command("delete")
def delete(name: str, tenant: TenantOpt = DEFAULT_TENANT, json_out: JsonOpt = False) -> None:
    """Delete a knowledge base with all its documents and index files."""
    info = _call(_service().delete_kb, tenant, name)
    print_json(info) if json_out else out_console.print(f"deleted knowledge base [bold]{name}[/]")


@kb_app.command("add")
def add(name: str, files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
        meta: Annotated[str, typer.Option("--meta", help='JSON metadata for filters, e.g. {"dept":"财务"}')] = "",
        tenant: TenantOpt = DEFAULT_TENANT, json_out: JsonOpt = False) -> None:
    """Add documents (pdf, docx, xlsx, csv, txt, md, html; scans and images png/jpg/webp/tif/bmp are OCR'd);
    a same-named document is replaced."""
    svc = _service()
    _call(svc.get_kb, tenant, name)
    user_meta = json.loads(meta) if meta else None
    with progress_bar() as bar:
        overall = bar.add_task(f"adding {len(files)} file(s)", total=len(files))

        def prog(done: int, total: int, stage: str) -> None:
            bar.update(overall, completed=done, total=max(total, 1), description=f"adding {total} file(s) · {stage}")
        results = _call(svc.add_documents, tenant, name,
                        [(p.name, (lambda p=p: p.read_bytes())) for p in files], user_meta, prog)
    added = [r for r in results if "error" not in r]
    errors = [{"file": r["name"], "error": r["error"]} for r in results if "error" in r]
    for e in errors:
        err_console.print(f"[red]skipped {e['file']}:[/] {e['error']}")
    if json_out:
        print_json({"added": added, "errors": errors})
    else:
        for d in added:
            note = " (unchanged)" if d.get("unchanged") else " (replaced)" if d["replaced"] else ""
            out_console.print(f"added {d['name']}: {d['chunks']} chunks{note}")
    if errors and not added:
        raise typer.Exit(1)


@kb_app.command("docs")
def docs(name: str, tenant: TenantOpt = DEFAULT_TENANT, json_out: JsonOpt = False) -> None:
    """Documents of a knowledge base."""
    rows = _call(_service().list_documents, tenant, name)
    if json_out:
        print_json({"documents": rows})
        return
    table = Table("id", "name", "chunks", "bytes")
    for d in rows:
        table.add_row(d["id"], d["name"], str(d["chunks"]), str(d["size"]))
    out_console.print(table)


@kb_app.command("remove")
def remove(name: str, doc: Annotated[str, typer.Argument(help="document name or id")],
           tenant: TenantOpt = DEFAULT_TENANT, json_out: JsonOpt = False) -> None:
    """Remove one document (its chunks leave the index at once)."""
    info = _call(_service().remove_document, tenant, name, doc)
    print_json(info) if json_out else out_console.print(f"removed {info['name']}")


def _filters(where: list[str] | None) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for item in where or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise fail(f"--where takes KEY=VALUE, got {item!r}")
        out.setdefault(key, []).append(value)
    return out or None


WhereOpt = Annotated[list[str] | None, typer.Option("--where", help="filter KEY=VALUE (document=, kind=, metadata)")]


@kb_app.command("search")
def search(name: str, query: str, k: Annotated[int, typer.Option("-k", help="results")] = 5,
           where: WhereOpt = None, tenant: TenantOpt = DEFAULT_TENANT, json_out: JsonOpt = False) -> None:
    """Hybrid (BM25 + embeddings) search; prints the best chunks."""
    hits = _call(_service().search, tenant, name, query, k, _filters(where))
    if json_out:
        print_json({"results": [h.to_dict() for h in hits]})
        return
    for i, h in enumerate(hits, 1):
        mark = "" if h.relevant else " [dim](weak)[/]"
        out_console.print(f"[bold]{i}. {h.row.document}[/] · {h.row.heading} · score {h.score:.4f}{mark}")
        out_console.print(f"   {h.row.text[:200]}")


def ask(question: str, kb: Annotated[str, typer.Option("--kb", help="knowledge base")],
        k: Annotated[int, typer.Option("-k")] = 5, rerank: Annotated[bool, typer.Option("--rerank")] = False,
        model: Annotated[str | None, typer.Option("--model")] = None,
        url: Annotated[str | None, typer.Option("--url", help="use a running Hanlin server")] = None,
        max_tokens: Annotated[int, typer.Option("--max-tokens")] = 384, where: WhereOpt = None,
        tenant: TenantOpt = DEFAULT_TENANT, json_out: JsonOpt = False) -> None:
    """Answer QUESTION from a knowledge base, with [n] citations (or 资料中没有找到相关信息)."""
    from hanlin.cli.common import local_engine

    settings = settings_from(model=model)
    svc = _service()
    _call(svc.get_kb, tenant, kb)

    async def go() -> dict[str, Any]:
        engine = await local_engine(settings, model, url)
        try:
            result: dict[str, Any] = await svc.ask(tenant, kb, question, engine, k, _filters(where), rerank,
                                                   max_tokens)
            return result
        finally:
            await engine.close()
    with err_console.status("retrieving and answering…"):
        result = run(go())
    if json_out:
        print_json({k2: result[k2] for k2 in ("answer", "citations", "verified", "repaired", "second_look",
                                                "retrieved") if k2 in result})
        return
    out_console.print(result["answer"])
    for c in result["citations"]:
        page = f"第 {c['page']} 页" if c.get("page") else ""
        source = " · ".join(x for x in (c["document"], page, c.get("heading") or "") if x)
        shown = c.get("quote") or c["text"][:80]
        out_console.print(f"[dim][{c['index']}] {escape(source)}: “{escape(shown)}”[/]")


def register(app: typer.Typer) -> None:
    app.add_typer(kb_app, name="kb")
    app.command("ask")(ask)
