"""LoRA training on CPU: the base weights come from the model's own GGUF (dequantised by transformers).

The loop is deliberately plain (no ``Trainer``): batches of padded chat examples, loss only on the final
assistant reply, logits computed only at those positions (the 152k-token LM head dominates otherwise),
AdamW with linear decay, a checkpoint every ``checkpoint_every`` steps so a restarted server resumes where it
stopped, and validation loss at the end of every epoch.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hanlin.tuning.data import Dataset

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
Report = Callable[[dict[str, Any]], None]


@dataclass
class TuneConfig:
    base_gguf: str
    out_dir: str
    epochs: int = 2
    rank: int = 8
    alpha: float = 16.0
    lr: float = 3e-4
    batch_size: int = 4
    max_len: int = 512
    threads: int = 2
    seed: int = 0
    checkpoint_every: int = 10
    max_steps: int = 0  # 0 = epochs * ceil(n / batch_size); set for smoke runs
    layers: int = 8  # adapt only the top N blocks (0 = all): backprop stops below them, ~2x faster on CPU
    target_modules: tuple[str, ...] = field(default=TARGET_MODULES)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d


@dataclass
class Encoded:
    ids: list[int]
    n_prompt: int  # tokens before the reply: their positions carry no loss


def encode(tokenizer: Any, messages: list[dict[str, str]], max_len: int) -> Encoded | None:
    """Token ids of the chat with the model's own template; None when the reply does not fit."""
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):  # templates that rewrite earlier turns: fall back to concatenation
        full = prompt + messages[-1]["content"] + (tokenizer.eos_token or "")
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    ids = ids[:max_len]
    if len(ids) <= len(p_ids):
        return None
    return Encoded(ids, len(p_ids))


def load_base(base_gguf: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    p = Path(base_gguf)
    tokenizer = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
    model = AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name, dtype=torch.float32)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def batch_loss(model: Any, batch: list[Encoded], pad_id: int) -> tuple[Any, int]:
    """Mean cross-entropy over reply tokens of ``batch``; returns (loss tensor, number of target tokens)."""
    import torch
    import torch.nn.functional as F

    width = max(len(e.ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    target = torch.zeros((len(batch), width), dtype=torch.bool)
    for i, e in enumerate(batch):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        mask[i, : len(e.ids)] = 1
        target[i, e.n_prompt - 1 : len(e.ids) - 1] = True  # position t predicts token t+1
    base = model.get_base_model()
    hidden = base.model(input_ids=ids, attention_mask=mask).last_hidden_state
    labels = torch.roll(ids, shifts=-1, dims=1)[target]
    logits = base.lm_head(hidden[target])
    return F.cross_entropy(logits.float(), labels), int(labels.numel())


def evaluate(model: Any, examples: list[Encoded], pad_id: int, batch_size: int) -> float:
    import torch

    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            loss, n = batch_loss(model, examples[i : i + batch_size], pad_id)
            total += float(loss) * n
            count += n
    model.train()
    return total / max(1, count)


def order_for_epoch(n: int, epoch: int, seed: int) -> list[int]:
    order = list(range(n))
    random.Random(seed * 1000 + epoch).shuffle(order)
    return order


class Trainer:
    """One training run; ``run()`` resumes from ``out_dir/checkpoint.pt`` when it exists."""

    def __init__(self, cfg: TuneConfig, train: Dataset, val: Dataset | None, report: Report) -> None:
        self.cfg, self.train_ds, self.val_ds, self.report = cfg, train, val, report
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.ckpt = self.out / "checkpoint.pt"

    def _setup(self) -> None:
        import torch
        from peft import LoraConfig, get_peft_model

        torch.set_num_threads(max(1, self.cfg.threads))
        torch.manual_seed(self.cfg.seed)
        self.report({"type": "stage", "message": "loading base model from GGUF"})
        t0 = time.time()
        self.tokenizer, base = load_base(self.cfg.base_gguf)
        n_layers = int(base.config.num_hidden_layers)
        top = range(max(0, n_layers - self.cfg.layers), n_layers) if self.cfg.layers else range(n_layers)
        lcfg = LoraConfig(r=self.cfg.rank, lora_alpha=int(self.cfg.alpha), lora_dropout=0.0,
                          target_modules=list(self.cfg.target_modules), task_type="CAUSAL_LM",
                          layers_to_transform=list(top), layers_pattern="layers")
        self.model = get_peft_model(base, lcfg)
        self.model.train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.train_ex = self._encode(self.train_ds)
        self.val_ex = self._encode(self.val_ds) if self.val_ds else []
        steps_per_epoch = math.ceil(len(self.train_ex) / self.cfg.batch_size)
        self.total_steps = self.cfg.max_steps or self.cfg.epochs * steps_per_epoch
        self.steps_per_epoch = steps_per_epoch
        self.opt = torch.optim.AdamW(self.params, lr=self.cfg.lr, weight_decay=0.0)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: min(1.0, (s + 1) / 5) * max(0.0, 1 - s / max(1, self.total_steps)))
        n_train = sum(p.numel() for p in self.params)
        self.report({"type": "stage", "message": "base model loaded", "load_s": round(time.time() - t0, 1),
                     "trainable_params": n_train, "train_examples": len(self.train_ex),
                     "val_examples": len(self.val_ex), "total_steps": self.total_steps})

    def _encode(self, ds: Dataset) -> list[Encoded]:
        out = [encode(self.tokenizer, m, self.cfg.max_len) for m in ds.examples]
        return [e for e in out if e is not None]

    def _save(self, state: dict[str, Any]) -> None:
        import torch

        tmp = self.ckpt.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.ckpt)

    def _resume(self) -> dict[str, Any]:
        import torch
        from peft import set_peft_model_state_dict

        state: dict[str, Any] = {"step": 0, "history": [], "val": [], "tokens": 0}
        if self.ckpt.exists():
            saved = torch.load(self.ckpt, weights_only=False)
            set_peft_model_state_dict(self.model, saved["lora"])
            self.opt.load_state_dict(saved["opt"])
            self.sched.load_state_dict(saved["sched"])
            state = {k: saved.get(k, 0) for k in ("step", "history", "val", "tokens")}
            self.report({"type": "resumed", "message": f"resumed from step {state['step']}",
                         "step": state["step"]})
        return state

    def _checkpoint(self, state: dict[str, Any]) -> None:
        from peft import get_peft_model_state_dict

        self._save({**state, "lora": get_peft_model_state_dict(self.model), "opt": self.opt.state_dict(),
                    "sched": self.sched.state_dict(), "config": self.cfg.to_dict()})

    def _batch(self, step: int) -> list[Encoded]:
        epoch, k = divmod(step, self.steps_per_epoch)
        order = order_for_epoch(len(self.train_ex), epoch, self.cfg.seed)
        idx = order[k * self.cfg.batch_size : (k + 1) * self.cfg.batch_size]
        return [self.train_ex[i] for i in idx]

    def run(self) -> dict[str, Any]:
        """Train to the end; returns losses, timings and the LoRA state dict under ``"lora"``."""
        import torch
        from peft import get_peft_model_state_dict

        self._setup()
        state = self._resume()
        start_step, t0 = state["step"], time.time()
        pad = int(self.tokenizer.pad_token_id)
        if not state["val"] and self.val_ex:
            state["val"].append({"step": 0, "val_loss": round(evaluate(self.model, self.val_ex, pad, 8), 4)})
            self.report({"type": "val", "message": "validation loss before training", **state["val"][-1]})
        for step in range(start_step, self.total_steps):
            batch = self._batch(step)
            loss, _ = batch_loss(self.model, batch, pad)
            state["tokens"] += sum(len(e.ids) for e in batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, 1.0)
            self.opt.step()
            self.sched.step()
            self.opt.zero_grad(set_to_none=True)
            done = step + 1
            per_step = (time.time() - t0) / (done - start_step)
            entry = {"step": done, "loss": round(float(loss.detach()), 4), "lr": self.sched.get_last_lr()[0]}
            state["history"].append(entry)
            state["step"] = done
            end_of_epoch = done % self.steps_per_epoch == 0 or done == self.total_steps
            if self.val_ex and end_of_epoch:
                state["val"].append({"step": done, "val_loss": round(evaluate(self.model, self.val_ex, pad, 8), 4)})
                self.report({"type": "val", "message": f"validation loss at step {done}", **state["val"][-1]})
            if done % self.cfg.checkpoint_every == 0 or end_of_epoch:
                self._checkpoint(state)
            self.report({"type": "step", **entry, "total_steps": self.total_steps,
                         "epoch": (done - 1) // self.steps_per_epoch + 1, "s_per_step": round(per_step, 2),
                         "eta_s": round(per_step * (self.total_steps - done), 1)})
        train_s = time.time() - t0
        return {"lora": get_peft_model_state_dict(self.model), "history": state["history"], "val": state["val"],
                "steps": self.total_steps, "resumed_from_step": start_step, "trained_tokens": state["tokens"],
                "train_s": round(train_s, 1),
                "s_per_step": round(train_s / max(1, self.total_steps - start_step), 2)}
