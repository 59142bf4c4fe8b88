"""The embedder's input window and its turns: interactive calls go before waiting bulk work."""

from __future__ import annotations

import threading
import time

import numpy as np

from hanlin.engine import embedder as emb
from hanlin.engine.embedder import E5Embedder, Turns


def test_long_input_is_cut_at_the_window_and_reported() -> None:
    e = E5Embedder(threads=2)
    long_text = "翰林院负责起草诏令和编修国史。" * 1100  # ~16,000 characters, ~10x the window
    done = e.embed_counted([long_text, "短句"])
    assert done.truncated == 1
    assert emb.WINDOW_TOKENS < done.tokens <= emb.WINDOW_TOKENS + 20
    shorter = e.embed_counted([long_text[:2000]])  # still over the window: the same first 510 tokens
    assert shorter.truncated == 1 and emb.WINDOW_TOKENS - 2 <= shorter.tokens <= emb.WINDOW_TOKENS
    assert np.allclose(done.vectors[0], shorter.vectors[0], atol=1e-5)  # what was embedded is the window's prefix


def test_interactive_caller_goes_before_waiting_bulk_work() -> None:
    turns = Turns()
    order: list[str] = []
    release = threading.Event()

    def holder() -> None:
        with turns.take(False):
            order.append("running bulk")
            release.wait(10)

    def caller(name: str, interactive: bool) -> None:
        with turns.take(interactive):
            order.append(name)

    t0 = threading.Thread(target=holder)
    t0.start()
    while not order:
        time.sleep(0.01)
    bulk = threading.Thread(target=caller, args=("bulk", False))
    bulk.start()
    time.sleep(0.2)  # the bulk caller is waiting first
    query = threading.Thread(target=caller, args=("query", True))
    query.start()
    time.sleep(0.2)
    release.set()
    for t in (t0, bulk, query):
        t.join(10)
    assert order == ["running bulk", "query", "bulk"]


def test_bulk_work_is_cut_into_runs() -> None:
    runs = list(emb._runs([600] * 10, 0))
    assert all(b - a <= 3 for a, b in runs) and runs[0][0] == 0 and runs[-1][1] == 10
    assert list(emb._runs([600] * 10, 10)) == [(0, 10)]
    assert list(emb._runs([5000], 0)) == [(0, 1)]  # a single over-budget text still forms a run
