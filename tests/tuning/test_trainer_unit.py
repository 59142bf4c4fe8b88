"""The trainer's checkpoint/resume and the adapter GGUF layout, on a tiny random Qwen2 (no real weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")

from hanlin.tuning import data, export, train  # noqa: E402


class CharTokenizer:
    """Just enough of a tokenizer: one id per character, a ChatML-ish template."""

    eos_token = "\x03"
    pad_token_id = 0

    def apply_chat_template(self, messages: list[dict[str, str]], add_generation_prompt: bool = False,
                            tokenize: bool = False) -> str:
        text = "".join(f"<{m['role']}>{m['content']}\x03" for m in messages)
        return text + ("<assistant>" if add_generation_prompt else "")

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [1 + ord(c) % 250 for c in text]}


def tiny_base(_: str) -> tuple[Any, Any]:
    torch.manual_seed(1)
    cfg = transformers.Qwen2Config(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                   num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256)
    return CharTokenizer(), transformers.Qwen2ForCausalLM(cfg)


def dataset() -> data.Dataset:
    rows = [f'{{"messages": [{{"role": "user", "content": "问题{i}"}}, {{"role": "assistant", "content": "【答】{i * 7}"}}]}}'
            for i in range(6)]
    return data.parse_text("\n".join(rows))


class Crash(Exception):
    pass


def run(out: Path, crash_at: int | None = None) -> dict[str, Any]:
    cfg = train.TuneConfig(base_gguf="unused.gguf", out_dir=str(out), max_steps=4, batch_size=2, rank=2,
                           layers=2, checkpoint_every=2, threads=1, lr=1e-2)

    def report(ev: dict[str, Any]) -> None:
        if crash_at is not None and ev.get("type") == "step" and ev["step"] == crash_at:
            raise Crash()

    return train.Trainer(cfg, dataset(), dataset(), report).run()


def test_resume_after_a_crash_matches_an_uninterrupted_run(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(train, "load_base", tiny_base)
    straight = run(tmp_path / "a")
    with pytest.raises(Crash):
        run(tmp_path / "b", crash_at=2)  # dies right after the step-2 checkpoint, before step 3
    resumed = run(tmp_path / "b")
    assert resumed["resumed_from_step"] == 2 and straight["resumed_from_step"] == 0
    assert [h["step"] for h in resumed["history"]] == [1, 2, 3, 4]
    assert resumed["val"][0]["step"] == 0 and resumed["val"][-1]["step"] == 4
    for key, value in straight["lora"].items():
        assert torch.allclose(value, resumed["lora"][key], atol=1e-5), key
    assert straight["history"][-1]["loss"] < straight["history"][0]["loss"] + 1.0
    # only the top 2 of 3 blocks carry LoRA weights
    assert not any(".layers.0." in k for k in straight["lora"]) and any(".layers.2." in k for k in straight["lora"])


def test_adapter_gguf_has_llamacpp_layout(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(train, "load_base", tiny_base)
    res = run(tmp_path / "c")
    out = tmp_path / "adapter.gguf"
    n = export.write_adapter_gguf(res["lora"], out, arch="qwen2", n_blocks=3, alpha=4.0, name="t")
    assert n == 2 * len(train.TARGET_MODULES)
    reader = gguf.GGUFReader(str(out))

    def field(name: str) -> Any:
        f = reader.fields[name]
        v = f.parts[f.data[0]]
        return bytes(v).decode() if f.types[0] == gguf.GGUFValueType.STRING else float(v[0])

    assert field("general.type") == "adapter" and field("adapter.type") == "lora"
    assert field("general.architecture") == "qwen2" and field("adapter.lora.alpha") == 4.0
    shapes = {t.name: [int(x) for x in t.shape] for t in reader.tensors}
    # GGUF lists dims innermost first: lora_a is (in, rank), lora_b is (rank, out)
    assert shapes["blk.2.attn_q.weight.lora_a"] == [32, 2] and shapes["blk.2.attn_q.weight.lora_b"] == [2, 32]
    assert shapes["blk.1.ffn_down.weight.lora_a"] == [64, 2] and shapes["blk.1.ffn_down.weight.lora_b"] == [2, 32]
    assert shapes["blk.1.attn_k.weight.lora_b"] == [2, 16]
    assert "blk.0.attn_q.weight.lora_a" not in shapes
    assert not out.with_suffix(".gguf.tmp").exists()


def test_unsupported_architectures_are_refused() -> None:
    from hanlin.errors import BadRequest

    export.check_supported("qwen2")
    with pytest.raises(BadRequest, match="llama"):
        export.check_supported("llama")
