"""How many tokens a text takes. For quota admission, the engine's own count of the templated prompt when it can
tokenize (llama.cpp), else a safe upper bound — a byte-level BPE token covers at least one UTF-8 byte, and the chat
template adds role markers and at most a short default system prompt. For reporting usage nobody counted (a stream
cut short, the fake engine), :func:`estimate_tokens`: the one estimate."""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger(__name__)

MESSAGE_OVERHEAD = 8   # <|im_start|>role\n … <|im_end|>\n and the like, per message
TEMPLATE_OVERHEAD = 64  # a template's default system prompt and the assistant header


def estimate_tokens(text: str) -> int:
    """About how many tokens ``text`` is for Qwen's tokenizer on mixed Chinese/Latin text (⅔ of its characters),
    at least 1. An estimate for reporting, never for admission (see :func:`upper_bound`)."""
    return max(1, len(text) * 2 // 3)


def upper_bound(body: dict[str, Any]) -> int:
    """At least the prompt's token count for any byte-level tokenizer: UTF-8 bytes plus template overhead."""
    n = TEMPLATE_OVERHEAD
    for m in body.get("messages") or []:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        n += len(text.encode("utf-8", "surrogatepass")) + len(str(m.get("role") or "")) + MESSAGE_OVERHEAD
        if m.get("tool_calls"):
            n += len(json.dumps(m["tool_calls"], ensure_ascii=False).encode("utf-8", "surrogatepass"))
    return n


async def prompt_tokens(engine: Any, body: dict[str, Any]) -> tuple[int, bool]:
    """(tokens, exact): the engine's count when it has ``count_prompt_tokens``, else :func:`upper_bound`."""
    count = getattr(engine, "count_prompt_tokens", None)
    if count is not None:
        try:
            n = await count(body)
            if isinstance(n, int) and n > 0:
                return n, True
        except Exception as e:  # a tokenizer failure must not fail the request: fall back to the bound
            log.warning("could not tokenize the prompt with %s: %s", getattr(engine.info, "name", "?"), e)
    return upper_bound(body), False
