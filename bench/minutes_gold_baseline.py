"""Score an older Hanlin's minutes on the minutes-gold meetings (the "previous version" column in docs/minutes.md).

Step 1, with the OLD code first on the path, writes the minutes JSON of each meeting::

    git worktree add /tmp/hanlin-old 5df8471
    PYTHONPATH=/tmp/hanlin-old/src python bench/minutes_gold_baseline.py run --out /tmp/old-minutes

Step 2, with this checkout's code, scores them exactly as ``hanlin eval minutes-gold`` scores its own::

    PYTHONPATH=$PWD/src python bench/minutes_gold_baseline.py score --out /tmp/old-minutes

(--gold FOLDER: another set in the same layout.) Numbers depend on the machine's load only through seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

GOLD = Path(__file__).resolve().parents[1] / "src" / "hanlin" / "evals" / "minutes_gold"


async def _run(gold: Path, out: Path, model: str) -> None:
    from hanlin.apps.minutes.pipeline import Options, make_minutes
    from hanlin.apps.minutes.transcript import parse_transcript
    from hanlin.config import Settings
    from hanlin.engine.manager import EngineManager

    settings = Settings()
    manager = EngineManager(settings)  # an old checkout's get(model); this one's load(model)
    engine = await (manager.load(model) if hasattr(manager, "load") else manager.get(model))
    out.mkdir(parents=True, exist_ok=True)
    meetings = json.loads((gold / "gold.json").read_text(encoding="utf-8"))["meetings"]

    async def one(g: dict[str, Any]) -> None:  # side by side; each file is written as soon as it is done
        t0 = time.perf_counter()
        transcript = parse_transcript((gold / g["file"]).read_bytes(), g["file"])
        m = await make_minutes(engine, transcript, Options())
        m["bench_seconds"] = round(time.perf_counter() - t0, 1)
        (out / f"{g['id']}.json").write_text(json.dumps(m, ensure_ascii=False, indent=1), encoding="utf-8")
        print(g["id"], m["bench_seconds"], "s", file=sys.stderr, flush=True)

    await asyncio.gather(*(one(g) for g in meetings))
    await engine.close()


def _score(gold: Path, out: Path) -> None:
    from hanlin.evals.minutes_gold import aggregate, load_gold, score_meeting

    recs = []
    for g in load_gold(gold):
        path = out / f"{g['id']}.json"
        if not path.exists():
            print(g["id"], "not run (no minutes file)")
            continue
        m = json.loads(path.read_text(encoding="utf-8"))
        rec = score_meeting(g, m)
        rec["seconds"] = m.get("bench_seconds", 0)
        recs.append(rec)
        print(g["id"], {k: v for k, v in rec.items() if k not in ("missed", "listed")})
    metrics = aggregate(recs)
    metrics["seconds_per_meeting"] = sum(r["seconds"] for r in recs) / len(recs)
    print(json.dumps(metrics, ensure_ascii=False, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("run", "score"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--gold", type=Path, default=GOLD)
    ap.add_argument("--model", default=os.environ.get("HANLIN_MODEL", "qwen2.5-coder-1.5b-instruct"))
    a = ap.parse_args()
    if a.step == "run":
        asyncio.run(_run(a.gold, a.out, a.model))
    else:
        _score(a.gold, a.out)


if __name__ == "__main__":
    main()
