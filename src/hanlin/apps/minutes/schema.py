"""JSON schemas the model must follow (grammar-enforced), built per chunk with enums of real speakers/lines.

Enums keep a small model honest: a view's speaker can only be a real speaker of the chunk and a cited line only
an index printed in the prompt. Code still verifies everything (see verify.py): that a line exists does not
mean it supports the item.
"""

from __future__ import annotations

from typing import Any

MAX_LINES_PER_ITEM = 3


def _lines(line_ids: list[int]) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "integer", "enum": line_ids}, "minItems": 1,
            "maxItems": MAX_LINES_PER_ITEM}


def _text(max_len: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 2, "maxLength": max_len}


def chapter_schema(speakers: list[str], line_ids: list[int], *, max_views: int = 4, max_items: int = 4,
                   summary_len: int = 120) -> dict[str, Any]:
    """One chapter: title, summary, views per speaker, decisions, action items — all with cited lines."""
    return {
        "type": "object",
        "properties": {
            "title": _text(20),
            "summary": _text(summary_len),
            "views": {"type": "array", "maxItems": max_views, "items": {
                "type": "object",
                "properties": {"speaker": {"type": "string", "enum": speakers}, "text": _text(50),
                               "lines": _lines(line_ids)},
                "required": ["speaker", "text", "lines"]}},
            "decisions": {"type": "array", "maxItems": max_items, "items": {
                "type": "object", "properties": {"text": _text(60), "lines": _lines(line_ids)},
                "required": ["text", "lines"]}},
            "action_items": {"type": "array", "maxItems": max_items, "items": {
                "type": "object",
                "properties": {"owner": _text(20), "task": _text(60), "due": {"type": "string", "maxLength": 20},
                               "lines": _lines(line_ids)},
                "required": ["owner", "task", "due", "lines"]}},
        },
        "required": ["title", "summary", "views", "decisions", "action_items"],
    }


def digest_schema(speakers: list[str], line_ids: list[int], *, max_views: int = 3,
                  summary_len: int = 80, view_text: bool = False) -> dict[str, Any]:
    """A condensed chapter (long meetings): only what code cannot write — title, summary and which line carries
    each main speaker's point (``views``: speaker and line; code words the view, views.py). Decisions and action
    items come from code, which reads every line; asking the model for them too cost half the output tokens and, on
    a digest, mostly repeated what code had found (or failed verification). The model's own wording of a view was
    a copy of the line every time in bench/minutes_long.py (0 of 16 passed), so by default it is not asked for
    (``view_text`` asks for it, at most 30 characters)."""
    full = chapter_schema(speakers, line_ids, max_views=max_views, summary_len=summary_len)
    props = {k: full["properties"][k] for k in ("title", "summary", "views")}
    item = props["views"]["items"]
    if view_text:
        item["properties"]["text"] = _text(30)
    else:
        item["properties"] = {"speaker": item["properties"]["speaker"],
                               "lines": {**item["properties"]["lines"], "maxItems": 1}}
        item["required"] = ["speaker", "lines"]
    return {"type": "object", "properties": props, "required": list(props)}


def repair_schema(speakers: list[str], line_ids: list[int]) -> dict[str, Any]:
    """The repair turn returns only the corrected items, same shapes as in a chapter."""
    full = chapter_schema(speakers, line_ids)
    props = {k: full["properties"][k] for k in ("views", "decisions", "action_items")}
    return {"type": "object", "properties": props, "required": list(props)}


def overview_schema(summary_len: int = 300) -> dict[str, Any]:
    return {"type": "object", "properties": {"title": _text(30), "summary": _text(summary_len)},
            "required": ["title", "summary"]}

