"""Training data in OpenAI chat format (one ``{"messages": [...]}`` object per line), validated up front.

Every bad line is reported with its 1-based line number before any training starts, so a user fixes the whole
file in one pass instead of discovering problems one failed job at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hanlin.errors import UnprocessableInput

ROLES = ("system", "user", "assistant")
MAX_REPORTED = 50


@dataclass
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class Dataset:
    path: str
    examples: list[list[dict[str, str]]] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.examples)


def check_messages(obj: Any) -> str | None:
    """Why one parsed line is not a usable chat example, or None when it is."""
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        return 'missing "messages" (a non-empty list of {"role", "content"} objects)'
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return f"messages[{i}] is not an object"
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            return f"messages[{i}].role is {role!r}; use one of {', '.join(ROLES)}"
        if not isinstance(content, str) or not content.strip():
            return f"messages[{i}].content must be a non-empty string"
        extra = set(m) - {"role", "content", "name", "weight"}
        if extra:
            return f"messages[{i}] has unsupported keys {sorted(extra)} (tool calls are not supported yet)"
    if messages[-1]["role"] != "assistant":
        return "the last message must be the assistant's reply (that is what the model learns)"
    if not any(m["role"] == "user" for m in messages):
        return "no user message"
    return None


def parse_text(text: str, path: str = "<data>") -> Dataset:
    ds = Dataset(path)
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            ds.errors.append(LineError(n, f"not valid JSON ({e.msg} at column {e.colno})"))
            continue
        why = check_messages(obj)
        if why:
            ds.errors.append(LineError(n, why))
        else:
            ds.examples.append([{"role": m["role"], "content": m["content"]} for m in obj["messages"]])
    return ds


def load(path: str | Path) -> Dataset:
    p = Path(path)
    if not p.is_file():
        raise UnprocessableInput(f"No training file at {p}", param="training_file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UnprocessableInput(f"{p} is not UTF-8 text ({e})", param="training_file") from e
    return parse_text(text, str(p))


def validate(path: str | Path, *, param: str = "training_file", min_examples: int = 1,
             label: str | None = None) -> Dataset:
    """Load and check a JSONL file; raise one 422 listing every bad line (up to 50) with its number.

    ``label`` names the file in messages (the user's name for it, not a staging copy)."""
    ds = load(path)
    ds.path = label or ds.path
    if ds.errors:
        shown = ds.errors[:MAX_REPORTED]
        more = f" (and {len(ds.errors) - len(shown)} more)" if len(ds.errors) > len(shown) else ""
        lines = "; ".join(str(e) for e in shown)
        raise UnprocessableInput(
            f"{ds.path}: {len(ds.errors)} bad line(s){more}: {lines}", param=param, code="invalid_training_data",
            extra={"errors": [{"line": e.line, "message": e.message} for e in shown]})
    if len(ds.examples) < min_examples:
        raise UnprocessableInput(f"{ds.path} has {len(ds.examples)} examples; at least {min_examples} needed",
                                 param=param, code="invalid_training_data")
    return ds
