"""`hanlin ad`: ad copy within a platform's limits."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hanlin.cli.common import local_engine, print_json, run, settings_from, stage_progress


async def _ad(product: str, platform: str, n: int, model: str | None, url: str | None) -> dict[str, Any]:
    from hanlin.apps.ads.app import AdRequest, make_ads

    req = AdRequest(product=product, platform=platform, n=n)
    req.validate()
    settings = settings_from(model=model)
    with stage_progress(f"广告文案 · {platform}") as update:
        update(0.05, "loading model")
        engine = await local_engine(settings, model, url)
        try:
            update(0.2, f"writing {n} variants")
            result = await make_ads(engine, req)
        finally:
            await engine.close()
        update(1.0, "done")
    return result


def _print_ad(result: dict[str, Any]) -> None:
    lim = result["limits"]
    typer.echo(f"{result['platform']}（标题 ≤ {lim['title']} 字，正文 ≤ {lim['text']} 字）" if lim["title"]
               else f"{result['platform']}（正文 ≤ {lim['text']} 字）")
    for i, v in enumerate(result["variants"], 1):
        typer.echo(f"\n[{i}] " + (f"{v['title']}\n    " if v.get("title") else "") + v["text"])
        typer.echo(f"    长度 {v['length']}  {'✓ 未超限' if v['within_limits'] else '✗ 超限'}")
        if v["flagged"]:
            terms = "、".join(sorted({f['term'] for f in v['flagged']}))
            typer.echo(f"    ⚠ 原稿含绝对化用语：{terms}；已改写（{v['rewritten_by']}）")
        if v["banned_terms"]:
            typer.echo(f"    ✗ 仍含：{'、'.join(v['banned_terms'])}")


def register(app: typer.Typer) -> None:
    @app.command("ad")
    def ad(
        product: Annotated[str, typer.Option("--product", "-p", help="product and selling points")],
        platform: Annotated[str, typer.Option("--platform", help="朋友圈|公众号|抖音|小红书|搜索广告")] = "朋友圈",
        n: Annotated[int, typer.Option("--n", "-n", help="number of variants")] = 3,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
        model: Annotated[str | None, typer.Option(help="model name")] = None,
        url: Annotated[str | None, typer.Option(help="a running Hanlin server (else in-process)")] = None,
    ) -> None:
        """Ad copy variants within the platform's length limits, free of the Advertising Law's absolute terms."""
        result = run(_ad(product, platform, n, model, url))
        print_json(result) if as_json else _print_ad(result)
