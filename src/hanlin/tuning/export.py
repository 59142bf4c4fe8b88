"""Write a trained peft LoRA as a llama.cpp LoRA adapter GGUF.

The layout follows llama.cpp's ``convert_lora_to_gguf.py``: ``general.type = "adapter"``,
``adapter.type = "lora"``, ``adapter.lora.alpha``, the base model's ``general.architecture``, and for each
adapted weight two tensors ``<gguf base name>.lora_a`` (shape rank x in, as PyTorch stores lora_A) and
``<gguf base name>.lora_b`` (out x rank). llama.cpp scales the update by alpha / rank, as peft does.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

from hanlin.errors import BadRequest

# Architectures whose GGUF weights keep the Hugging Face layout (llama-family q/k are permuted by the GGUF
# converter, so an adapter trained on the dequantised HF weights would need the inverse permutation).
SUPPORTED_ARCHS = ("qwen2", "qwen3", "qwen2moe", "gemma", "gemma2", "phi3", "stablelm")
_PEFT_RE = re.compile(r"^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[\w-]+)?\.weight$")


_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def _read_value(f: Any, vtype: int) -> Any:
    if vtype == 8:  # string
        (n,) = struct.unpack("<Q", f.read(8))
        return f.read(n).decode("utf-8", "replace")
    if vtype == 9:  # array: element type, count, elements
        etype, count = struct.unpack("<IQ", f.read(12))
        return [_read_value(f, etype) for _ in range(count)]
    fmt = _SCALAR[vtype]
    return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def read_architecture(base_gguf: str | Path) -> tuple[str, int]:
    """``(general.architecture, block_count)`` of a base GGUF, read from the header's first key/values.

    (``gguf.GGUFReader`` maps every tensor and the whole vocabulary first: minutes on a busy machine.)
    """
    with open(base_gguf, "rb") as f:
        if f.read(4) != b"GGUF":
            raise BadRequest(f"{base_gguf} is not a GGUF file", param="model")
        _version, _n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))
        arch, blocks = "", -1
        for _ in range(n_kv):
            (klen,) = struct.unpack("<Q", f.read(8))
            key = f.read(klen).decode("utf-8", "replace")
            (vtype,) = struct.unpack("<I", f.read(4))
            value = _read_value(f, vtype)
            if key == "general.architecture":
                arch = str(value)
            elif arch and key == f"{arch}.block_count":
                blocks = int(value)
            if arch and blocks >= 0:
                return arch, blocks
    raise BadRequest(f"{base_gguf} has no general.architecture/block_count metadata", param="model")


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


def adapter_from_checkpoint(checkpoint: str | Path, base_gguf: str | Path, out: str | Path) -> dict[str, Any]:
    """Export the LoRA saved in a training checkpoint (e.g. of a run that was stopped early)."""
    import torch

    saved = torch.load(str(checkpoint), weights_only=False)
    arch, n_blocks = read_architecture(base_gguf)
    alpha = float(saved["config"]["alpha"])
    n = write_adapter_gguf(saved["lora"], out, arch=arch, n_blocks=n_blocks, alpha=alpha)
    return {"step": saved["step"], "adapted_weights": n, "history": saved["history"], "val": saved["val"]}
