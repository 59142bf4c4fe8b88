"""Write a trained peft LoRA as a llama.cpp LoRA adapter GGUF.

The layout follows llama.cpp's ``convert_lora_to_gguf.py``: ``general.type = "adapter"``,
``adapter.type = "lora"``, ``adapter.lora.alpha``, the base model's ``general.architecture``, and for each
adapted weight two tensors ``<gguf base name>.lora_a`` (shape rank x in, as PyTorch stores lora_A) and
``<gguf base name>.lora_b`` (out x rank). llama.cpp scales the update by alpha / rank, as peft does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hanlin.errors import BadRequest

# Architectures whose GGUF weights keep the Hugging Face layout (llama-family q/k are permuted by the GGUF
# converter, so an adapter trained on the dequantised HF weights would need the inverse permutation).
SUPPORTED_ARCHS = ("qwen2", "qwen3", "qwen2moe", "gemma", "gemma2", "phi3", "stablelm")
_PEFT_RE = re.compile(r"^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[\w-]+)?\.weight$")


def read_architecture(base_gguf: str | Path) -> tuple[str, int]:
    """``(general.architecture, block_count)`` of a base GGUF."""
    import gguf

    reader = gguf.GGUFReader(str(base_gguf))
    arch_field = reader.fields["general.architecture"]
    arch = bytes(arch_field.parts[arch_field.data[0]]).decode()
    blocks_field = reader.fields[f"{arch}.block_count"]
    return arch, int(blocks_field.parts[blocks_field.data[0]][0])


def check_supported(arch: str) -> None:
    if arch not in SUPPORTED_ARCHS:
        raise BadRequest(f"Fine-tuning a '{arch}' model is not supported yet; supported architectures: "
                         f"{', '.join(SUPPORTED_ARCHS)}", param="model")


def lora_pairs(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Group a peft state dict into ``{hf_weight_name: {"A": tensor, "B": tensor}}``."""
    pairs: dict[str, dict[str, Any]] = {}
    for key, tensor in state.items():
        m = _PEFT_RE.match(key)
        if not m:
            continue
        pairs.setdefault(m.group(1) + ".weight", {})[m.group(2)] = tensor
    incomplete = [k for k, v in pairs.items() if set(v) != {"A", "B"}]
    if incomplete:
        raise ValueError(f"LoRA weights without their A/B partner: {incomplete[:3]}")
    return pairs


def write_adapter_gguf(state: dict[str, Any], out: str | Path, *, arch: str, n_blocks: int, alpha: float,
                       name: str = "") -> int:
    """Write ``state`` (peft LoRA weights) to ``out``; returns the number of adapted weights."""
    import gguf
    import numpy as np

    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.upper()], n_blocks)
    out = Path(out)
    tmp = out.with_suffix(out.suffix + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    if name:
        writer.add_name(name)
    pairs = lora_pairs(state)
    for hf_name, ab in sorted(pairs.items()):
        gguf_name = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ValueError(f"no GGUF tensor name for {hf_name} in architecture {arch}")
        for part, suffix in (("A", ".lora_a"), ("B", ".lora_b")):
            arr = ab[part].detach().float().cpu().numpy().astype(np.float32)
            writer.add_tensor(gguf_name + suffix, arr)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return len(pairs)
