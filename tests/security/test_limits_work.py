"""Issue 15 item 3: formula length/depth limits (4xx, never a RecursionError 500), CPU work off the event loop with
a deadline, and /health answering while a heavy request runs."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest

from hanlin.errors import UnprocessableInput
from hanlin.offload import run_cpu


def _explain(client: Any, formula: str) -> Any:
    return client.post("/v1/apps/formula/explain", json={"formula": formula})


def test_formula_length_and_depth_are_limited(fake_client: Any) -> None:
    long = "=" + "+".join(f"A{i}" for i in range(1, 50_001))
    r = _explain(fake_client, long)
    assert r.status_code == 400 and "HANLIN_MAX_FORMULA_CHARS" in r.json()["error"]["message"]
    deep = "=" + "SUM(" * 1200 + "1" + ")" * 1200  # under the length limit, far over the depth limit
    r = _explain(fake_client, deep)
    assert r.status_code == 400 and "HANLIN_MAX_FORMULA_DEPTH" in r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "formula_too_deep"
    # brackets inside strings do not count; Excel's own 64 levels are fine
    ok = _explain(fake_client, '=LEN("' + "(" * 200 + '")+' + "ABS(" * 60 + "1" + ")" * 60)
    assert ok.status_code == 200, ok.text


def test_work_past_its_deadline_is_answered() -> None:
    stop = threading.Event()
    with pytest.raises(UnprocessableInput) as e:
        asyncio.run(run_cpu(stop.wait, 5, timeout=0.2, what="waiting"))
    stop.set()
    assert "HANLIN_WORK_TIMEOUT_S" in e.value.message


@pytest.mark.e2e
def test_health_answers_while_a_heavy_request_runs(server: Any) -> None:
    """A formula at the length limit takes seconds of CPU to explain; meanwhile /health keeps answering."""
    formula = "=" + "+".join(f"A{i}" for i in range(1, 1450))
    assert len(formula) < 8192
    done: dict[str, Any] = {}

    def heavy() -> None:
        done["status"] = httpx.post(server.url + "/v1/apps/formula/explain", json={"formula": formula},
                                    timeout=600).status_code

    worker = threading.Thread(target=heavy)
    worker.start()
    answered = 0
    while worker.is_alive():
        # generous: a /health stuck behind CPU work on the event loop would not answer for many seconds
        assert httpx.get(server.url + "/health", timeout=5).status_code == 200
        answered += 1
        time.sleep(0.2)
    worker.join()
    assert done["status"] == 200 and answered >= 1
