"""Markdown report + PNG bar chart comparing models side by side across the eval results saved by the runner.

Published reference numbers (from the data READMEs) sit beside ours but in their own, labelled rows/bars: they
were measured by others on the full sets, not by us on these items.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

PUBLISHED_LABEL = "published, not measured"
CJK_FONT_DIRS = ("/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/noto", "/usr/share/fonts")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def config_name(rec: dict[str, Any]) -> str:
    """Suite plus what changes its answers (shots, options, engine kind), e.g. "ceval 0-shot" or
    "cmmlu 5-shot split=dev" or "ceval 0-shot via upstream"."""
    opts = " ".join(f"{k}={v}" for k, v in sorted((rec.get("options") or {}).items()))
    via = rec.get("engine")
    via_text = f" via {via}" if via and via != "llamacpp" else ""  # another scoring mode: not mixed with in-process
    return f"{rec['suite']} {rec.get('shots', 0)}-shot" + (f" {opts}" if opts else "") + via_text


def latest_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (configuration, model): the most recent."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: r.get("finished_at", 0)):
        best[(config_name(r), r["model"])] = r
    return list(best.values())


def _cached_items(rec: dict[str, Any]) -> dict[str, bool]:
    if rec.get("items"):  # as scored (after calibration, where the suite calibrates)
        return {str(k): bool(v) for k, v in rec["items"].items()}
    path = rec.get("cache")
    out: dict[str, bool] = {}
    if not path or not Path(path).exists():
        return out
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
            out[item["id"]] = bool(item["result"].get("correct"))
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError):
            continue
    return out


def common_accuracy(recs: list[dict[str, Any]]) -> tuple[int, dict[str, float]]:
    """Accuracy of each model on the items every model answered (fair when runs had different limits)."""
    items = {r["model"]: _cached_items(r) for r in recs}
    if len(items) < 2 or not all(items.values()):
        return 0, {}
    common = set.intersection(*(set(v) for v in items.values()))
    if not common:
        return 0, {}
    return len(common), {m: sum(v[i] for i in common) / len(common) for m, v in items.items()}


def _suite_section(config: str, recs: list[dict[str, Any]]) -> list[str]:
    models = [r["model"] for r in recs]
    lines = [f"## {config}", ""]
    lines.append("| | " + " | ".join(models) + " |")
    lines.append("|---|" + "---|" * len(models))
    lines.append("| accuracy | " + " | ".join(f"**{_pct(r['metrics'].get('accuracy'))}**" for r in recs) + " |")
    if any("accuracy_uncalibrated" in r["metrics"] for r in recs):
        lines.append("| accuracy, uncalibrated (the plain constrained letter) | " + " | ".join(
            _pct(r["metrics"].get("accuracy_uncalibrated", r["metrics"].get("accuracy"))) for r in recs) + " |")
    lines.append("| items (n) | " + " | ".join(str(r["n"]) for r in recs) + " |")
    lines.append("| mean of subject accuracies | " + " | ".join(
        _pct(r["metrics"].get("subject_mean_accuracy")) for r in recs) + " |")
    lines.append("| chance | " + " | ".join(_pct(r["metrics"].get("chance")) for r in recs) + " |")
    if any("best_constant_accuracy" in r["metrics"] for r in recs):
        lines.append("| always the commonest gold letter | " + " | ".join(
            _pct(r["metrics"].get("best_constant_accuracy")) for r in recs) + " |")
        lines.append("| share of answers that are the model's favourite letter | " + " | ".join(
            _pct(r["metrics"].get("top_letter_share")) for r in recs) + " |")
        if any("top_letter_share_uncalibrated" in r["metrics"] for r in recs):
            lines.append("| ... before calibration | " + " | ".join(
                _pct(r["metrics"].get("top_letter_share_uncalibrated", r["metrics"].get("top_letter_share")))
                for r in recs) + " |")
    lines.append("| invalid answers | " + " | ".join(str(r["metrics"].get("invalid", 0)) for r in recs) + " |")
    n_common, acc_common = common_accuracy(recs)
    if n_common:
        lines.append(f"| accuracy on the {n_common} items all answered | " + " | ".join(
            _pct(acc_common.get(m)) for m in models) + " |")
    lines.append("")
    keys = sorted({k for r in recs for k in r.get("breakdown", {})}, key=lambda k: (not k.startswith("["), k))
    if keys:
        lines += ["<details><summary>per category [..] and subject: accuracy (n)</summary>", "",
                  "| subject | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
        for k in keys:
            cells = []
            for r in recs:
                b = r.get("breakdown", {}).get(k)
                cells.append(f"{_pct(b.get('accuracy'))} ({int(b.get('n', 0))})" if b else "–")
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        lines += ["", "</details>", ""]
    published = {k: v for r in recs for k, v in (r.get("published") or {}).items()}
    if published:
        lines += [f"Reference numbers ({PUBLISHED_LABEL}: from the dataset README, other models, full set, "
                  "not comparable item for item):", "", f"| model ({PUBLISHED_LABEL}) | accuracy |", "|---|---|"]
        lines += [f"| {k} | {_pct(v.get('accuracy'))} |" for k, v in published.items()]
        lines.append("")
    notes = sorted({r.get("notes", "") for r in recs if r.get("notes")})
    if notes:
        lines += [f"Notes: {'; '.join(notes)}", ""]
    return lines


def render_markdown(records: list[dict[str, Any]], chart: Path | None) -> str:
    recs = latest_records(records)
    by_config: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in recs:
        by_config[config_name(r)].append(r)
    models = sorted({r["model"] for r in recs})
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Hanlin 模型评测报告 · model evaluation report", "",
             f"Generated {now}. Multiple-choice answers are constrained to the choice letters (grammar/JSON "
             "schema), greedy decoding. Our numbers are measured on the items listed (n); "
             f"rows marked *{PUBLISHED_LABEL}* are copied from the datasets' READMEs.", ""]
    lines += ["## Summary (accuracy, n items)", "", "| suite | " + " | ".join(models) + " |",
              "|---|" + "---|" * len(models)]
    for config, rs in sorted(by_config.items()):
        by_model = {r["model"]: r for r in rs}
        cells = [f"{_pct(by_model[m]['metrics'].get('accuracy'))} ({by_model[m]['n']})" if m in by_model else "–"
                 for m in models]
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    lines.append("")
    if chart:
        lines += [f"![accuracy by suite and model]({chart.name})", ""]
    for config, rs in sorted(by_config.items()):
        lines += _suite_section(config, sorted(rs, key=lambda r: r["model"]))
    return "\n".join(lines) + "\n"


def chart_rows(records: list[dict[str, Any]], max_published: int = 3) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    by_config: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in latest_records(records):
        by_config[config_name(r)].append(r)
    for config, rs in sorted(by_config.items()):
        for r in sorted(rs, key=lambda r: r["model"]):
            rows.append({"suite": config, "series": f"{r['model']} (measured, n={r['n']})",
                         "accuracy": r["metrics"].get("accuracy", 0.0), "kind": "measured"})
        published = {k: v for r in rs for k, v in (r.get("published") or {}).items()}
        for name, v in list(published.items())[:max_published]:
            rows.append({"suite": config, "series": f"{name.split(' (')[0]} ({PUBLISHED_LABEL})",
                         "accuracy": v.get("accuracy", 0.0), "kind": PUBLISHED_LABEL})
        chance = rs[0]["metrics"].get("chance")
        if chance:
            rows.append({"suite": config, "series": "chance", "accuracy": chance, "kind": "chance"})
    return rows


def render_chart(records: list[dict[str, Any]], path: Path) -> Path:
    """Grouped horizontal bars per suite: measured models in colour, published references grey."""
    import altair as alt
    import vl_convert as vlc

    for d in CJK_FONT_DIRS:
        if Path(d).is_dir():
            try:
                vlc.register_font_directory(d)
            except Exception:  # noqa: BLE001 - a font folder that cannot be read only costs glyphs
                continue
            break
    rows = chart_rows(records)
    kinds = ["measured", PUBLISHED_LABEL, "chance"]
    color = alt.Color("kind:N", title=None, scale=alt.Scale(domain=kinds, range=["#2f6db5", "#b0b0b0", "#e0e0e0"]),
                      legend=alt.Legend(orient="bottom"))
    bars = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        y=alt.Y("series:N", title=None, sort=None, axis=alt.Axis(labelLimit=420)),
        x=alt.X("accuracy:Q", title="accuracy", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=color,
        tooltip=["suite:N", "series:N", alt.Tooltip("accuracy:Q", format=".1%")],
    )
    text = bars.mark_text(align="left", dx=3, fontSize=10).encode(
        text=alt.Text("accuracy:Q", format=".1%"), color=alt.value("black"))
    chart = (bars + text).properties(width=460).facet(
        row=alt.Row("suite:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left", labelFontSize=12))
    ).resolve_scale(y="independent").properties(
        title=f"Accuracy by suite: blue = measured here, grey = {PUBLISHED_LABEL}")
    path.write_bytes(vlc.vegalite_to_png(chart.to_dict(), scale=2))
    return path


def build_report(records: list[dict[str, Any]], output: Path) -> dict[str, Any]:
    """Write ``output`` (Markdown) and ``output``.png beside it; returns their paths and the summary rows."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    chart_path: Path | None = output.with_suffix(".png")
    try:
        render_chart(records, chart_path)  # type: ignore[arg-type]
    except Exception as e:  # noqa: BLE001 - the Markdown report is still useful without the picture
        chart_path = None
        chart_error = f"{type(e).__name__}: {e}"
    else:
        chart_error = ""
    output.write_text(render_markdown(records, chart_path), encoding="utf-8")
    summary = [{"suite": r["suite"], "config": config_name(r), "model": r["model"], "n": r["n"],
                "accuracy": r["metrics"].get("accuracy")} for r in latest_records(records)]
    out: dict[str, Any] = {"report": str(output), "chart": str(chart_path) if chart_path else None,
                           "results": summary}
    if chart_error:
        out["chart_error"] = chart_error
    return out
