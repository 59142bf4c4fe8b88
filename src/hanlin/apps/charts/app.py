"""Charts from table contents: profile → (rules | model constrained to real columns) → Vega-Lite → render."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hanlin.apps.charts.profile import Table, load_table
from hanlin.apps.charts.recommend import ask_hints, recommend, repair_intent
from hanlin.apps.charts.render import format_of, render, render_bytes
from hanlin.apps.charts.spec import CHART_TYPES, ChartIntent, build_vegalite, intent_schema
from hanlin.engine.ask import ask_json
from hanlin.engine.base import Engine
from hanlin.engine.manager import EngineManager
from hanlin.errors import BadRequest, UnprocessableInput
from hanlin.offload import run_cpu
from hanlin.principal import Principal

log = logging.getLogger(__name__)
APP_SCOPE = "app:chart"

SYSTEM = ("你是数据可视化专家。根据表格的列和用户的要求选择图表：chart_type 从 " + ", ".join(CHART_TYPES) +
          " 中选；x、y、color 只能用表格中真实的列名（y 必须是数值列，计数时 y 留空、aggregate 用 count）；"
          "aggregate 是 y 的汇总方式；分组/堆叠图用 color 列；filters 只写用户要求的筛选；title 用中文。只输出 JSON。")


def _table_prompt(table: Table) -> str:
    lines = [f"表格「{table.name}」共 {len(table.rows)} 行，列："]
    for f in table.fields:
        lines.append(f"- {f.name}（{f.vtype}，{f.cardinality} 个不同值，例：{', '.join(str(s) for s in f.samples[:3])}）")
    return "\n".join(lines)


async def choose_intent(engine: Engine, table: Table, ask: str, max_tokens: int = 200
                        ) -> tuple[ChartIntent, list[str]]:
    """The model's chart for ``ask``, repaired to agree with the request and the columns' types."""
    hints = ask_hints(ask, table)
    messages = [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"{_table_prompt(table)}\n要求：{ask}"}]
    notes: list[str] = []
    for attempt in range(2):
        reply = await ask_json(engine, messages, intent_schema(table), name="chart", max_tokens=max_tokens,
                               seed=42 + attempt, on_cut="salvage")
        data, raw = reply.data, reply.raw
        intent = ChartIntent.from_json(data if isinstance(data, dict) else {})
        if intent.x not in table.columns:  # salvaged reply without x: take the first column the request names
            intent.x = (hints.columns or [recommend(table, 1)[0].x])[0]
        notes = repair_intent(intent, hints, table)
        try:
            build_vegalite(table, intent)
            return intent, notes
        except UnprocessableInput as e:
            log.info("chart attempt %d rejected: %s", attempt + 1, e.message)
            messages = [*messages, {"role": "assistant", "content": raw[:1500]},
                        {"role": "user", "content": f"这个图表不成立：{e.message}。请改正后重新输出 JSON。"}]
    fallback = recommend(table, 1)[0]
    return fallback, [*notes, "the model's chart did not validate; used the rule-based recommendation"]


def _numbered(out: Path, i: int) -> Path:
    return out if i == 0 else out.with_name(f"{out.stem}-{i + 1}{out.suffix}")


async def make_charts(table: Table, out: str | Path | None, *, ask: str | None = None, engine: Engine | None = None,
                      fmt: str | None = None, progress: Callable[[float, str], None] | None = None
                      ) -> dict[str, Any]:
    """``{"chart_type", "spec", "output", "charts": [...], "profile": [...]}``; renders to ``out`` (numbered
    ``-2``, ``-3`` for further recommendations) or, without ``out``, returns the bytes base64-encoded."""
    progress = progress or (lambda f, s: None)
    fmt = fmt or (format_of(out) if out else "png")
    notes: list[str] = []
    if ask and ask.strip():
        if engine is None:
            raise BadRequest("--ask needs a model.")
        progress(0.2, "asking the model")
        intent, notes = await choose_intent(engine, table, ask)
        intents = [intent]
    else:
        intents = recommend(table, 3)
    charts = []
    for i, intent in enumerate(intents):
        progress(0.6 + 0.4 * i / len(intents), f"rendering {i + 1}/{len(intents)}")
        spec, data = build_vegalite(table, intent)
        if out:
            output = await run_cpu(render, spec, _numbered(Path(out), i), what="rendering the chart")
        else:
            raw = await run_cpu(render_bytes, spec, fmt, what="rendering the chart")
            mime = {"png": "image/png", "svg": "image/svg+xml", "html": "text/html"}[fmt]
            output = f"data:{mime};base64," + base64.b64encode(raw).decode()
        charts.append({"chart_type": intent.chart_type, "spec": spec, "output": output, "intent": intent.to_json(),
                       "data": data[:200]})
    progress(1.0, "done")
    first = charts[0]
    return {"chart_type": first["chart_type"], "spec": first["spec"], "output": first["output"],
            "charts": charts, "notes": notes, "truncated": table.truncated,
            "profile": [f.to_dict() for f in table.fields]}


class ChartService:
    def __init__(self, engines: EngineManager, work_timeout_s: float) -> None:
        self.engines, self.work_timeout_s = engines, work_timeout_s

    async def create(self, path: Path, *, principal: Principal, ask: str | None, fmt: str,
                        sheet_name: str | None, model: str | None) -> dict[str, Any]:
        table = await run_cpu(load_table, path, sheet_name, timeout=self.work_timeout_s,
                              what="reading the table")
        engine = await self.engines.get(model, principal=principal, app=APP_SCOPE) if ask else None
        return await make_charts(table, None, ask=ask, engine=engine, fmt=fmt)

